// Chaos, Mosquitto + InfluxDB: the service-broker and service-store links stalled and cut through a proxy, the spool's disk full.
// What every fault must show, and how it is run: chaos-suite.ts (the short variants of npm run chaos, docs/chaos.md).
// The faults are spread over several files so each stays well within tap's per-file timeout on a loaded machine.
import { chaosSuite } from './chaos-suite.ts';

await chaosSuite('mosquitto+influx', ['broker-link', 'store-link', 'disk-full']);
