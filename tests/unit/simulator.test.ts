// The fleet simulator: its vehicle model driven by a fake clock (deterministic, contract-valid, physically
// plausible), then its runtime and CLI against a fake API and an in-process broker.
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import t from 'tap';
import { decodeTelemetry, telemetryTopic, VIN_PATTERN, type TelemetrySample } from '../../services/contract/telemetry.ts';
import { SIGNALS } from '../../services/contract/signals.ts';
import { FLEET_CATALOG } from '../../simulators/fleet/catalog.ts';
import {
  distanceM,
  fixedClock,
  planFleet,
  simulateSamples,
  SIMULATED_SIGNALS,
  vinCheckDigit,
  type FleetVehicle,
} from '../../simulators/fleet/vehicle-model.ts';
import { runFleet, type FleetOptions, type FleetProgress, type FleetSummary } from '../../simulators/fleet/fleet.ts';
import { main, planFromArgs, resolveToken, type CliIo } from '../../simulators/fleet/cli.ts';
import { freePort } from '../helpers/system.ts';

const START = Date.UTC(2026, 0, 15, 8, 0, 0);
const SEED = 42;
const SPEED = 'Vehicle.Speed';
const LAT = 'Vehicle.CurrentLocation.Latitude';
const LON = 'Vehicle.CurrentLocation.Longitude';
const ODOMETER = 'Vehicle.TraveledDistance';
const SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Current';
const CHARGING = 'Vehicle.Powertrain.TractionBattery.Charging.IsCharging';
const FUEL = 'Vehicle.Powertrain.FuelSystem.RelativeLevel';
const TIRES = [
  'Vehicle.Chassis.Axle.Row1.Wheel.Left.Tire.Pressure',
  'Vehicle.Chassis.Axle.Row1.Wheel.Right.Tire.Pressure',
  'Vehicle.Chassis.Axle.Row2.Wheel.Left.Tire.Pressure',
  'Vehicle.Chassis.Axle.Row2.Wheel.Right.Tire.Pressure',
];

interface Trace {
  vehicle: FleetVehicle;
  samples: TelemetrySample[];
}

function simulate(vehicles: number, minutes: number, intervalMs = 1000, seed = SEED): Trace[] {
  return planFleet({ seed, vehicles }).map((vehicle) => ({
    vehicle,
    samples: [...simulateSamples(vehicle, { seed, startTs: START }, fixedClock(START, intervalMs, (minutes * 60_000) / intervalMs))],
  }));
}

const num = (sample: TelemetrySample | undefined, path: string): number => {
  const value = sample?.signals[path];
  if (typeof value !== 'number') throw new Error(`${path} is not a number: ${String(value)}`);
  return value;
};

const minOf = (values: number[]): number => values.reduce((a, b) => Math.min(a, b), Infinity);
const maxOf = (values: number[]): number => values.reduce((a, b) => Math.max(a, b), -Infinity);

/** Consecutive sample pairs of every trace. */
function* pairs(traces: Trace[]): Generator<[TelemetrySample, TelemetrySample, FleetVehicle]> {
  for (const { vehicle, samples } of traces) {
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1];
      const b = samples[i];
      if (a && b) yield [a, b, vehicle];
    }
  }
}

const fleet20 = simulate(20, 10);

t.test('the same seed gives the same fleet and the same samples; another seed does not', async (t) => {
  t.same(planFleet({ seed: SEED, vehicles: 50 }), planFleet({ seed: SEED, vehicles: 50 }), 'same vehicles');
  t.same(simulate(20, 10), fleet20, 'same samples, signal by signal');
  const other = simulate(20, 10, 1000, SEED + 1);
  t.notSame(other.map((trace) => trace.vehicle.vin), fleet20.map((trace) => trace.vehicle.vin), 'other VINs');
  t.notSame(other[0]?.samples[10]?.signals, fleet20[0]?.samples[10]?.signals, 'other signals');
});

t.test('VINs are 17 ISO 3779 characters with a valid check digit, unique within a fleet', async (t) => {
  const vehicles = planFleet({ seed: SEED, vehicles: 2_000 });
  const bad = vehicles.filter(({ vin }) => !VIN_PATTERN.test(vin) || vin[8] !== vinCheckDigit(vin));
  t.same(bad, [], 'every VIN is well formed');
  t.equal(new Set(vehicles.map((v) => v.vin)).size, vehicles.length, 'no VIN twice');
  t.equal(vinCheckDigit('1M8GDM9AXKP042788'), 'X', 'the check digit of the standard example VIN');
});

