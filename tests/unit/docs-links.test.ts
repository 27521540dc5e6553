// The docs the repository owns hold together: every relative link and #anchor of the README and docs/ leads
// somewhere in the repository, the reference pages name everything the code defines, and no file of the code cites
// a document that a clone of this repository does not contain.
import t from 'tap';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SIGNAL_PATHS } from '../../services/contract/signals.ts';
import { REJECT_REASONS } from '../../services/contract/telemetry.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOCS = ['README.md', 'bench/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
/** Spelled in pieces so that this file does not cite them itself. */
const OUTSIDE_DOCUMENTS = ['ARCHITECTURE', 'DEVELOPERS'].map((name) => `${name}.md`);
const CODE_FOLDERS = ['services', 'simulators', 'bench', 'dashboards', 'tests'];
const TEXT_FILES = new Set(['.ts', '.tsx', '.mts', '.mjs', '.js', '.json', '.md', '.yaml', '.yml', '.sh', '.html', '.css', '.sql', '.conf']);

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** The text of a markdown file with fenced code blocks and inline code spans blanked, lines kept. */
function withoutCode(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`[^`]*`/g, '``');
  });
}

/** The anchor GitHub gives a heading: its text lower-cased, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/[`*]/g, '');
  return text.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** Every heading anchor of a markdown file, repeated headings numbered as GitHub does (`-1`, `-2`). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

/** Every link target of a markdown file (outside code), with its line number. */
function links(markdown: string): Array<{ line: number; target: string }> {
  const out: Array<{ line: number; target: string }> = [];
  withoutCode(markdown).forEach((text, i) => {
    for (const match of text.matchAll(/!?\[(?:[^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ line: i + 1, target: match[1]! });
  });
  return out;
}

/** Why a link of `file` leads nowhere, or undefined when it resolves (web links are not followed: no network). */
function brokenLink(file: string, target: string, readDoc: (path: string) => string = read): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined;
  const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
  const path = pathPart === '' ? file : relative(ROOT, resolve(ROOT, dirname(file), decodeURIComponent(pathPart)));
  if (path.startsWith('..') || path.startsWith(sep)) return 'leaves the repository';
  if (!existsSync(join(ROOT, path))) return `no file ${path}`;
  if (anchor === undefined || anchor === '') return undefined;
  if (statSync(join(ROOT, path)).isDirectory() || extname(path) !== '.md') return `an anchor into ${path}, which is not a markdown file`;
  return anchors(readDoc(path)).has(anchor) ? undefined : `no heading #${anchor} in ${path}`;
}

function* filesUnder(folder: string): Generator<string> {
  for (const entry of readdirSync(join(ROOT, folder), { withFileTypes: true })) {
    const path = `${folder}/${entry.name}`;
    if (entry.name === 'node_modules' || path === 'tests/artifacts') continue;
    if (entry.isDirectory()) yield* filesUnder(path);
    else if (TEXT_FILES.has(extname(entry.name))) yield path;
  }
}

t.test('anchors are the ones GitHub makes of headings', async (t) => {
  t.equal(slug('Registry, tenants and tokens: the metadata database'), 'registry-tenants-and-tokens-the-metadata-database');
  t.equal(slug('In InfluxDB (public schema, e.g. for Grafana)'), 'in-influxdb-public-schema-eg-for-grafana');
  t.equal(slug('The API surface: OpenAPI document, lint, typed client'), 'the-api-surface-openapi-document-lint-typed-client');
  t.equal(slug('`cockpit_series` (retention policy `rollup_rp`)'), 'cockpit_series-retention-policy-rollup_rp');
  t.equal(slug('Cockpit ÷ telemetry, *fast*'), 'cockpit--telemetry-fast');
  t.same([...anchors('# A\n## A\n```\n# not a heading\n```\n### B\n')], ['a', 'a-1', 'b']);
});

t.test('links are read outside code, and a broken one says why', async (t) => {
  const doc = '[one](a.md#x) and `[not](a link)`\n```\n[nor](this.md)\n```\n![pic](img.png "title") [web](https://example.org)';
  t.same(links(doc), [
    { line: 1, target: 'a.md#x' },
    { line: 5, target: 'img.png' },
    { line: 5, target: 'https://example.org' },
  ]);
  t.equal(brokenLink('docs/api.md', 'https://example.org'), undefined, 'web links are not followed');
  t.equal(brokenLink('docs/api.md', 'nowhere.md'), 'no file docs/nowhere.md');
  t.equal(brokenLink('docs/api.md', '../../outside.md'), 'leaves the repository');
  t.equal(brokenLink('docs/api.md', '#no-such-heading'), 'no heading #no-such-heading in docs/api.md');
  t.equal(brokenLink('README.md', 'package.json#scripts'), 'an anchor into package.json, which is not a markdown file');
  const page = (path: string): string => (path === 'docs/api.md' ? '# A\n## B' : '');
  t.equal(brokenLink('README.md', 'docs/api.md#b', page), undefined, 'an anchor of the linked page');
  t.equal(brokenLink('README.md', 'docs/api.md#c', page), 'no heading #c in docs/api.md');
});

t.test('every relative link and anchor of the README and docs/ resolves', async (t) => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of DOCS) {
    for (const { line, target } of links(read(file))) {
      checked++;
      const why = brokenLink(file, target);
      if (why) broken.push(`${file}:${line}: ${target}: ${why}`);
    }
  }
  t.ok(checked > 100, `${checked} links checked`);
  t.same(broken, []);
});

t.test('the README stays the short manual: at most 254 lines, with the quick start and the code picture', async (t) => {
  const readme = read('README.md');
  t.ok(readme.split('\n').length <= 254, `${readme.split('\n').length} lines`);
  t.match(readme, 'npm install && npm run demo');
  t.match(readme, 'npm test');
  t.match(readme, '![The web cockpit\'s fleet overview](dashboards/web/cockpit.png)');
  t.ok(anchors(readme).has('the-code'));
});

t.test('the reference pages name everything the code defines', async (t) => {
  const variables = new Set(read('services/config.ts').match(/'VC_[A-Z_]+'/g)?.map((quoted) => quoted.slice(1, -1)));
  t.ok(variables.size > 30, `${variables.size} variables in services/config.ts`);
  const operations = read('docs/operations.md');
  t.same([...variables].filter((name) => !operations.includes(`\`${name}\``)), [], 'every VC_* variable in docs/operations.md');
  const contract = read('docs/contract.md');
  t.same(REJECT_REASONS.filter((reason) => !contract.includes(`\`${reason}\``)), [], 'every reject reason in docs/contract.md');
  t.same(SIGNAL_PATHS.filter((path) => !contract.includes(`\`${path}\``)), [], 'every catalog signal in docs/contract.md');
  const document = JSON.parse(read('services/api/client/openapi.json')) as { paths: Record<string, Record<string, { operationId?: string }>> };
  const operationIds = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((operation) => operation.operationId));
  const api = read('docs/api.md');
  t.same(operationIds.filter((id) => !id || !api.includes(`\`${id}\``)), [], 'every operation of the OpenAPI document in docs/api.md');
});

t.test('no file of the code cites a document outside the repository', async (t) => {
  const citing: string[] = [];
  for (const folder of CODE_FOLDERS) {
    for (const file of filesUnder(folder)) {
      const text = read(file);
      for (const name of OUTSIDE_DOCUMENTS) if (text.includes(name)) citing.push(`${file}: ${name}`);
    }
  }
  t.same(citing, []);
});
