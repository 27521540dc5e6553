// The fleet simulator's runtime and CLI against a fake registration API and an in-process Aedes broker that
// checks each vehicle's credentials and validates every message with the contract before its PUBACK.
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import t from 'tap';
import { decodeTelemetry, telemetryTopic, type TelemetrySample } from '../../services/contract/telemetry.ts';
import { FLEET_CATALOG } from '../../simulators/fleet/catalog.ts';
import { citiesByName } from '../../simulators/fleet/cities.ts';
import { planFleet, VehicleSimulation } from '../../simulators/fleet/vehicle-model.ts';
import { runFleet, type FleetOptions, type FleetProgress, type FleetSummary } from '../../simulators/fleet/fleet.ts';
import { main, planFromArgs } from '../../simulators/fleet/cli.ts';
import type { CliIo } from '../../tooling/cli.ts';
import { freePort } from '../../tooling/system.ts';

interface FakeCloudOptions {
  /** Answer 409 for these VINs, as a service that registered them in an earlier run would. */
  registered?: readonly string[];
  /** Answer every registration with this status and an error body instead. */
  failWith?: number;
  /** Delay before each PUBACK (a slow ingest). */
  ackDelayMs?: number;
  /** CONNACK return code refusing every vehicle (5 = not authorized). */
  refuseWith?: number;
}

interface FakeCloud {
  apiUrl: string;
  brokerUrl: string;
  token: string;
  passwords: string[];
  registrations: Array<Record<string, unknown>>;
  /** Accepted samples per VIN, in arrival order. */
  received: Map<string, TelemetrySample[]>;
  batches: number;
  rejections: string[];
  clientIdMismatches: number;
  close(): Promise<void>;
}

async function startFakeCloud(t: { teardown(fn: () => unknown): void }, options: FakeCloudOptions = {}): Promise<FakeCloud> {
  const token = 'test-admin-token-0123456789';
  const passwords = new Map<string, string>();
  const registrations: Array<Record<string, unknown>> = [];
  const received = new Map<string, TelemetrySample[]>();
  const rejections: string[] = [];
  const cloud = { batches: 0, clientIdMismatches: 0 };

  const api = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const send = (status: number, body: unknown): void => {
        response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      if (request.method !== 'POST' || request.url !== '/api/v1/vehicles') return send(404, { statusCode: 404, code: 'not_found', message: 'no route' });
      if (request.headers.authorization !== `Bearer ${token}`) return send(401, { statusCode: 401, code: 'unauthorized', message: 'bad token' });
      if (options.failWith) return send(options.failWith, { statusCode: options.failWith, code: 'internal_error', message: 'something broke' });
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { vin: string };
      if (options.registered?.includes(body.vin) || passwords.has(body.vin)) return send(409, { statusCode: 409, code: 'vehicle_exists', message: `${body.vin} exists` });
      const password = `pw-${body.vin}-${passwords.size}`;
      passwords.set(body.vin, password);
      registrations.push(body);
      send(201, { ...body, createdAt: Date.now(), mqtt: { username: body.vin, password, topic: telemetryTopic(body.vin) } });
    });
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));

  const aedes = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      if (options.refuseWith) return done(Object.assign(new Error('refused'), { returnCode: options.refuseWith }) as AuthenticateError, false);
      const ok = username !== undefined && passwords.get(username) === password?.toString();
      if (ok && client.id !== username) cloud.clientIdMismatches++;
      done(ok ? null : (Object.assign(new Error('bad credentials'), { returnCode: 4 }) as AuthenticateError), ok);
    },
    authorizePublish(_client, packet, callback) {
      const result = decodeTelemetry(packet.topic, packet.payload as Buffer);
      if (!result.ok) rejections.push(`${result.reason}: ${result.detail}`);
      else {
        rejections.push(...result.rejected.map((r) => `${r.reason}: ${r.detail}`));
        if (result.samples.length > 1 || packet.payload.toString().includes('"samples"')) cloud.batches++;
        const list = received.get(result.vin) ?? [];
        list.push(...result.samples);
        received.set(result.vin, list);
      }
      if (options.ackDelayMs) setTimeout(() => callback(null), options.ackDelayMs);
      else callback(null);
    },
  });
  const sockets = new Set<Socket>();
  const broker = createNetServer(aedes.handle);
  broker.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => broker.listen(0, '127.0.0.1', resolve));

  const port = (server: { address(): unknown }): number => (server.address() as AddressInfo).port;
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    api.closeAllConnections();
    await new Promise<void>((resolve) => api.close(() => resolve()));
  };
  t.teardown(close);
  return {
    apiUrl: `http://127.0.0.1:${port(api)}`,
    brokerUrl: `mqtt://127.0.0.1:${port(broker)}`,
    token,
    get passwords() {
      return [...passwords.values()];
    },
    registrations,
    received,
    get batches() {
      return cloud.batches;
    },
    rejections,
    get clientIdMismatches() {
      return cloud.clientIdMismatches;
    },
    close,
  };
}

