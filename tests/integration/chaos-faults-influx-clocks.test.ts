// Chaos, Mosquitto + InfluxDB: vehicle clocks off, store-and-forward batches hours late.
// What every fault must show, and how it is run: chaos-suite.ts (the short variants of npm run chaos, docs/chaos.md).
// The faults are spread over several files so each stays well within tap's per-file timeout on a loaded machine.
import { chaosSuite } from './chaos-suite.ts';

await chaosSuite('mosquitto+influx', ['clocks', 'late-batches']);
