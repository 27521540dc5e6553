// ESM load hook for tests/loader/register.mjs: TypeScript -> JavaScript with esbuild, line structure kept.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

const TS = /\.(?:ts|mts)$/;

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !TS.test(url) || url.includes('/node_modules/')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const source = await readFile(path, 'utf8');
  const { code } = await transform(source, {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: path,
    sourcesContent: false,
  });
  return { format: 'module', source: code, shortCircuit: true };
}
