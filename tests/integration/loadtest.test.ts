// The ingestion load tester (npm run loadtest) against an in-process embedded service: a short run stores every
// acknowledged sample exactly once and says so in its report; its CLI, its schedule, its bounds and its
// verification are specified here too.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { validateTelemetry } from '../../services/contract/telemetry.ts';
import {
  CpuMeter,
  ProcessCpuTotal,
  isLoopbackHost,
  loadSample,
  loadTestOptions,
  loadTestVins,
  optionProblems,
  parseDuration,
  parsePrometheus,
  parseRamp,
  parseRate,
  processUsage,
  parsePrometheusSamples,
  readServiceMetrics,
  runLoadTest,
  SeqLedger,
  addStoreWrites,
  describeWriteVolume,
  storeWritesBetween,
  storeWritesOf,
  writeVolume,
  summaryTable,
  vehicleTrack,
  verifyBySeq,
  type LoadTestReport,
} from '../../simulators/loadtest/index.ts';
import { main } from '../../simulators/loadtest/cli.ts';
import { liveLine } from '../../simulators/loadtest/report.ts';
import { rateAt, samplesDue } from '../../simulators/loadtest/options.ts';
import { startLocalService } from '../../tooling/local-service.ts';
import { tempDir } from '../../tooling/system.ts';

const capture = () => {
  let text = '';
  return { write: (s: string) => (text += s), text: () => text };
};

t.test('rates, durations and ramps are read as documented', async (t) => {
  t.equal(parseRate('5000'), 5000);
  t.equal(parseRate('1.5k'), 1500);
  t.throws(() => parseRate('fast'), /not a rate/);
  t.equal(parseDuration('30'), 30_000);
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('2m'), 120_000);
  t.throws(() => parseDuration('soon'), /not a duration/);
  const ramp = parseRamp('1000:20000:5s');
  t.same(ramp, { kind: 'ramp', from: 1000, to: 20000, stepMs: 5000 });
  t.throws(() => parseRamp('1000:20000'), /FROM:TO:STEP/);
  // 20 s in 5 s steps: 1000, 7333, 13667, 20000 samples/s
  t.equal(rateAt(ramp, 0, 20_000), 1000);
  t.equal(rateAt(ramp, 19_999, 20_000), 20000);
  t.equal(Math.round(samplesDue(ramp, 20_000, 20_000)), 5 * (1000 + 7333.333 + 13666.667 + 20000));
  t.equal(samplesDue({ kind: 'fixed', rate: 100 }, 60_000, 10_000), 1000, 'nothing is offered past the duration');
});

t.test('the load tester drives loopback services only and stays within its hard caps', async (t) => {
  t.ok(isLoopbackHost('127.0.0.1'));
  t.ok(isLoopbackHost('127.8.9.10'));
  t.ok(isLoopbackHost('localhost'));
  t.ok(isLoopbackHost('::1'));
  t.notOk(isLoopbackHost('10.0.0.5'));
  t.notOk(isLoopbackHost('example.com'));
  const base = { api: 'http://127.0.0.1:3000', broker: 'mqtt://127.0.0.1:1883', token: 'x'.repeat(20) };
  t.same(optionProblems(loadTestOptions(base)), []);
  t.match(optionProblems(loadTestOptions({ ...base, broker: 'mqtt://broker.example.com:1883' })).join('\n'), /not on this machine/);
  t.match(optionProblems(loadTestOptions({ ...base, api: 'http://user:secret@10.1.2.3:3000' })).join('\n'), /http:\/\/10\.1\.2\.3:3000 is not on this machine/);
  t.notMatch(optionProblems(loadTestOptions({ ...base, api: 'http://user:secret@10.1.2.3:3000' })).join('\n'), /secret/, 'credentials in a URL are never echoed');
  const tooMuch = optionProblems(loadTestOptions({ ...base, vehicles: 200_000, schedule: { kind: 'fixed', rate: 400_000 }, durationMs: 3_600_000 })).join('\n');
  t.match(tooMuch, /vehicles must be/);
  t.match(tooMuch, /over the cap/);
  t.match(optionProblems(loadTestOptions({ ...base, vehicles: 10, schedule: { kind: 'fixed', rate: 50_000 } })).join('\n'), /per vehicle/);
  t.match(optionProblems(loadTestOptions({ ...base, vehicles: 5, connections: 6 })).join('\n'), /cannot exceed vehicles/);
  t.match(optionProblems(loadTestOptions({ ...base, vehicles: 5, connections: 2, mqttAuth: 'vehicle' })).join('\n'), /one connection per vehicle/);
});

