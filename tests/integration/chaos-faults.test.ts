// `npm run chaos`'s faults, short, in the embedded deployment (embedded broker + store): kill -9, SIGTERM (the
// embedded broker goes and comes with the service), the spool's disk full, skewed clocks, late batches.
// Mosquitto + InfluxDB: chaos-faults-influx.test.ts and chaos-faults-links.test.ts. What each checks: chaos-suite.ts.
import { FAULTS } from '../../bench/chaos/faults.ts';
import { chaosSuite } from './chaos-suite.ts';

await chaosSuite('embedded', FAULTS.map((f) => f.name));
