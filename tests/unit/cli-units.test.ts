// `--rate` and durations mean the same in every CLI (simulator, load tester, demo, bench): one parser, one meaning.
import t from 'tap';
import { main as bench } from '../../bench/run.ts';
import { demoPlan } from '../../tooling/demo.ts';
import { main as simulate, planFromArgs } from '../../simulators/fleet/cli.ts';
import { optionsFromArgs } from '../../simulators/loadtest/cli.ts';
import { parseDuration, parseRate } from '../../simulators/units.ts';

const env = { VC_ADMIN_TOKEN: 'cli-units-admin-token-0123' };
const io = () => {
  let out = '';
  let err = '';
  return { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env, out: () => out, err: () => err };
};

t.test('a duration is 500ms, 30s, 2m, 1h (and what else `ms` reads), or a bare number of seconds', async (t) => {
  t.same(['500ms', '30s', '2m', '1h', '1.5h', '30', '0.5', '0'].map(parseDuration), [500, 30_000, 120_000, 3_600_000, 5_400_000, 30_000, 500, 0]);
  for (const bad of ['soon', '', '-1', '-5s', '1e3']) t.throws(() => parseDuration(bad), /not a duration/, JSON.stringify(bad));
});

t.test('a rate is samples per second in total: 50, 5000, 5k, 1.5k', async (t) => {
  t.same(['50', '5000', '5k', '1.5k', '0.5', '200/s'].map(parseRate), [50, 5_000, 5_000, 1_500, 0.5, 200]);
  for (const bad of ['fast', '0', '-3', '5M']) t.throws(() => parseRate(bad), /not a rate/, JSON.stringify(bad));
});

t.test('--rate 2k --duration 2m is 2,000 samples per second in total for two minutes in every CLI', async (t) => {
  const argv = ['--vehicles', '10', '--rate', '2k', '--duration', '2m'];
  const fleet = planFromArgs(argv, env, '.');
  if (typeof fleet === 'string') throw new Error('expected a plan');
  t.same([fleet.rate, fleet.options.rate, fleet.options.durationS], [2_000, 200, 120], 'simulator: 200 per vehicle');
  const load = optionsFromArgs(argv, env, '.').options;
  t.same([load.schedule, load.durationMs], [{ kind: 'fixed', rate: 2_000 }, 120_000], 'load tester');
  const demo = demoPlan(argv);
  if (demo === 'help') throw new Error('expected a plan');
  t.same([demo.ratePerVehicle * demo.vehicles, demo.durationS], [2_000, 120], 'demo');
  const hour = ['--duration', '1h'];
  const fleetHour = planFromArgs(hour, env, '.');
  const demoHour = demoPlan(hour);
  t.same(
    [typeof fleetHour === 'string' ? 0 : fleetHour.options.durationS, optionsFromArgs(hour, env, '.').options.durationMs / 1000, demoHour === 'help' ? 0 : demoHour.durationS],
    [3_600, 3_600, 3_600],
    '1h is an hour everywhere',
  );
  const quiet = io();
  t.equal(await bench(['--step', '3m'], quiet), 2, 'bench: a 3-minute step is read as 180 s, over its bound');
  t.match(quiet.err(), /--step wants whole seconds in \[1, 120\] \(e\.g\. 10s, 1m\), got "3m"/);
});

t.test('without --rate, each simulated vehicle sends once a second; a rate no vehicle can send is refused', async (t) => {
  const plain = planFromArgs(['--vehicles', '7'], env, '.');
  if (typeof plain === 'string') throw new Error('expected a plan');
  t.same([plain.rate, plain.options.rate], [7, 1]);
  const demo = demoPlan([]);
  t.same(demo === 'help' ? undefined : [demo.vehicles, demo.ratePerVehicle, demo.durationS], [50, 1, 0], 'the demo: 50 vehicles at 1 Hz until Ctrl-C');
  const refused = io();
  t.equal(await simulate(['--vehicles', '2', '--rate', '5k'], refused), 2);
  t.match(refused.err(), /--rate 5k over 2 vehicles is 2500 samples per second each, over the 1000 a vehicle sends/);
});

t.test('the same bad duration is refused by every CLI, naming the flag', async (t) => {
  const sim = io();
  t.equal(await simulate(['--duration', 'soon'], sim), 2);
  t.match(sim.err(), /^simulate: --duration: not a duration: "soon"/);
  t.throws(() => optionsFromArgs(['--duration', 'soon'], env, '.'), /not a duration: "soon"/);
  t.throws(() => demoPlan(['--duration', 'soon']), /--duration: not a duration: "soon"/);
  const quiet = io();
  t.equal(await bench(['--step', 'soon'], quiet), 2);
  t.match(quiet.err(), /--step: not a duration: "soon"/);
});
