// Bundles the web cockpit (dashboards/web/src) with esbuild into memory: hashed, code-split ES modules (the
// map, with Leaflet and the basemap, and the charts load only where a view needs them), one stylesheet, and
// index.html pointing at them. The service builds it once per process, on the first request for the page:
// nothing to run after `npm install`, nothing stale after an edit, and the same in the Docker image, which
// installs only production dependencies (esbuild is one of them for this reason).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type BuildOptions } from 'esbuild';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const OUT = `${HERE}assets`;

export interface WebAsset {
  /** URL path, e.g. /assets/main-3F2A.js or / */
  path: string;
  contentType: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
  /** hashed file names never change content */
  immutable: boolean;
}

export interface WebBundle {
  assets: Map<string, WebAsset>;
  /** JS files index.html loads before the first view renders (its imports, transitively) */
  entryScripts: string[];
  buildMs: number;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

const asset = (path: string, body: Buffer, immutable: boolean): WebAsset => ({
  path,
  contentType: TYPES[path.slice(path.lastIndexOf('.'))] ?? 'text/html; charset=utf-8',
  body,
  gzip: gzipSync(body, { level: 9 }),
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
  immutable,
});

export async function buildWebBundle(options: { minify?: boolean } = {}): Promise<WebBundle> {
  const started = performance.now();
  const common = {
    bundle: true,
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    outdir: OUT,
    entryNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    // the URL an imported file (basemap, image) is served at
    publicPath: '/assets',
    write: false,
    metafile: true,
    minify: options.minify ?? true,
    sourcemap: false,
    legalComments: 'eof',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    // data (the basemap's TopoJSON) is fetched by URL when a map needs it, not evaluated as script
    loader: { '.png': 'file', '.svg': 'file', '.json': 'file' },
    logLevel: 'silent',
  } satisfies BuildOptions;
  // the map's position worker is its own file (a worker loads a script by URL): built first, its URL given to the page
  const worker = await build({ ...common, entryPoints: { 'position-worker': `${HERE}src/map/position-worker.ts` } });
  const workerUrl = `/assets/${basename(worker.outputFiles.find((f) => f.path.endsWith('.js'))!.path)}`;
  const result = await build({
    ...common,
    entryPoints: { main: `${HERE}src/main.tsx` },
    splitting: true,
    define: { 'process.env.NODE_ENV': '"production"', __POSITION_WORKER_URL__: JSON.stringify(workerUrl) },
  });
  const assets = new Map<string, WebAsset>();
  for (const file of [...worker.outputFiles, ...result.outputFiles]) {
    const path = `/assets/${relative(OUT, file.path)}`;
    assets.set(path, asset(path, Buffer.from(file.contents), true));
  }
  const [entryOut, entryMeta] = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint !== undefined)!;
  const url = (out: string) => `/assets/${basename(out)}`;
  const entryScripts = [url(entryOut), ...entryMeta.imports.filter((i) => i.kind === 'import-statement').map((i) => url(i.path))];
  const css = entryMeta.cssBundle ? url(entryMeta.cssBundle) : undefined;
  const html = readFileSync(`${HERE}index.html`, 'utf8')
    .replace('<!--styles-->', css ? `<link rel="stylesheet" href="${css}">` : '')
    .replace('<!--scripts-->', entryScripts.map((s, i) => (i === 0 ? `<script type="module" src="${s}"></script>` : `<link rel="modulepreload" href="${s}">`)).join('\n    '));
  assets.set('/', asset('/', Buffer.from(html), false));
  return { assets, entryScripts, buildMs: performance.now() - started };
}

let built: Promise<WebBundle> | undefined;

/** The bundle of this process, built on first use. A failed build is retried on the next call. */
export function webBundle(): Promise<WebBundle> {
  built ??= buildWebBundle().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}