function fleetOptions(cloud: FakeCloud, overrides: Partial<FleetOptions> = {}): FleetOptions {
  return { api: cloud.apiUrl, broker: cloud.brokerUrl, token: cloud.token, vehicles: 6, rate: 20, durationS: 1, seed: 7, vinSalt: 'test', ...overrides };
}

/** Every VIN's received seqs, deduplicated and sorted, are exactly 0..lastSeq. */
function seqGaps(cloud: FakeCloud, summary: FleetSummary): string[] {
  const gaps: string[] = [];
  for (const v of summary.perVehicle) {
    const seqs = [...new Set((cloud.received.get(v.vin) ?? []).map((s) => s.seq))].sort((a, b) => a - b);
    if (seqs.length !== v.lastSeq + 1 || seqs.some((seq, i) => seq !== i)) gaps.push(`${v.vin}: ${seqs.length} seqs, last ${v.lastSeq}`);
  }
  return gaps;
}

t.test('runFleet registers every vehicle and publishes valid samples at QoS 1, all acknowledged', async (t) => {
  const cloud = await startFakeCloud(t);
  const progress: FleetProgress[] = [];
  const summary = await runFleet(fleetOptions(cloud), { onProgress: (p) => progress.push(p) });
  t.equal(cloud.registrations.length, 6, 'six registrations');
  t.same(
    cloud.registrations.map((r) => Object.keys(r).sort()),
    Array(6).fill(['brand', 'model', 'powertrain', 'vin', 'year']),
    'each with vin, brand, model, year, powertrain',
  );
  t.equal(cloud.clientIdMismatches, 0, 'every client id is its VIN');
  t.same(cloud.rejections, [], 'the broker-side validator rejected nothing');
  t.equal(summary.registered, 6);
  // every tick of 1 s at 20 Hz is published or, when its timer fired late on a loaded machine, counted as skipped
  t.ok(summary.messagesPublished >= 6, `${summary.messagesPublished} messages published`);
  t.ok(summary.messagesPublished + summary.skippedTicks >= 6 * 10, `${summary.messagesPublished} published + ${summary.skippedTicks} skipped ticks in 1 s at 20 Hz`);
  t.equal(summary.messagesAcked, summary.messagesPublished, 'every message acknowledged');
  t.equal(summary.samplesAcked, summary.samplesPublished);
  t.equal(summary.unacked, 0);
  t.equal(summary.errors, 0);
  t.equal(summary.interrupted, false);
  t.same(seqGaps(cloud, summary), [], 'per vehicle, seq runs 0, 1, 2, ... without a gap');
  t.same([...new Set(progress.map((p) => p.phase))], ['registering', 'connecting', 'publishing', 'draining', 'done'], 'progress through every phase');
});

t.test('with --batch-every, every Nth message is a store-and-forward batch and no sample is lost', async (t) => {
  const cloud = await startFakeCloud(t);
  const summary = await runFleet(fleetOptions(cloud, { batchEvery: 3, batchSize: 5, durationS: 1.2 }));
  t.ok(cloud.batches > 0, `${cloud.batches} batches arrived`);
  t.ok(summary.samplesPublished > summary.messagesPublished, 'more samples than messages');
  t.equal(summary.samplesAcked, summary.samplesPublished);
  t.same(cloud.rejections, []);
  t.same(seqGaps(cloud, summary), [], 'seqs contiguous, buffered samples flushed at the end');
  const ordered = [...cloud.received.values()].every((samples) => samples.every((s, i) => i === 0 || s.ts >= (samples[i - 1]?.ts ?? 0)));
  t.ok(ordered, 'each vehicle\'s samples arrive in time order');
});

