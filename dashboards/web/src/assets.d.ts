// Bundled data files (esbuild's json loader); declared here so that the type checker need not read 750 KB of TopoJSON.
declare module 'world-atlas/countries-50m.json' {
  const topology: unknown;
  export default topology;
}
declare module '*.css';