t.test('load-test samples pass the contract validator and depend only on the seed, the vehicle and the seq', async (t) => {
  const vins = loadTestVins(3, 50);
  t.equal(new Set(vins).size, 50);
  t.same(loadTestVins(3, 2), vins.slice(0, 2), 'VINs are a function of the seed');
  t.not(loadTestVins(4, 1)[0], vins[0]);
  const now = Date.now();
  for (let i = 0; i < 50; i++) {
    const sample = loadSample(vehicleTrack(3, i), i * 7, now + i);
    const result = validateTelemetry({ vin: vins[i], ...sample }, vins[i], now);
    t.ok(result.ok && result.rejected.length === 0, `sample of ${vins[i]} is valid`);
  }
  t.same(loadSample(vehicleTrack(3, 1), 5, now), loadSample(vehicleTrack(3, 1), 5, now));
});

t.test('loss and duplicates are counted per vehicle by seq, not from totals', async (t) => {
  const outcomes = [
    { vin: 'A', published: 5, unconfirmed: [4] },
    { vin: 'B', published: 3, unconfirmed: [] },
  ];
  // A: seq 1 lost, seq 2 stored twice, unconfirmed 4 stored anyway; B: seq 9 never published
  const v = verifyBySeq(outcomes, new Map([['A', [0, 2, 2, 3, 4]], ['B', [0, 1, 2, 9]]]));
  t.equal(v.expected, 7);
  t.equal(v.found, 6);
  t.equal(v.lost, 1);
  t.equal(v.duplicates, 1);
  t.equal(v.unexpected, 1);
  t.equal(v.unconfirmedStored, 1);
  t.equal(v.vehiclesWithLoss, 1);
  t.match(v.examples.join('\n'), /A: 1 acknowledged sample\(s\) missing, e.g. seq 1/);
  const clean = verifyBySeq(outcomes, new Map([['A', [0, 1, 2, 3]], ['B', [2, 1, 0]]]));
  t.same([clean.lost, clean.duplicates, clean.unexpected], [0, 0, 0]);
});

t.test('the seq ledger counts stored copies as they are read, ignores other vehicles, and needs a byte per published sample', async (t) => {
  const ledger = new SeqLedger([
    { vin: 'A', published: 4, unconfirmed: [] },
    { vin: 'B', published: 2, unconfirmed: [1] },
  ]);
  for (const [vin, seq] of [['A', 0], ['A', 1], ['A', 1], ['B', 0], ['B', 1], ['OTHER', 0], ['A', 7], ['A', 3]] as const) ledger.record(vin, seq);
  for (let i = 0; i < 300; i++) ledger.record('B', 0);
  const v = ledger.result();
  t.equal(ledger.recorded, 307, 'samples of the run\'s vehicles read');
  t.same([v.expected, v.found, v.lost, v.unexpected, v.unconfirmedStored], [5, 4, 1, 1, 1]);
  t.equal(v.duplicates, 1 + 254, 'copies saturate at 255 per sample: a runaway duplicate cannot wrap around');
  t.match(v.examples.join('\n'), /A: 1 acknowledged sample\(s\) missing, e\.g\. seq 2/);
  const big = new SeqLedger(loadTestVins(9, 100_000).map((vin) => ({ vin, published: 3, unconfirmed: [] })));
  t.equal(big.result().lost, 300_000, '100,000 vehicles, nothing stored: all lost');
});