/** The first seed whose fleet of `vehicles` has a vehicle starting in an underground car park for a while. */
function seedWithParkedUnderground(vehicles: number): { seed: number; vin: string } {
  const now = Date.now();
  for (let seed = 1; seed < 2_000; seed++) {
    for (const vehicle of planFleet({ seed, vehicles, vinSalt: 'test' })) {
      const simulation = new VehicleSimulation(vehicle, { seed, startTs: now });
      simulation.sample(now + 5_000);
      if (!simulation.online) return { seed, vin: vehicle.vin };
    }
  }
  throw new Error('no fleet with a vehicle parked underground');
}

t.test('a vehicle without coverage buffers its samples and sends them as batches when it is back', async (t) => {
  const cloud = await startFakeCloud(t);
  const { seed, vin } = seedWithParkedUnderground(6);
  let offlineSeen = 0;
  let bufferedSeen = 0;
  const summary = await runFleet(fleetOptions(cloud, { seed, durationS: 1 }), {
    onProgress: (p) => {
      offlineSeen = Math.max(offlineSeen, p.offline);
      bufferedSeen = Math.max(bufferedSeen, p.buffered);
    },
  });
  t.ok(summary.connectivityGaps >= 1, `${summary.connectivityGaps} connectivity gaps`);
  t.ok(summary.batchesPublished >= 1, `${summary.batchesPublished} batches sent`);
  t.ok(cloud.batches >= 1, 'the broker received them as batches');
  t.ok(offlineSeen >= 1 && bufferedSeen >= 1, `progress showed ${offlineSeen} vehicles offline holding ${bufferedSeen} samples`);
  const parked = summary.perVehicle.find((v) => v.vin === vin);
  t.ok(parked && parked.samplesAcked > 5, `the parked vehicle's ${parked?.samplesAcked} samples all arrived`);
  t.same(cloud.rejections, [], 'every batch valid');
  t.same(seqGaps(cloud, summary), [], 'no sample lost in the gap');
});

t.test('without gaps and limited to one city, every message is a single sample from that city', async (t) => {
  const cloud = await startFakeCloud(t);
  const { seed } = seedWithParkedUnderground(6);
  const [oslo] = citiesByName(['Oslo']);
  const summary = await runFleet(fleetOptions(cloud, { seed, gaps: false, cities: oslo ? [oslo] : [] }));
  t.equal(summary.batchesPublished, 0);
  t.equal(summary.connectivityGaps, 0);
  t.equal(summary.samplesAcked, summary.messagesAcked, 'one sample per message');
  t.same(summary.byCity.map((c) => c.name), ['Oslo']);
  t.equal(summary.byBrand.reduce((n, b) => n + b.vehicles, 0), 6, 'by brand, every vehicle once');
  t.ok(summary.cpuPercent >= 0 && summary.maxRssMiB > 0, `CPU ${summary.cpuPercent} %, RSS ${summary.maxRssMiB} MiB`);
});

t.test('a full in-flight window skips ticks instead of queueing without bound', async (t) => {
  const cloud = await startFakeCloud(t, { ackDelayMs: 300 });
  let maxInFlight = 0;
  const summary = await runFleet(fleetOptions(cloud, { vehicles: 2, rate: 50, maxInFlight: 3 }), {
    onProgress: (p) => {
      maxInFlight = Math.max(maxInFlight, p.inFlight);
    },
  });
  t.ok(summary.skippedTicks > 0, `${summary.skippedTicks} ticks skipped`);
  t.ok(maxInFlight <= 2 * 3, `in flight never above 2 vehicles x 3 (max seen ${maxInFlight})`);
  t.equal(summary.unacked, 0, 'the stop waited for the slow PUBACKs');
  t.same(seqGaps(cloud, summary), [], 'skipped ticks leave no seq gap');
});

t.test('an abort stops publishing, drains PUBACKs and reports an interrupted run', async (t) => {
  const cloud = await startFakeCloud(t, { ackDelayMs: 50 });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 500);
  const started = Date.now();
  const summary = await runFleet(fleetOptions(cloud, { durationS: 0 }), { signal: controller.signal });
  t.ok(Date.now() - started < 3_000, 'returned soon after the abort');
  t.equal(summary.interrupted, true);
  t.ok(summary.messagesPublished > 0);
  t.equal(summary.messagesAcked, summary.messagesPublished, 'in-flight messages were acknowledged before disconnecting');
});

