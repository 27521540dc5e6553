// Bundled data files (esbuild's json loader); declared here so that the type checker need not read 750 KB of TopoJSON.
declare module 'world-atlas/countries-50m.json' {
  const topology: unknown;
  export default topology;
}
declare module '*.css';
/** URL of the position worker's bundle (dashboards/web/build.ts builds it first and defines this). */
declare const __POSITION_WORKER_URL__: string;
