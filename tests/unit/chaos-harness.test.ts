// The chaos runner's own parts (bench/chaos): the TCP proxy over real sockets, the cockpit recount and its comparison
// (a check that cannot fail would prove nothing), the verdict of a row, and the command line.
import t from 'tap';
import { createServer, connect, type Socket } from 'node:net';
import { cockpitDiffs, recount, sampleSignals, chaosVin } from '../../bench/chaos/harness.ts';
import { startProxy } from '../../bench/chaos/proxy.ts';
import { faultOk } from '../../bench/chaos/faults.ts';
import { chaosMarkdown, faultRows, main, parseChaosArgs, runChaos } from '../../bench/chaos/run.ts';
import type { FaultResult } from '../../bench/chaos/types.ts';
import { tempDir, waitFor } from '../../tooling/system.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

async function echoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => {
      sockets.forEach((s) => s.destroy());
      return new Promise((r) => server.close(() => r()));
    },
  };
}

function client(port: number): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let text = '';
    let closed = false;
    const socket = connect({ host: '127.0.0.1', port }, () => resolve({ socket, received: () => text, closed: () => closed }));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('close', () => (closed = true));
    socket.on('error', reject);
  });
}

t.test('the proxy passes, stalls (holding bytes), cuts (refusing), and is restored', async (t) => {
  const echo = await echoServer();
  t.teardown(echo.close);
  const proxy = await startProxy({ host: '127.0.0.1', port: echo.port });
  t.teardown(proxy.close);

  const a = await client(proxy.port);
  a.socket.write('hello');
  await waitFor('the echo', async () => (a.received() === 'hello' ? true : undefined), 10_000);

  proxy.pass({ latencyMs: 50, bytesPerSecond: 1024 });
  a.socket.write('x'.repeat(200));
  await waitFor('the shaped echo', async () => (a.received().length === 205 ? true : undefined), 10_000);

  proxy.stall();
  a.socket.write('held');
  // nothing may come back while stalled; a wait that can only miss a leak, never fail by itself
  await new Promise((r) => setTimeout(r, 300));
  t.equal(a.received().length, 205, 'no byte passes a stall');
  t.equal(proxy.connections, 1, 'the connection stays open');
  proxy.restore();
  await waitFor('the held bytes', async () => (a.received().endsWith('held') ? true : undefined), 10_000);

  proxy.cut();
  await waitFor('the cut connection to close', async () => (a.closed() ? true : undefined), 10_000);
  const b = await client(proxy.port);
  await waitFor('a new connection to be refused', async () => (b.closed() ? true : undefined), 10_000);
  t.equal(proxy.mode, 'cut');

  proxy.restore();
  const c = await client(proxy.port);
  c.socket.write('again');
  await waitFor('the echo after the restore', async () => (c.received() === 'again' ? true : undefined), 10_000);
  c.socket.destroy();
});

t.test('the recount follows the cockpit definitions, and any difference is reported', async (t) => {
  const from = 1_800_000_000_000;
  const samples = (index: number, seqs: number[]) => seqs.map((seq) => ({ ts: from + seq * 20_000, seq, signals: sampleSignals(index, seq) }));
  const raw = new Map([
    [chaosVin('TST', 0), samples(0, [0, 1, 2, 3, 4])],
    [chaosVin('TST', 1), samples(1, [0, 3, 6])],
    [chaosVin('TST', 2), []],
  ]);
  const expected = recount(raw, from, 60_000);
  t.equal(expected.kpis.samples, 8);
  t.equal(expected.kpis.activeVehicles, 2, 'a vehicle without samples is not active');
  t.equal(expected.kpis.distanceKm, 4 + 6, 'odometer progress summed over vehicles');
  t.same(expected.series.map((b) => [b.t, b.samples]), [[from, 4], [from + 60_000, 3], [from + 120_000, 1]]);
  const speeds = [...raw.values()].flat().map((s) => s.signals['Vehicle.Speed'] as number);
  t.equal(expected.kpis.avgSpeed, speeds.reduce((a, b) => a + b, 0) / speeds.length);

  const cockpit = { kpis: { ...expected.kpis } as Record<string, unknown>, series: expected.series.map((b) => ({ ...b }) as Record<string, unknown>) };
  t.same(cockpitDiffs(cockpit, expected), [], 'equal numbers: no difference');
  cockpit.kpis.samples = 9;
  cockpit.series[1]!.avgSpeed = 1;
  cockpit.series.push({ t: from + 600_000, samples: 1 });
  const diffs = cockpitDiffs(cockpit, expected);
  t.equal(diffs.length, 3);
  t.match(diffs.join('\n'), /kpis\.samples: cockpit 9, recount 8/);
  t.match(diffs.join('\n'), /in the cockpit only/);
  cockpit.series.splice(0, 1);
  t.match(cockpitDiffs(cockpit, expected).join('\n'), /series\[t=1800000000000\]\.samples: cockpit undefined, recount 4/, 'a missing bucket is a difference');
});

