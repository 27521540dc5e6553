// Which way imports go between the top-level folders (relative imports: `import`, `export ... from`, `import()`, and
// modules started through `new URL('x.ts', import.meta.url)`):
//   services/    the product: only services/ and dashboards/ (it bundles and serves the web cockpit). Its image
//                (npm ci --omit=dev) runs it without tools, simulators or their devDependencies.
//   dashboards/  services/ (contract and API types) and simulators/ (the web map draws the simulated cities).
//   simulators/  services/ (contract, API client, redaction) and tooling/ (admin-token lookup, tables).
//   tooling/     services/ only, so that simulators/ can use it without a cycle; tooling/demo.ts, a program nothing
//                else imports, may also import simulators/ and dashboards/.
//   bench/       everything but tests/.
//   tests/       everything; nothing outside tests/ imports tests/.
// A new top-level folder with code needs a rule here before it passes.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import t from 'tap';
import { ROOT } from '../../tooling/system.ts';

const ALLOWED: Record<string, readonly string[]> = {
  services: ['services', 'dashboards'],
  dashboards: ['dashboards', 'services', 'simulators'],
  simulators: ['simulators', 'services', 'tooling'],
  tooling: ['tooling', 'services'],
  bench: ['bench', 'services', 'simulators', 'tooling', 'dashboards'],
  tests: ['tests', 'services', 'simulators', 'tooling', 'dashboards', 'bench'],
};
/** Files allowed more than their folder, and what more. */
const EXTRA: Record<string, readonly string[]> = {
  'tooling/demo.ts': ['simulators', 'dashboards'],
};

const CODE = /\.(ts|tsx|mts|mjs|cjs|js)$/;
const REFERENCES = [
  /^[ \t]*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm,
  /^[ \t]*import\s*['"]([^'"]+)['"]/gm,
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\bnew URL\(\s*['"]([^'"]+\.(?:ts|tsx|mts|mjs))['"]\s*,\s*import\.meta\.url\s*\)/g,
];

/** Every relative module a source file refers to, as a path from the repository root. */
export function referencesOf(file: string, source: string): string[] {
  const out: string[] = [];
  for (const pattern of REFERENCES) {
    for (const m of source.matchAll(pattern)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) out.push(normalize(join(dirname(file), spec)));
    }
  }
  return out;
}

/** One line per import that breaks a rule, given source files by their path from the repository root. */
export function violations(files: ReadonlyMap<string, string>): string[] {
  const problems: string[] = [];
  for (const [file, source] of files) {
    const folder = file.split('/')[0]!;
    const allowed = ALLOWED[folder];
    if (!allowed) {
      problems.push(`${file}: no import rule for the folder ${folder}/ (add one to tests/unit/import-boundaries.test.ts)`);
      continue;
    }
    for (const target of referencesOf(file, source)) {
      const to = target.split('/')[0]!;
      if (to === '..') problems.push(`${file} imports ${target}, outside the repository`);
      else if (ALLOWED[to] && !allowed.includes(to) && !EXTRA[file]?.includes(to)) problems.push(`${file} imports ${target}: ${folder}/ may import only ${allowed.join('/, ')}/`);
    }
  }
  return problems;
}

function sourceFiles(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules' || entry.name === 'artifacts') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(path, out);
    else if (CODE.test(entry.name) && dir !== ROOT.replace(/\/$/, '')) out.set(relative(ROOT, path), readFileSync(path, 'utf8'));
  }
  return out;
}

t.test('the repository keeps to the import rules', async (t) => {
  const files = sourceFiles(ROOT);
  for (const folder of Object.keys(ALLOWED)) t.ok([...files.keys()].some((f) => f.startsWith(`${folder}/`)), `${folder}/ was scanned`);
  const references = [...files].reduce((n, [file, source]) => n + referencesOf(file, source).length, 0);
  t.ok(references > 500, `its relative imports were read (${references})`);
  t.same(violations(files), []);
});

t.test('each rule catches its violation', async (t) => {
  // built from templates, so that this file's own text names no forbidden module
  const from = (spec: string): string => `import { x } from '${spec}';`;
  const files = new Map([
    ['bench/run.ts', from('../tests/helpers/system.ts')],
    ['services/server.ts', `${from('../tooling/mosquitto.ts')}\nexport {\n  y,\n} from "${'../simulators/units.ts'}";`],
    ['services/api/routes/web.ts', from('../../../dashboards/web/build.ts')],
    ['simulators/fleet/cli.ts', `const b = await import('${'../../bench/program.ts'}');\n${from('../../tooling/table.ts')}`],
    ['tooling/table.ts', from('../simulators/fleet/index.ts')],
    ['tooling/demo.ts', from('../simulators/fleet/index.ts')],
    ['bench/systems.ts', `await forkHelper(new URL('${'../tests/helpers/child.ts'}', import.meta.url));\n${from('p-limit')}\n// ${from('../tests/helpers/in-a-comment.ts')}`],
    ['tests/unit/x.test.ts', from('../../bench/results-table.ts')],
    ['scripts/new.ts', `import '${'./a.ts'}';`],
    ['services/a.ts', `import '${'../../elsewhere/b.ts'}';`],
  ]);
  t.same(violations(files), [
    'bench/run.ts imports tests/helpers/system.ts: bench/ may import only bench/, services/, simulators/, tooling/, dashboards/',
    'services/server.ts imports tooling/mosquitto.ts: services/ may import only services/, dashboards/',
    'services/server.ts imports simulators/units.ts: services/ may import only services/, dashboards/',
    'simulators/fleet/cli.ts imports bench/program.ts: simulators/ may import only simulators/, services/, tooling/',
    'tooling/table.ts imports simulators/fleet/index.ts: tooling/ may import only tooling/, services/',
    'bench/systems.ts imports tests/helpers/child.ts: bench/ may import only bench/, services/, simulators/, tooling/, dashboards/',
    'scripts/new.ts: no import rule for the folder scripts/ (add one to tests/unit/import-boundaries.test.ts)',
    'services/a.ts imports ../elsewhere/b.ts, outside the repository',
  ]);
});