t.test('a VIN salt gives other VINs for the same vehicles', async (t) => {
  const plain = planFleet({ seed: SEED, vehicles: 30 });
  const salted = planFleet({ seed: SEED, vehicles: 30, vinSalt: 'run-2' });
  t.same(salted.map(({ vin: _vin, ...rest }) => rest), plain.map(({ vin: _vin, ...rest }) => rest), 'same brands, models, years');
  t.equal(salted.filter((v, i) => v.vin === plain[i]?.vin).length, 0, 'no VIN shared');
});

t.test('the fleet mixes brands, models and all three powertrains', async (t) => {
  const vehicles = planFleet({ seed: SEED, vehicles: 200 });
  t.ok(new Set(FLEET_CATALOG.map((m) => m.brand)).size >= 3, 'at least 3 brands in the catalog');
  t.ok(FLEET_CATALOG.length >= 6, 'at least 6 models in the catalog');
  t.same(new Set(vehicles.map((v) => v.powertrain)), new Set(['bev', 'phev', 'ice']), 'all powertrains fielded');
  t.same(new Set(vehicles.map((v) => v.brand)), new Set(FLEET_CATALOG.map((m) => m.brand)), 'every brand fielded');
});

t.test('every sample of 20 vehicles over 10 simulated minutes passes the contract validator', async (t) => {
  let checked = 0;
  const rejections: string[] = [];
  for (const { vehicle, samples } of fleet20) {
    for (const sample of samples) {
      const result = decodeTelemetry(telemetryTopic(vehicle.vin), JSON.stringify({ vin: vehicle.vin, ...sample }), sample.ts);
      if (!result.ok) rejections.push(`${vehicle.vin}#${sample.seq}: ${result.reason} ${result.detail}`);
      else if (result.rejected.length > 0) rejections.push(...result.rejected.map((r) => `${vehicle.vin}#${sample.seq}: ${r.reason} ${r.detail}`));
      else checked += result.samples.length;
    }
    // A store-and-forward batch of the same samples (200 of them stay under the 256 KiB payload limit).
    const batch = decodeTelemetry(telemetryTopic(vehicle.vin), JSON.stringify({ vin: vehicle.vin, samples: samples.slice(0, 200) }), START + 600_000);
    if (!batch.ok || batch.rejected.length > 0 || batch.samples.length !== 200) rejections.push(`${vehicle.vin}: batch rejected`);
  }
  t.same(rejections.slice(0, 5), [], 'zero rejections');
  t.equal(checked, 20 * 600, 'all 12,000 samples accepted');
});

t.test('samples carry only catalog signals, each powertrain its own energy signals', async (t) => {
  t.same(SIMULATED_SIGNALS.filter((path) => !SIGNALS.has(path)), [], 'every simulated signal is in the catalog');
  const emitted = new Set(fleet20.flatMap(({ samples }) => samples.flatMap((s) => Object.keys(s.signals))));
  t.same(emitted, new Set(SIMULATED_SIGNALS), 'and every one is emitted');
  const wrongBattery = fleet20.filter(({ vehicle, samples }) => samples.some((s) => (SOC in s.signals && CHARGING in s.signals) !== (vehicle.powertrain !== 'ice')));
  t.same(wrongBattery.map((v) => v.vehicle.model), [], 'battery signals iff the vehicle has a traction battery');
  const wrongFuel = fleet20.filter(({ vehicle, samples }) => samples.some((s) => FUEL in s.signals !== (vehicle.powertrain !== 'bev')));
  t.same(wrongFuel.map((v) => v.vehicle.model), [], 'fuel level iff the vehicle has a tank');
});

t.test('seq starts at 0 and increases by 1 per sample', async (t) => {
  t.same(fleet20.filter(({ samples }) => samples.some((s, i) => s.seq !== i)).map((trace) => trace.vehicle.vin), [], 'seq = sample index, for every vehicle');
});

t.test('vehicles never teleport: the distance between positions matches speed * dt', async (t) => {
  let worst = 0;
  let offenders = 0;
  let accelerationOffenders = 0;
  for (const [a, b] of pairs(fleet20)) {
    const dt = (b.ts - a.ts) / 1000;
    const moved = distanceM({ lat: num(a, LAT), lon: num(a, LON) }, { lat: num(b, LAT), lon: num(b, LON) });
    const expected = ((num(a, SPEED) + num(b, SPEED)) / 2 / 3.6) * dt;
    const error = Math.abs(moved - expected);
    worst = Math.max(worst, error);
    // Positions are rounded to 1e-6 degrees (about 0.1 m) and speeds to 0.1 km/h.
    if (error > 1 + 0.02 * expected) offenders++;
    if (Math.abs(num(b, SPEED) - num(a, SPEED)) / 3.6 / dt > 3.1) accelerationOffenders++;
  }
  t.equal(offenders, 0, `distance consistent with speed (worst error ${worst.toFixed(2)} m)`);
  t.equal(accelerationOffenders, 0, 'no acceleration or braking beyond 3 m/s2');
});