t.test('a row fails on a lost or duplicated sample, a miscount, no recovery or a FAIL note', async (t) => {
  const row: FaultResult = { fault: 'f', deployment: 'embedded', acked: 10, stored: 10, lost: 0, duplicated: 0, cockpitExact: true, recoveryMs: 100, peakRssMiB: 100, extra: { healthy: 'yes' }, notes: [] };
  t.ok(faultOk(row));
  t.notOk(faultOk({ ...row, lost: 1 }));
  t.notOk(faultOk({ ...row, duplicated: 1 }));
  t.notOk(faultOk({ ...row, cockpitExact: false }));
  t.notOk(faultOk({ ...row, recoveryMs: null }));
  t.notOk(faultOk({ ...row, extra: { healthy: 'no' } }));
  t.notOk(faultOk({ ...row, notes: ['FAIL: took too long'] }));
  t.ok(faultOk({ ...row, notes: ['a remark'] }));
  t.match(faultRows([row, { ...row, lost: 2 }]).map((r) => r[9]), ['result', 'ok', 'FAILED']);
  const md = chaosMarkdown({ date: '2026-12-05T00:00:00.000Z', quick: true, machine: { cpus: 2, cpuModel: 'x', node: 'v20', loadAverage: [1, 1, 1] }, loadAverageAfter: [2, 2, 2], durationS: 60, faults: [row], hostile: null, soak: null, ok: true });
  t.match(md, /\| f \| embedded \| 10 \| 10 \| 0 \| 0 \| yes \|/);
});

t.test('the command line', async (t) => {
  t.match(parseChaosArgs(['--quick', '--only', 'kill9,storm']), { quick: true, only: ['kill9', 'storm'] });
  t.match(parseChaosArgs(['--only', 'nope']), { error: /unknown name/ });
  t.match(parseChaosArgs(['--only']), { error: /needs a value/ });
  t.match(parseChaosArgs(['--bogus']), { error: /unknown option/ });
  t.same(parseChaosArgs(['-h']), { help: true });
});

t.test('the program: help, a bad flag, and a run of nothing that still writes its report', async (t) => {
  const out: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } } as unknown as Parameters<typeof main>[1];
  t.equal(await main(['--help'], io), 0);
  t.match(out.join(''), /Usage: npm run chaos/);
  t.equal(await main(['--bogus'], io), 2);
  const dir = await tempDir('chaos-report');
  t.teardown(dir.remove);
  const report = await runChaos({ quick: true, only: [], outDir: dir.path }, () => undefined);
  t.same(report.faults, []);
  t.equal(report.ok, true);
  t.match(JSON.parse(await readFile(join(dir.path, 'chaos-quick-latest.json'), 'utf8')), { quick: true, faults: [] });
  t.match(await readFile(join(dir.path, 'chaos-quick-latest.md'), 'utf8'), /# Chaos run .* \(quick\)/);
});
