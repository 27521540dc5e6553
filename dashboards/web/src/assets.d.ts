// Data files are bundled as files (esbuild's file loader): importing one gives its URL.
declare module '*.json' {
  const url: string;
  export default url;
}
declare module '*.css';
/** URL of the position worker's bundle (dashboards/web/build.ts builds it first and defines this). */
declare const __POSITION_WORKER_URL__: string;
