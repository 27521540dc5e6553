// `npm run chaos`'s faults, short, with Mosquitto + InfluxDB (the other half: chaos-faults-influx.test.ts): the
// service-broker and service-store links stalled and cut through a proxy, the spool's disk full, skewed clocks, late
// store-and-forward batches.
import { chaosSuite } from './chaos-suite.ts';

await chaosSuite('mosquitto+influx', ['broker-link', 'store-link', 'disk-full', 'clocks', 'late-batches']);