t.test('the store writes per table are read from /metrics and set the cockpit tables beside the telemetry', async (t) => {
  const text = [
    'vc_store_rows_written_total{table="telemetry"} 1000',
    'vc_store_rows_written_total{table="cockpit_series"} 8',
    'vc_store_rows_written_total{table="cockpit_facts"} 2',
    'vc_store_bytes_written_total{table="telemetry"} 300000',
    'vc_store_bytes_written_total{table="cockpit_series"} 800',
    'vc_store_bytes_written_total{table="cockpit_facts"} 400',
    'vc_store_rows_written_total{table="dead_letters"} 3',
    'vc_other{a="x\\"y",b="z"} 1',
  ].join('\n');
  t.same(parsePrometheusSamples(text).at(-1), { name: 'vc_other', labels: { a: 'x"y', b: 'z' }, value: 1 }, 'labels, escapes undone');
  const before = storeWritesOf(parsePrometheusSamples(text))!;
  t.same(before.telemetry, { rows: 1000, bytes: 300_000 });
  t.equal(storeWritesOf(parsePrometheusSamples('vc_ingest_messages_total 5')), undefined, 'a service without the counters');
  const after = storeWritesOf(parsePrometheusSamples(text.replace('} 1000', '} 3000').replace('} 300000', '} 900000').replace('cockpit_facts"} 2', 'cockpit_facts"} 12')))!;
  const delta = storeWritesBetween(before, after)!;
  t.same(delta.telemetry, { rows: 2000, bytes: 600_000 });
  const volume = writeVolume(addStoreWrites([delta, null, delta]))!;
  t.same(volume.rollups, { rows: 20, bytes: 0 });
  t.equal(volume.rowsRatio, 0.005);
  t.match(describeWriteVolume(volume), /telemetry 4,000 rows \(300 B\/row\), cockpit tables 20 rows \(0 B\/row\): rollup\/telemetry rows 0\.5%, bytes 0\.0%/);
  t.match(describeWriteVolume(undefined), /^- /);
  t.same(storeWritesBetween(undefined, after), after, 'no counters before: nothing was written yet');
  t.equal(storeWritesBetween(before, undefined), undefined);
});

t.test('Prometheus text and /proc are read as the reports need them', async (t) => {
  const metrics = parsePrometheus('# HELP x\nvc_ingest_rejects_total{reason="a"} 2\nvc_ingest_rejects_total{reason="b"} 3\nprocess_cpu_seconds_total 1.5\nbad line\n');
  t.equal(metrics.get('vc_ingest_rejects_total'), 5);
  t.equal(metrics.get('process_cpu_seconds_total'), 1.5);
  const usage = await processUsage(process.pid);
  t.ok(usage && usage.rssBytes > 1024 * 1024 && usage.cpuSeconds > 0, 'own CPU and RSS from /proc');
  t.equal(await processUsage(2 ** 22 + 12345), undefined, 'a process that is gone has no usage');
  const meter = new CpuMeter();
  t.equal(meter.update(1, 0), undefined);
  t.equal(meter.update(1.5, 1000), 50);
  t.equal(meter.average(), 50);
  t.equal(meter.used(), 0.5);
});

