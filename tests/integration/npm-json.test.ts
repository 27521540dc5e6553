// `npm run <cli> -- --json` prints JSON that parses: npm's own banner goes to stderr (.npmrc), and the CLIs print
// nothing else on stdout. Run through the real npm, with none of the npm settings of the npm running the tests.
import { spawn } from 'node:child_process';
import t from 'tap';
import { startLocalService } from '../../tooling/local-service.ts';
import { ROOT } from '../../tooling/system.ts';

/** The environment without the npm_* variables an outer `npm test` sets (they would override .npmrc). */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));

function npmRun(script: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', script, '--', ...args], { cwd: ROOT, env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

t.test('npm run simulate -- --list-models --json is JSON on stdout, npm\'s banner on stderr', async (t) => {
  const run = await npmRun('simulate', ['--list-models', '--json']);
  t.equal(run.status, 0);
  t.ok(Array.isArray(JSON.parse(run.stdout)), 'stdout parses');
  t.match(run.stderr, /> vehicle-cloud@[\d.]+ simulate/, 'the banner went to stderr');
});

t.test('a simulator run and a load test through npm print a JSON summary that parses', async (t) => {
  const service = await startLocalService();
  t.teardown(service.cleanup);
  const target = ['--api', service.apiUrl, '--broker', service.mqttUrl, '--token', service.adminToken.token];
  const fleet = await npmRun('simulate', [...target, '--vehicles', '2', '--rate', '4', '--duration', '1s', '--json']);
  t.equal(fleet.status, 0, fleet.stderr.slice(-500));
  const summary = JSON.parse(fleet.stdout) as { vehicles: number; rate: number; ratePerVehicle: number; samplesAcked: number };
  t.match(summary, { vehicles: 2, rate: 4, ratePerVehicle: 2 });
  t.ok(summary.samplesAcked > 0);
  const load = await npmRun('loadtest', [...target, '--vehicles', '4', '--connections', '2', '--rate', '40', '--duration', '1s', '--probes', '0', '--keep-up', '60s', '--json']);
  t.equal(load.status, 0, load.stderr.slice(-500));
  const report = JSON.parse(load.stdout) as { verdict: { zeroLoss: boolean } };
  t.equal(report.verdict.zeroLoss, true);
});
