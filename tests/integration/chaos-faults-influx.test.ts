// `npm run chaos`'s faults, short, with Mosquitto + InfluxDB (half of them; the rest: chaos-faults-links.test.ts, in
// two files to stay well within tap's per-file timeout on a loaded machine): kill -9, SIGTERM, Mosquitto restarted,
// InfluxDB down, a slow store until the spool is full.
import { chaosSuite } from './chaos-suite.ts';

await chaosSuite('mosquitto+influx', ['kill9', 'sigterm', 'broker-restart', 'influx-down', 'slow-store']);