t.test('a /metrics answer without the store writer\'s counters is asked again, not read as counters reset to zero', async (t) => {
  const { createServer } = await import('node:http');
  let answers = 0;
  let complete = true;
  const server = createServer((_req, res) => {
    answers += 1;
    res.end(complete && answers > 2 ? 'vc_ingest_samples_accepted_total 7\nvc_store_samples_written_total 5\n' : 'vc_ingest_samples_accepted_total 7\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`;
  const samples = await readServiceMetrics(url);
  t.equal(answers, 3, 'asked until the writer\'s counters are in');
  t.same(samples.map((s) => s.name), ['vc_ingest_samples_accepted_total', 'vc_store_samples_written_total']);
  complete = false;
  await t.rejects(readServiceMetrics(url), /no vc_store_samples_written_total in 6 answers/);
});

t.test('the CPU of processes that exit keeps counting their last reading, never going back', async (t) => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', 'const end = Date.now() + 300; while (Date.now() < end); setTimeout(() => {}, 300)']);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const total = new ProcessCpuTotal();
  await new Promise((r) => setTimeout(r, 400));
  const alive = await total.read([process.pid, child.pid!]);
  await exited;
  const after = await total.read([process.pid, child.pid!]);
  t.ok(alive !== undefined && alive > 0);
  t.ok(after !== undefined && after >= alive!, `${after} >= ${alive}: the exited child still counts`);
  t.equal(await new ProcessCpuTotal().read([2 ** 22 + 12345]), undefined, 'nothing read: nothing to say');
});

t.test('the live line follows the phases', async (t) => {
  const progress = {
    phase: 'publishing' as const, elapsedS: 3, offeredRate: 1000, publishedRate: 990, ackedRate: 980, acceptedRate: null, storedRate: 900,
    published: 3000, acked: 2900, accepted: null, stored: 2700, behind: 0, inflight: 10, backlogBytes: 20 * 1024 ** 2,
    serviceCpuPercent: 55, serviceRssBytes: null, publisherCpuPercent: null, latencyP99Ms: 12_500, vehicles: 10,
  };
  t.match(liveLine(progress), /^\[publishing\] 3s  offered 1,000\/s .* accepted n\/a .* backlog 20 MB .* p99 12\.5 s$/);
  t.equal(liveLine({ ...progress, phase: 'verifying', readBackSamples: 2500 }), '[verifying] read back 2,500 stored samples of 2,900 acknowledged');
  t.equal(liveLine({ ...progress, phase: 'registering', registeredVehicles: 4 }), '[registering] 4/10 vehicles');
  t.equal(liveLine({ ...progress, phase: 'connecting' }), '[connecting]');
});

t.test('npm run loadtest runs as a program', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const help = spawnSync(process.execPath, [...process.execArgv, 'simulators/loadtest/cli.ts', '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0);
  t.match(help.stdout, /^Usage: npm run loadtest/);
  const bad = spawnSync(process.execPath, [...process.execArgv, 'simulators/loadtest/cli.ts', '--qos', '2', '--token', 'x'.repeat(20)], { encoding: 'utf8' });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /qos must be 0 or 1/);
  const publisher = spawnSync(process.execPath, [...process.execArgv, 'simulators/loadtest/publisher.ts'], { encoding: 'utf8' });
  t.equal(publisher.status, 2, 'a publisher process is not started by hand');
});

t.test('against an embedded service', async (t) => {
  const service = await startLocalService();
  t.teardown(service.cleanup);
  const base = { api: service.apiUrl, broker: service.mqttUrl, token: service.adminToken.token };

  let report: LoadTestReport;
  t.test('a short run stores every acknowledged sample exactly once and reports it', async (t) => {
    const lines: string[] = [];
    const phases: string[] = [];
    report = await runLoadTest(
      // keep-up bound: generous, as the drain's speed is the machine's (at a load average of 20 the default 3 s was missed)
      loadTestOptions({ ...base, vehicles: 40, connections: 4, schedule: { kind: 'fixed', rate: 400 }, durationMs: 2_000, seed: 11, probesPerSecond: 10, keepUpMs: 60_000 }),
      { onProgress: (p) => lines.push(liveLine(p)), onPhase: (p) => phases.push(p), sampleEveryMs: 500 },
    );
    t.same(phases, ['checking', 'registering', 'connecting', 'publishing', 'draining', 'verifying', 'done']);
    t.equal(report.target.broker, 'embedded');
    t.equal(report.options.mqttAuth, 'admin', 'the embedded broker is driven with the admin login');
    t.equal(report.totals.offered, 800);
    t.equal(report.totals.published, 800);
    t.equal(report.totals.acked, 800);
    t.equal(report.totals.accepted, 800, 'the service accepted them all (/metrics delta)');
    t.equal(report.totals.stored, 800);
    t.equal(report.verification?.expected, 800);
    t.equal(report.verification?.found, 800);
    t.equal(report.verification?.lost, 0);
    t.equal(report.verification?.duplicates, 0);
    t.equal(report.verification?.vehicles, 40);
    t.ok(report.drain.drained);
    t.ok(report.latency.found > 0 && report.latency.p99Ms !== null, 'publish-to-queryable latency was measured');
    t.ok(report.service.rssPeakBytes !== null && report.service.cpuPercent !== null, 'service CPU and RSS from /metrics');
    t.ok(report.timeline.length >= 3);
    t.same(report.verdict, { zeroLoss: true, keptUp: true, ok: true, notes: [] });
    t.equal(report.storeWrites?.telemetry?.rows, 800, 'the telemetry rows the service wrote, from its /metrics');
    t.ok((report.storeWrites?.cockpit_series?.rows ?? 0) > 0, 'and its cockpit tables\'');
    t.ok(lines.some((l) => l.startsWith('[publishing]')), 'a live line while publishing');
    const table = summaryTable(report);
    t.match(table, /0 lost, 0 duplicated, 0 unexpected of 800 acknowledged/);
    t.match(table, /store writes\s+telemetry 800 rows \(\d+ B\/row\), cockpit tables \d+ rows/);
    t.notMatch(JSON.stringify(report) + table, service.adminToken.token, 'the token is never in a report');
  });

  t.test('a repeated run reuses its vehicles and reads back only its own samples', async (t) => {
    const again = await runLoadTest(loadTestOptions({ ...base, vehicles: 40, connections: 4, schedule: { kind: 'fixed', rate: 400 }, durationMs: 1_000, seed: 11, probesPerSecond: 0 }));
    t.equal(again.verification?.expected, 400);
    t.equal(again.verification?.lost, 0);
    t.equal(again.verification?.unexpected, 0);
  });

  t.test('a ramp at QoS 0 with batches, over vehicle credentials', async (t) => {
    const ramp = await runLoadTest(
      loadTestOptions({ ...base, vehicles: 12, connections: 12, mqttAuth: 'vehicle', qos: 0, batch: 5, schedule: { kind: 'ramp', from: 200, to: 600, stepMs: 500 }, durationMs: 1_500, seed: 12, probesPerSecond: 0 }),
    );
    t.equal(ramp.options.mqttAuth, 'vehicle');
    t.equal(ramp.totals.offered, 600);
    t.equal(ramp.totals.published, 600);
    t.equal(ramp.totals.messages, 120, 'five samples per message');
    t.equal(ramp.verification?.lost, 0);
  });

  t.test('vehicle credentials need fresh VINs', async (t) => {
    await t.rejects(
      runLoadTest(loadTestOptions({ ...base, vehicles: 12, connections: 12, mqttAuth: 'vehicle', durationMs: 500, seed: 12 })),
      /already registered/,
    );
  });

  t.test('the CLI prints a table or JSON, writes a report, and exits 0 on a clean run', async (t) => {
    const dir = await tempDir('loadtest-cli');
    t.teardown(dir.remove);
    const stdout = capture();
    const stderr = capture();
    const code = await main(
      // --keep-up: the drain's speed is the machine's (a CI run once took 11 s to store this second of samples)
      ['--api', base.api, '--broker', base.broker, '--vehicles', '20', '--connections', '2', '--rate', '200', '--duration', '1s', '--seed', '21', '--keep-up', '60s', '--json', '--report', 'r.json'],
      { stdout, stderr, env: { VC_ADMIN_TOKEN: base.token }, cwd: dir.path },
    );
    t.equal(code, 0, stderr.text());
    const printed = JSON.parse(stdout.text()) as LoadTestReport;
    t.equal(printed.verification?.lost, 0);
    t.equal(printed.totals.acked, 200);
    const written = JSON.parse(await readFile(join(dir.path, 'r.json'), 'utf8')) as LoadTestReport;
    t.equal(written.totals.acked, 200);
    t.match(stderr.text(), /\[publishing\]/, 'progress on stderr');
    t.notMatch(stdout.text() + stderr.text(), base.token);

    const table = capture();
    const tableErr = capture();
    t.equal(await main(['--api', base.api, '--broker', base.broker, '--vehicles', '20', '--connections', '2', '--rate', '200', '--duration', '1s', '--seed', '21', '--keep-up', '60s', '--token', base.token], { stdout: table, stderr: tableErr, env: {} }), 0, tableErr.text());
    t.match(table.text(), /vehicle-cloud load test\n/);
    t.match(table.text(), /verdict\s+OK: zero loss, kept up/);
  });

  t.test('the CLI refuses bad usage and remote hosts with exit 2, and a dead API with exit 1', async (t) => {
    const help = capture();
    t.equal(await main(['--help'], { stdout: help, stderr: capture(), env: {} }), 0);
    t.match(help.text(), /--ramp F:T:STEP/);
    const remote = capture();
    t.equal(await main(['--api', 'http://192.0.2.1:3000', '--token', 'x'.repeat(20)], { stdout: capture(), stderr: remote, env: {} }), 2);
    t.match(remote.text(), /not on this machine/);
    const both = capture();
    t.equal(await main(['--rate', '5', '--ramp', '1:2:1s', '--token', 'x'.repeat(20)], { stdout: capture(), stderr: both, env: {} }), 2);
    t.match(both.text(), /exclude each other/);
    const noToken = capture();
    t.equal(await main([], { stdout: capture(), stderr: noToken, env: { VC_DATA_DIR: '/nonexistent' } }), 2);
    t.match(noToken.text(), /no admin token/);
    t.equal(await main(['--vehicles', 'many', '--token', 'x'.repeat(20)], { stdout: capture(), stderr: capture(), env: {} }), 2);
    t.equal(await main(['--mqtt-auth', 'root', '--token', 'x'.repeat(20)], { stdout: capture(), stderr: capture(), env: {} }), 2);
    const dead = capture();
    t.equal(await main(['--api', 'http://127.0.0.1:9', '--token', 'x'.repeat(20), '--duration', '1'], { stdout: capture(), stderr: dead, env: {} }), 1);
    t.match(dead.text(), /load test failed/);
  });

  t.test('a wrong token is a clear error, not a hang', async (t) => {
    await t.rejects(runLoadTest(loadTestOptions({ ...base, token: 'not-the-admin-token-000', durationMs: 500, seed: 31 })), /HTTP 401/);
  });

  t.test('an aborted run stops publishing early and still verifies what was sent', async (t) => {
    const controller = new AbortController();
    const aborted = await runLoadTest(loadTestOptions({ ...base, vehicles: 10, connections: 2, schedule: { kind: 'fixed', rate: 200 }, durationMs: 20_000, seed: 41, probesPerSecond: 0 }), {
      signal: controller.signal,
      sampleEveryMs: 200,
      onProgress: (p) => {
        if (p.published >= 100) controller.abort();
      },
    });
    t.ok(aborted.totals.published >= 100 && aborted.totals.published < 1000, `stopped well before the 20 s (${aborted.totals.published} published)`);
    t.equal(aborted.verification?.expected, aborted.totals.acked);
    t.equal(aborted.verification?.lost, 0);
    t.match(aborted.verdict.notes.join('\n'), /interrupted/);
  });
});
