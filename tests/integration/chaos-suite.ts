// The short variants of `npm run chaos` as tap subtests (tests/integration/chaos-faults*.test.ts): each fault held a
// few seconds while a fleet publishes at QoS 1, then every acked sample must be stored exactly once (by seq), the
// cockpit must equal a recount from the raw samples, and the service must be ready again without a hand restart.
import t from 'tap';
import { canMountTmpfs, FAULTS, runFault } from '../../bench/chaos/faults.ts';
import type { DeploymentKind } from '../../bench/chaos/harness.ts';
import type { FaultResult } from '../../bench/chaos/types.ts';
import { influxdOrSkip } from '../../tooling/influxd.ts';
import { MOSQUITTO_BINARY } from '../../tooling/mosquitto.ts';
import { IN_CI, missingServer } from '../../tooling/system.ts';
import type { TapTest } from '../helpers/tap.ts';

export function assertFaultHeld(t: TapTest, r: FaultResult): void {
  t.same(r.notes.filter((n) => n.startsWith('FAIL')), [], 'every stated guarantee held');
  t.ok(r.acked > 0, `the fleet was acked (${r.acked} samples)`);
  t.equal(r.lost, 0, 'no acked sample lost');
  t.equal(r.duplicated, 0, 'no sample stored twice');
  t.equal(r.stored, r.acked, 'every acked sample stored');
  t.equal(r.cockpitExact, true, `the cockpit equals a recount from the raw samples${r.cockpitExact ? '' : `: ${r.notes.join('; ')}`}`);
  t.not(r.recoveryMs, null, 'the service recovered by itself');
  t.equal(r.extra?.healthy, 'yes', 'ready again');
}

/** A subtest per fault among `names` that applies to `kind`. */
export async function chaosSuite(kind: DeploymentKind, names: readonly string[]): Promise<void> {
  let missing: string | undefined;
  if (kind !== 'embedded') {
    const influxd = influxdOrSkip();
    missing = influxd.skip ?? missingServer('mosquitto', MOSQUITTO_BINARY);
  }
  const tmpfs = names.includes('disk-full') ? await canMountTmpfs() : true;
  for (const spec of FAULTS.filter((f) => names.includes(f.name) && f.deployments.includes(kind))) {
    const noDisk = spec.name === 'disk-full' && !tmpfs;
    // the disk-full fault needs a filesystem it can fill: in CI that is a failure, not a skip
    if (noDisk && IN_CI) {
      t.fail('disk-full needs to mount a tmpfs (root with CAP_SYS_ADMIN): required in CI');
      continue;
    }
    const skip = missing ?? (noDisk ? 'cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)' : false);
    t.test(`${spec.fault} [${kind}]`, { skip }, async (t) => {
      // bounds: false, as speed and memory are never asserted in tests (an exceeded bound is then only a note)
      const result = await runFault(spec, kind, { quick: true, bounds: false, log: (line) => t.comment(line) });
      assertFaultHeld(t, result);
    });
  }
}