t.test('a VIN registered by an earlier run stops the fleet with vin_conflict', async (t) => {
  const [first] = planFleet({ seed: 7, vehicles: 1, vinSalt: 'test' });
  const cloud = await startFakeCloud(t, { registered: [first?.vin ?? ''] });
  await t.rejects(runFleet(fleetOptions(cloud)), { name: 'FleetError', code: 'vin_conflict', vin: first?.vin });
});

t.test('a wrong token, an API error or an unreachable API fail with one clear line', async (t) => {
  const cloud = await startFakeCloud(t);
  await t.rejects(runFleet(fleetOptions(cloud, { token: 'wrong-token-0123456789' })), { code: 'unauthorized', message: /refused the admin token \(HTTP 401/ });
  const failing = await startFakeCloud(t, { failWith: 500 });
  await t.rejects(runFleet(fleetOptions(failing)), { code: 'registration_failed', message: /HTTP 500 \(internal_error: something broke\)/ });
  const closedPort = await freePort();
  await t.rejects(runFleet(fleetOptions(cloud, { api: `http://127.0.0.1:${closedPort}` })), { code: 'api_unreachable', message: /connection refused/ });
});

t.test('a broker that refuses the vehicles or is down fails with one clear line', async (t) => {
  const refusing = await startFakeCloud(t, { refuseWith: 5 });
  await t.rejects(runFleet(fleetOptions(refusing)), { code: 'broker_refused', message: /failed: broker refused the connection: not authorized$/ });
  const cloud = await startFakeCloud(t);
  const closedPort = await freePort();
  await t.rejects(runFleet(fleetOptions(cloud, { broker: `mqtt://127.0.0.1:${closedPort}` })), { code: 'broker_unreachable', message: /connection refused/ });
});

t.test('bad fleet options are refused before anything starts', async (t) => {
  const cloud = await startFakeCloud(t);
  await t.rejects(runFleet(fleetOptions(cloud, { vehicles: 0, rate: -1 })), { code: 'invalid_options', message: /vehicles must be .*; rate must be/ });
  await t.rejects(runFleet(fleetOptions(cloud, { cities: [] })), { code: 'invalid_options', message: /cities must name at least one city/ });
  t.equal(cloud.registrations.length, 0);
});

// --- CLI -----------------------------------------------------------------------------------------------------

function captureIo(env: NodeJS.ProcessEnv, extra: Partial<CliIo> = {}): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
    out: () => out,
    err: () => err,
    ...extra,
  };
}

t.test('the CLI prints help, the model list, and refuses bad flags with exit 2', async (t) => {
  const help = captureIo({});
  t.equal(await main(['--help'], help), 0);
  t.match(help.out(), /--batch-every N/);
  const models = captureIo({});
  t.equal(await main(['--list-models', '--json'], models), 0);
  t.equal((JSON.parse(models.out()) as unknown[]).length, FLEET_CATALOG.length, 'one entry per catalog model');
  const table = captureIo({});
  t.equal(await main(['--list-models'], table), 0);
  t.match(table.out(), /brand\s+model\s+powertrain/);
  t.match(table.out(), /21 models of 7 brands; cities: Shanghai/);
  for (const argv of [['--vehicles', 'many'], ['--rate', '0'], ['--nope'], ['--duration=-1'], ['--duration', '-1'], ['--batch-every', '0'], ['--api', 'not a url'], ['--cities', 'Atlantis'], ['--cities', ',']]) {
    const io = captureIo({ VC_ADMIN_TOKEN: 'x'.repeat(20) });
    t.equal(await main(argv, io), 2, `${argv.join(' ')} is a usage error`);
    t.match(io.err(), /^simulate: .*\n\(see --help\)\n$/);
  }
});

t.test('the CLI finds the admin token in the data dir and says where it looked when there is none', async (t) => {
  const dir = t.testdir({ data: { 'admin-token': 'file-token-0123456789\n' } });
  const plan = planFromArgs([], {}, dir);
  t.equal(typeof plan === 'string' ? plan : plan.options.token, 'file-token-0123456789', 'the lookup of tooling/admin-token.ts');
  const io = captureIo({ VC_DATA_DIR: 'elsewhere' }, { cwd: dir });
  t.equal(await main([], io), 2);
  t.match(io.err(), /no admin token: .*elsewhere\/admin-token/);
});