t.test('speeds are plausible city driving, with stops', async (t) => {
  const speeds = fleet20.flatMap(({ samples }) => samples.map((s) => num(s, SPEED)));
  const moving = speeds.filter((v) => v > 0);
  const mean = moving.reduce((a, b) => a + b, 0) / moving.length;
  t.ok(maxOf(speeds) <= 130, 'never above 130 km/h');
  t.ok(minOf(speeds) >= 0, 'never negative');
  t.ok(mean > 15 && mean < 90, `mean moving speed ${mean.toFixed(1)} km/h`);
  t.ok(speeds.filter((v) => v === 0).length > 0, 'some vehicles stand still');
  const stopsWhileDriving = fleet20.filter(({ samples }) =>
    samples.some((s, i) => i > 0 && num(s, SPEED) === 0 && num(samples[i - 1], SPEED) > 0 && samples.slice(i).some((later) => num(later, SPEED) > 0)),
  );
  t.ok(stopsWhileDriving.length > 0, `${stopsWhileDriving.length} vehicles stopped and drove on`);
});

t.test('the odometer is monotonic and grows by the distance driven', async (t) => {
  let backwards = 0;
  let mismatched = 0;
  for (const [a, b] of pairs(fleet20)) {
    const delta = (num(b, ODOMETER) - num(a, ODOMETER)) * 1000;
    if (delta < 0) backwards++;
    const moved = distanceM({ lat: num(a, LAT), lon: num(a, LON) }, { lat: num(b, LAT), lon: num(b, LON) });
    if (Math.abs(delta - moved) > 1.5 + 0.02 * moved) mismatched++;
  }
  t.equal(backwards, 0, 'never decreases');
  t.equal(mismatched, 0, 'odometer delta = distance between positions');
});

t.test('SoC stays in 0-100, falls while driving and rises only while charging', async (t) => {
  let risingWhileDriving = 0;
  let risingNotCharging = 0;
  let outOfRange = 0;
  for (const [a, b] of pairs(fleet20)) {
    if (!(SOC in a.signals)) continue;
    const [socA, socB] = [num(a, SOC), num(b, SOC)];
    if (socB < 0 || socB > 100) outOfRange++;
    if (socB > socA && (num(a, SPEED) > 0 || num(b, SPEED) > 0)) risingWhileDriving++;
    if (socB > socA && b.signals[CHARGING] !== true) risingNotCharging++;
  }
  t.equal(outOfRange, 0, 'within 0-100 %');
  t.equal(risingWhileDriving, 0, 'never rises while moving');
  t.equal(risingNotCharging, 0, 'rises only while charging');
  const bevsThatDrove = fleet20.filter(({ vehicle, samples }) => vehicle.powertrain === 'bev' && num(samples.at(-1), ODOMETER) - num(samples[0], ODOMETER) > 1);
  t.ok(bevsThatDrove.length > 0, 'some BEVs drove more than 1 km');
  t.same(
    bevsThatDrove.filter(({ samples }) => !(num(samples.at(-1), SOC) < num(samples[0], SOC))).map((trace) => trace.vehicle.vin),
    [],
    `the SoC of all ${bevsThatDrove.length} fell with distance`,
  );
});

t.test('over a simulated day, BEVs parked at low SoC charge and combustion cars refuel', async (t) => {
  const day = simulate(20, 24 * 60, 10_000);
  const charged = day.filter(({ samples }) =>
    samples.some((s, i) => s.signals[CHARGING] === true && num(s, SPEED) === 0 && i > 0 && num(s, SOC) > num(samples[i - 1], SOC)),
  );
  t.ok(charged.length > 0, `${charged.length} vehicles charged, SoC rising`);
  const refuelled = day.filter(({ samples }) => samples.some((s, i) => FUEL in s.signals && i > 0 && num(s, FUEL) > num(samples[i - 1], FUEL)));
  t.ok(refuelled.length > 0, `${refuelled.length} vehicles refuelled`);
  const socs = day.flatMap(({ samples }) => samples.filter((s) => SOC in s.signals).map((s) => num(s, SOC)));
  t.ok(minOf(socs) >= 0 && maxOf(socs) <= 100, 'SoC within 0-100 % all day');
  const radius = maxOf(day.flatMap(({ samples }) => samples.map((s) => distanceM({ lat: 31.2304, lon: 121.4737 }, { lat: num(s, LAT), lon: num(s, LON) }))));
  t.ok(radius < 25_000, `vehicles stay around the city centre (farthest ${(radius / 1000).toFixed(1)} km)`);
});

