// The shared tooling (tooling/) that needs no server: admin-token lookup, URL redaction, tables, ports, polling,
// binaries, temp dirs and stopping a child process.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import t from 'tap';
import { redact, redactUrl } from '../../services/observability/redact.ts';
import { adminTokenPath, findAdminToken } from '../../tooling/admin-token.ts';
import { findBinary, freePort, IN_CI, missingServer, tempDir, terminate, waitFor } from '../../tooling/system.ts';
import { markdownTable, textTable } from '../../tooling/table.ts';

t.test('the admin token: the flag, else VC_ADMIN_TOKEN, else the file in the data dir', async (t) => {
  const dir = t.testdir({ data: { 'admin-token': 'file-token-0123456789\n' }, elsewhere: { 'admin-token': '  \n' } });
  t.equal(findAdminToken(undefined, {}, dir), 'file-token-0123456789');
  t.equal(findAdminToken(undefined, { VC_ADMIN_TOKEN: 'env-token' }, dir), 'env-token');
  t.equal(findAdminToken('flag-token', { VC_ADMIN_TOKEN: 'env-token' }, dir), 'flag-token');
  t.equal(findAdminToken(undefined, { VC_DATA_DIR: 'nowhere' }, dir), undefined, 'no file: no token');
  t.equal(findAdminToken(undefined, { VC_DATA_DIR: 'elsewhere' }, dir), undefined, 'a blank file is no token');
  t.equal(findAdminToken(undefined, { VC_ADMIN_TOKEN: '' }, dir), 'file-token-0123456789', 'an empty VC_ADMIN_TOKEN is unset, as the service reads it');
  t.equal(adminTokenPath({}, '/srv'), '/srv/data/admin-token');
  t.equal(adminTokenPath({ VC_DATA_DIR: '/var/lib/vc' }, '/srv'), '/var/lib/vc/admin-token');
});

t.test('URLs lose their credentials: masked in the service\'s logs, dropped in the tools\' messages', async (t) => {
  t.equal(redact('postgres://postgres:s3cret@127.0.0.1:5432/vc'), 'postgres://postgres:***@127.0.0.1:5432/vc');
  t.equal(redact('mqtt://127.0.0.1:1883'), 'mqtt://127.0.0.1:1883', 'nothing to hide');
  t.equal(redact('not a url //user:s3cret@host'), 'not a url //***@host', 'not a URL: the userinfo is masked all the same');
  t.equal(redactUrl('mqtt://ingest:s3cret@127.0.0.1:1883'), 'mqtt://127.0.0.1:1883');
  t.equal(redactUrl('http://admin:pw@127.0.0.1:3000/'), 'http://127.0.0.1:3000', 'no bare trailing slash');
  t.equal(redactUrl('http://127.0.0.1:3000/api/v1?x=1'), 'http://127.0.0.1:3000/api/v1?x=1');
  t.equal(redactUrl('no url at all: s3cret'), '(invalid URL)', 'never echoes what it cannot parse');
});

t.test('markdown tables escape pipes in cells', async (t) => {
  t.same(markdownTable([['a', 'b'], ['1', 'x|y']]), ['| a | b |', '| --- | --- |', '| 1 | x\\|y |']);
  t.same(markdownTable([['only header']]), ['| only header |', '| --- |']);
});

t.test('text tables align columns two spaces apart, without trailing blanks', async (t) => {
  t.same(textTable([['brand', 'model'], ['Voltra', 'E-Cross'], ['K', '']]), ['brand   model', 'Voltra  E-Cross', 'K']);
  t.same(textTable([['a', 'b'], ['long cell here', 'x']], { rule: true, maxWidth: 6 }), ['a       b', '------  -', 'long …  x'], 'a rule under the header, long cells cut');
  t.same(textTable([['k', 'v'], ['only k']]), ['k       v', 'only k'], 'a short row leaves its missing cells blank');
  t.same(textTable([]), []);
});

t.test('freePort answers a loopback port nobody listens on', async (t) => {
  const port = await freePort();
  t.ok(port > 0 && port < 65_536);
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

t.test('waitFor returns the first defined answer, and names what it waited for on time-out', async (t) => {
  let calls = 0;
  t.equal(await waitFor('the third call', async () => (++calls >= 3 ? 'ready' : undefined), 5_000, 1), 'ready');
  await t.rejects(
    waitFor('a thing that fails', async () => {
      throw new Error('still down');
    }, 30, 5),
    /timed out after 30 ms waiting for a thing that fails: Error: still down/,
  );
});

t.test('temp dirs are made and removed; binaries are found by path or on PATH', async (t) => {
  const dir = await tempDir('tooling-test');
  t.ok(existsSync(dir.path) && dir.path.includes('vc-tooling-test-'));
  await dir.remove();
  t.notOk(existsSync(dir.path));
  t.equal(findBinary([process.execPath]), process.execPath);
  t.equal(findBinary(['/nonexistent/binary', process.execPath]), process.execPath, 'the first candidate that exists');
  t.match(findBinary(['sh']), /\/sh$/, 'a bare name is looked up on PATH');
  t.equal(findBinary(['no-such-binary-here']), undefined);
  t.equal(missingServer('node', process.execPath), undefined);
  if (IN_CI) t.throws(() => missingServer('nothing', undefined), /nothing not installed .* required in CI/);
  else t.equal(missingServer('nothing', undefined), 'nothing not installed (apt-get install nothing)');
});

t.test('terminate: SIGTERM, then SIGKILL for a process that ignores it', async (t) => {
  const polite = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise((resolve) => polite.once('spawn', resolve));
  await terminate(polite, 5_000);
  t.equal(polite.signalCode, 'SIGTERM');
  const stubborn = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => stubborn.stdout.once('data', resolve));
  await terminate(stubborn, 200);
  t.equal(stubborn.signalCode, 'SIGKILL');
  await terminate(stubborn, 200);
  t.pass('a process already gone is left alone');
  const crashed = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => crashed.once('exit', resolve));
  await terminate(crashed, 0);
  t.equal(crashed.exitCode, 0);
});