t.test('the CLI defaults: fresh VINs unless --seed, env URLs, broker port from VC_MQTT_PORT', async (t) => {
  const env = { VC_ADMIN_TOKEN: 'env-token-0123456789', VC_MQTT_PORT: '18830' };
  const plain = planFromArgs([], env, '.');
  const seeded = planFromArgs(['--seed', '5'], env, '.');
  const fresh = planFromArgs(['--seed', '5', '--fresh-vins'], env, '.');
  if (typeof plain === 'string' || typeof seeded === 'string' || typeof fresh === 'string') throw new Error('expected plans');
  t.equal(plain.options.broker, 'mqtt://127.0.0.1:18830');
  t.equal(plain.options.api, 'http://127.0.0.1:3000');
  t.same([plain.options.vehicles, plain.options.rate, plain.options.durationS, plain.options.seed], [10, 1, 60, 1]);
  t.ok(plain.freshVins && plain.options.vinSalt, 'no --seed: a per-run VIN salt');
  t.notOk(seeded.freshVins || seeded.options.vinSalt, '--seed: VINs from the seed alone');
  t.ok(fresh.freshVins && fresh.options.vinSalt, '--seed with --fresh-vins: salted');
  const limited = planFromArgs(['--cities', 'oslo, Los Angeles', '--no-gaps'], env, '.');
  if (typeof limited === 'string') throw new Error('expected a plan');
  t.same(limited.options.cities?.map((c) => c.name), ['Oslo', 'Los Angeles'], '--cities by name');
  t.equal(limited.options.gaps, false, '--no-gaps');
  t.equal(plain.options.gaps, undefined, 'gaps by default');
  const fromEnv = planFromArgs([], { ...env, VC_API_URL: 'http://api:3000', VC_MQTT_URL: 'mqtt://broker:1883' }, '.');
  if (typeof fromEnv === 'string') throw new Error('expected a plan');
  t.same([fromEnv.options.api, fromEnv.options.broker], ['http://api:3000', 'mqtt://broker:1883']);
});

t.test('a CLI run prints a summary table or JSON, and never the token or a vehicle password', async (t) => {
  const cloud = await startFakeCloud(t);
  const env = { VC_API_URL: cloud.apiUrl, VC_MQTT_URL: cloud.brokerUrl, VC_ADMIN_TOKEN: cloud.token };
  const io = captureIo(env);
  t.equal(await main(['--vehicles', '3', '--rate', '10', '--duration', '0.5', '--seed', '11'], io), 0);
  t.match(io.out(), /fleet simulation summary\n/);
  t.match(io.out(), /messages acked\s+\d+/);
  t.match(io.out(), /msgs\/s \(acked\)\s+[\d.]+/);
  t.match(io.out(), /simulator CPU\s+[\d.]+ % of one core while publishing/);
  t.match(io.out(), /\n  brand\s+vehicles\s+samples acked\s+km driven\n/);
  t.match(io.out(), /\n  city\s+vehicles/);
  const json = captureIo(env);
  t.equal(await main(['--vehicles', '3', '--rate', '10', '--duration', '0.5', '--json'], json), 0);
  const summary = JSON.parse(json.out()) as Record<string, unknown>;
  t.equal(summary.vehicles, 3);
  t.equal(summary.messagesAcked, summary.messagesPublished);
  t.equal(summary.perVehicle, undefined, 'the JSON summary is aggregate only');
  t.type(summary.cpuPercent, 'number');
  t.ok(Array.isArray(summary.byBrand) && Array.isArray(summary.byCity), 'with totals by brand and by city');
  const again = captureIo(env);
  t.equal(await main(['--vehicles', '3', '--duration', '0.5', '--seed', '11'], again), 1, 'the same --seed twice is a VIN conflict');
  t.match(again.err(), /already registered.*\n  hint: .*--fresh-vins/);
  const printed = io.out() + io.err() + json.out() + json.err() + again.out() + again.err();
  t.notOk(printed.includes(cloud.token), 'the admin token is never printed');
  t.ok(cloud.passwords.length >= 6 && cloud.passwords.every((p) => !printed.includes(p)), 'no vehicle password is printed');
});