t.test('tire pressures, ADAS levels and temperatures stay plausible', async (t) => {
  const all = fleet20.flatMap(({ samples }) => samples);
  const pressures = all.flatMap((s) => TIRES.map((p) => num(s, p)));
  t.ok(minOf(pressures) >= 228 && maxOf(pressures) <= 252, `tires ${minOf(pressures)}-${maxOf(pressures)} kPa`);
  const levels = new Set(all.map((s) => num(s, 'Vehicle.ADAS.ActiveAutonomyLevel')));
  t.ok([...levels].every((l) => l === 0 || l === 1 || l === 2), `ADAS levels ${[...levels].join(', ')}`);
  t.ok(levels.has(0) && levels.size > 1, 'assistance is engaged some of the time');
  const cabin = all.map((s) => num(s, 'Vehicle.Cabin.HVAC.AmbientAirTemperature'));
  t.ok(minOf(cabin) > 0 && maxOf(cabin) < 40, `cabin ${minOf(cabin)}-${maxOf(cabin)} C`);
});

t.test('a gap between samples is integrated, not jumped', async (t) => {
  const [vehicle] = planFleet({ seed: SEED, vehicles: 1 });
  if (!vehicle) throw new Error('no vehicle');
  const everySecond = [...simulateSamples(vehicle, { seed: SEED, startTs: START }, fixedClock(START, 1000, 121))];
  const twoSamples = [...simulateSamples(vehicle, { seed: SEED, startTs: START }, [START, START + 120_000])];
  const odometerGap = num(twoSamples[1], ODOMETER) - num(twoSamples[0], ODOMETER);
  t.ok(odometerGap >= 0 && odometerGap < (130 / 3600) * 120, `${(odometerGap * 1000).toFixed(0)} m in 2 minutes`);
  t.equal(twoSamples[1]?.seq, 1, 'one sample, one seq');
  t.ok(everySecond.length === 121, 'the 1 Hz trace has 121 samples');
});

// ---------------------------------------------------------------------------------------------------------
// The fleet runtime and its CLI, against a fake registration API and an in-process Aedes broker that checks
// each vehicle's credentials and validates every message with the contract before its PUBACK.

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
  t.ok(summary.messagesPublished >= 6 * 10, `${summary.messagesPublished} messages in 1 s at 20 Hz`);
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
  for (const argv of [['--vehicles', 'many'], ['--rate', '0'], ['--nope'], ['--duration=-1'], ['--duration', '-1'], ['--batch-every', '0'], ['--api', 'not a url']]) {
    const io = captureIo({ VC_ADMIN_TOKEN: 'x'.repeat(20) });
    t.equal(await main(argv, io), 2, `${argv.join(' ')} is a usage error`);
    t.match(io.err(), /^simulate: .*\n\(see --help\)\n$/);
  }
});

t.test('the CLI finds the admin token in the data dir and says where it looked when there is none', async (t) => {
  const dir = t.testdir({ data: { 'admin-token': 'file-token-0123456789\n' } });
  t.equal(resolveToken(undefined, {}, dir), 'file-token-0123456789');
  t.equal(resolveToken(undefined, { VC_ADMIN_TOKEN: 'env-token' }, dir), 'env-token');
  t.equal(resolveToken('flag-token', { VC_ADMIN_TOKEN: 'env-token' }, dir), 'flag-token');
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
  const json = captureIo(env);
  t.equal(await main(['--vehicles', '3', '--rate', '10', '--duration', '0.5', '--json'], json), 0);
  const summary = JSON.parse(json.out()) as Record<string, unknown>;
  t.equal(summary.vehicles, 3);
  t.equal(summary.messagesAcked, summary.messagesPublished);
  t.equal(summary.perVehicle, undefined, 'the JSON summary is aggregate only');
  const again = captureIo(env);
  t.equal(await main(['--vehicles', '3', '--duration', '0.5', '--seed', '11'], again), 1, 'the same --seed twice is a VIN conflict');
  t.match(again.err(), /already registered.*\n  hint: .*--fresh-vins/);
  const printed = io.out() + io.err() + json.out() + json.err() + again.out() + again.err();
  t.notOk(printed.includes(cloud.token), 'the admin token is never printed');
  t.ok(cloud.passwords.length >= 6 && cloud.passwords.every((p) => !printed.includes(p)), 'no vehicle password is printed');
});
