// What the telemetry store's conformance suites (telemetry-suite.ts, dead-letters-suite.ts, cockpit-suite.ts) share:
// a fixture per backend, and data the contract validator would accept (real VINs, catalog signals).
import { randomInt } from 'node:crypto';
import { checkSignal, type SignalValue } from '../../services/contract/signals.ts';
import { VIN_PATTERN } from '../../services/contract/telemetry.ts';
import type { StoredSample, StoreLogger, TelemetryStore } from '../../services/store/telemetry-store.ts';
import type { TapTest } from '../helpers/tap.ts';

/** The suites take the tap test type from here. */
export type { TapTest };

export interface StoreFixture {
  /** A new, empty store; the suite calls `init()` itself. */
  store: TelemetryStore;
  /** Close whichever store of this fixture is still open (`store` or the one `reopen` gave) and drop its data. */
  cleanup: () => Promise<void>;
  /** Called after the suite closed `store`: a new store over the same data. Without it, persistence is not tested. */
  reopen?: () => Promise<TelemetryStore>;
}

/** A backend's fixture maker; the store logs to `logger` when one is given. */
export type MakeStore = (options?: { logger?: StoreLogger }) => Promise<StoreFixture>;

/** A fresh, initialized store for one subtest, cleaned up when it ends. */
export async function openFresh(t: TapTest, makeStore: MakeStore, options?: { logger?: StoreLogger }): Promise<StoreFixture> {
  const fixture = await makeStore(options);
  t.teardown(() => fixture.cleanup());
  await fixture.store.init();
  return fixture;
}

/**
 * Declare a test of data surviving close and reopen: `body` gets the first store, initialized, and `reopen`, which
 * gives a new initialized store over the same data once the test closed the first. The fixture decides whether
 * persistence can be tested, so it is made before the test is declared.
 */
export async function reopenTest(t: TapTest, makeStore: MakeStore, name: string, body: (t: TapTest, first: TelemetryStore, reopen: () => Promise<TelemetryStore>) => Promise<void>): Promise<void> {
  const persistent = await makeStore();
  try {
    await t.test(name, { skip: persistent.reopen ? false : 'the fixture offers no reopen' }, async (t) => {
      await persistent.store.init();
      await body(t, persistent.store, async () => {
        const store = await persistent.reopen!();
        await store.init();
        return store;
      });
    });
  } finally {
    await persistent.cleanup();
  }
}

/** A logger that keeps what was warned. */
export function warningsLogger(): { logger: StoreLogger; warnings: object[] } {
  const warnings: object[] = [];
  return { logger: { info: () => undefined, warn: (obj) => warnings.push(obj), error: () => undefined }, warnings };
}

const VIN_ALPHABET = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789';

/** A random VIN with a readable world-manufacturer prefix (ISO 3779 alphabet: no I, O or Q). */
export function randomVin(prefix = 'LNB'): string {
  let vin = prefix;
  while (vin.length < 17) vin += VIN_ALPHABET[randomInt(VIN_ALPHABET.length)];
  if (!VIN_PATTERN.test(vin)) throw new Error(`test bug: ${vin} is not a VIN`);
  return vin;
}

/** A stored sample whose signals the contract validator would accept (the suite checks its own data). */
export function storedSample(vin: string, ts: number, seq: number, signals: Record<string, SignalValue>): StoredSample {
  for (const [path, value] of Object.entries(signals)) {
    const problem = checkSignal(path, value);
    if (problem) throw new Error(`test bug: ${path}=${String(value)} is ${problem}`);
  }
  return { vin, ts, seq, brand: 'NIO', model: 'ET7', signals };
}
