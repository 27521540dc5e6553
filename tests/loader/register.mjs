// Test-only TypeScript loader: esbuild transforms each .ts file without minifying, with an inline source map,
// so V8 coverage maps back to real lines. (tsx squeezes a module onto a few lines, which makes c8/tap report
// 100% for code that never ran: privatenumber/tsx#433, #558.) The service itself runs with tsx.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
