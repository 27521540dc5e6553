// Runtime configuration (docs/operations.md, Configuration): defaults, one line per bad value naming the variable, and the
// rules between variables (how many processes write to the store, what an external broker URL may be, that
// several workers share one metadata database).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { configFromEnv } from '../../services/config.ts';
import { storeFlushDefault } from '../../services/service.ts';
import { gzipThreshold } from '../../services/store/influx/client.ts';

t.test('with no variables set, the documented defaults', (t) => {
  const config = configFromEnv({});
  t.equal(config.host, '127.0.0.1');
  t.equal(config.httpPort, 3000);
  t.equal(config.mqttPort, 1883);
  t.equal(config.mqttUrl, undefined, 'embedded broker');
  t.equal(config.influxUrl, undefined, 'embedded store');
  t.equal(config.databaseUrl, undefined, 'vehicles and tenants in the DuckDB file of the data dir');
  t.equal(config.influxDb, 'vehicle_cloud');
  t.equal(config.storeWriters, undefined, 'decided from the share group');
  t.equal(config.mqttDynsec, false);
  t.equal(config.mqttReceiveMaximum, 1000);
  t.equal(config.storeFlushMs, undefined, 'decided from the store');
  t.same([storeFlushDefault('embedded'), storeFlushDefault('influx')], [1000, 500], "a second for DuckDB's cost a write, 500 ms for InfluxDB");
  t.equal(configFromEnv({ VC_STORE_FLUSH_MS: '0' }).storeFlushMs, 0, 'set: taken as it is, 0 included');
  t.equal(config.cockpitCacheMb, 256, 'the cockpit reader keeps 256 MiB');
  t.equal(configFromEnv({ VC_COCKPIT_CACHE_MB: '0' }).cockpitCacheMb, 0, 'or nothing');
  t.throws(() => configFromEnv({ VC_COCKPIT_CACHE_MB: '-1' }), /VC_COCKPIT_CACHE_MB/);
  t.end();
});

t.test('every bad value is reported at once, each naming its variable', (t) => {
  let message = '';
  try {
    configFromEnv({ VC_MQTT_RECEIVE_MAXIMUM: '0', VC_HTTP_PORT: '70000', VC_SPOOL_FSYNC: 'sometimes', VC_STORE_WRITERS: 'two', VC_MQTT_DYNSEC: 'maybe' });
  } catch (err) {
    message = (err as Error).message;
  }
  for (const name of ['VC_MQTT_RECEIVE_MAXIMUM', 'VC_HTTP_PORT', 'VC_SPOOL_FSYNC', 'VC_STORE_WRITERS', 'VC_MQTT_DYNSEC']) t.match(message, new RegExp(`\\n  ${name}: `), name);
  t.end();
});

t.test('VC_STORE_WRITERS: one or many; a share group means many, and one with a share group is refused', (t) => {
  t.equal(configFromEnv({ VC_STORE_WRITERS: 'many' }).storeWriters, 'many');
  t.equal(configFromEnv({ VC_STORE_WRITERS: 'one' }).storeWriters, 'one');
  const shared = { VC_MQTT_URL: 'mqtt://127.0.0.1:1883', VC_MQTT_SHARE_GROUP: 'g', VC_DATABASE_URL: 'postgres://vc:pw@127.0.0.1:5432/vc' };
  t.equal(configFromEnv({ ...shared, VC_STORE_WRITERS: 'many' }).storeWriters, 'many');
  t.throws(() => configFromEnv({ ...shared, VC_STORE_WRITERS: 'one' }), /VC_STORE_WRITERS: VC_MQTT_SHARE_GROUP means several/);
  t.end();
});

t.test('an external broker is an mqtt:// or mqtts:// URL (tcp/ssl/tls schemes too)', (t) => {
  for (const url of ['mqtt://broker:1883', 'mqtts://broker:8883', 'tcp://10.0.0.1:1883', 'ssl://b:8883', 'tls://b:8883', 'MQTT://Broker']) {
    t.equal(configFromEnv({ VC_MQTT_URL: url }).mqttUrl, url, url);
  }
  for (const url of ['http://broker:1883', 'ws://broker:8080/mqtt', 'broker:1883']) {
    t.throws(() => configFromEnv({ VC_MQTT_URL: url }), /VC_MQTT_URL/, url);
  }
  t.end();
});

t.test('the broker URL handed to vehicles can be set apart from the one the service uses', (t) => {
  t.equal(configFromEnv({}).mqttPublicUrl, undefined, 'by default the one the service uses');
  t.equal(configFromEnv({ VC_MQTT_PUBLIC_URL: 'mqtts://vehicles.example.com:8883' }).mqttPublicUrl, 'mqtts://vehicles.example.com:8883');
  t.throws(() => configFromEnv({ VC_MQTT_PUBLIC_URL: 'https://vehicles.example.com' }), /VC_MQTT_PUBLIC_URL/);
  t.end();
});

t.test('dynamic security needs an external broker and its admin credentials', (t) => {
  t.throws(() => configFromEnv({ VC_MQTT_DYNSEC: 'true' }), /VC_MQTT_DYNSEC: needs VC_MQTT_URL/);
  t.equal(configFromEnv({ VC_MQTT_DYNSEC: 'yes', VC_MQTT_URL: 'mqtt://b:1883', VC_MQTT_USERNAME: 'admin', VC_MQTT_PASSWORD: 'pw' }).mqttDynsec, true);
  t.end();
});

t.test('VC_DATABASE_URL is a PostgreSQL URL, and an invalid one is reported without its password', (t) => {
  t.equal(configFromEnv({ VC_DATABASE_URL: 'postgres://vc:s3cret@db.internal:5432/vehicle_cloud' }).databaseUrl, 'postgres://vc:s3cret@db.internal:5432/vehicle_cloud');
  t.equal(configFromEnv({ VC_DATABASE_URL: 'postgresql://127.0.0.1/vc' }).databaseUrl, 'postgresql://127.0.0.1/vc');
  t.equal(configFromEnv({ VC_DATABASE_URL: '' }).databaseUrl, undefined, 'empty means unset');
  for (const bad of ['mysql://vc:s3cret@127.0.0.1/vc', 'postgres:vc:s3cret', 'vc:s3cret@127.0.0.1']) {
    let message = '';
    try {
      configFromEnv({ VC_DATABASE_URL: bad });
    } catch (err) {
      message = (err as Error).message;
    }
    t.match(message, /VC_DATABASE_URL: /, `${bad.split(':')[0]}... is refused`);
    t.notMatch(message, /s3cret/, 'the message never repeats the password');
  }
  t.end();
});

t.test('any variable can be read from the file named by <name>_FILE (docker secrets), one trailing newline dropped', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vc-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const config = configFromEnv({
    VC_MQTT_URL: 'mqtt://mosquitto:1883',
    VC_MQTT_USERNAME: 'vehicle-cloud',
    VC_MQTT_PASSWORD_FILE: file('mqtt', 'mq pass\n'),
    VC_INFLUX_USERNAME: 'vehicle_cloud',
    VC_INFLUX_PASSWORD_FILE: file('influx', 'in\n\n'),
    VC_METRICS_TOKEN_FILE: file('metrics', 'm-token\r\n'),
    VC_HTTP_PORT_FILE: file('port', '3100'),
  });
  t.equal(config.mqttPassword, 'mq pass', 'the trailing newline is dropped, inner spaces kept');
  t.equal(config.influxPassword, 'in\n', 'only one trailing newline is dropped');
  t.equal(config.metricsToken, 'm-token', 'a CRLF too');
  t.equal(config.httpPort, 3100, 'and the value is checked as if given directly');

  t.throws(() => configFromEnv({ VC_INFLUX_PASSWORD: 'a', VC_INFLUX_PASSWORD_FILE: file('twice', 'b') }), /VC_INFLUX_PASSWORD_FILE: VC_INFLUX_PASSWORD is set too/);
  let message = '';
  try {
    configFromEnv({ VC_INFLUX_PASSWORD_FILE: join(dir, 'missing'), VC_HTTP_PORT: '70000' });
  } catch (err) {
    message = (err as Error).message;
  }
  t.match(message, /\n {2}VC_INFLUX_PASSWORD_FILE: cannot read .*missing \(ENOENT\)/, 'a file that cannot be read is named');
  t.match(message, /\n {2}VC_HTTP_PORT: /, 'with every other bad value');
  t.equal(configFromEnv({ VC_ADMIN_TOKEN_FILE: '' }).adminToken, undefined, 'an empty <name>_FILE means unset');
  t.end();
});

t.test('VC_DATABASE_PASSWORD (or its file) completes a VC_DATABASE_URL that carries no password', (t) => {
  const url = 'postgres://vehicle_cloud@postgres:5432/vehicle_cloud';
  const config = configFromEnv({ VC_DATABASE_URL: url, VC_DATABASE_PASSWORD: 'p@ss:w/rd%' });
  const parsed = new URL(config.databaseUrl!);
  t.equal(decodeURIComponent(parsed.password), 'p@ss:w/rd%', 'any character survives, encoded');
  t.equal(parsed.host, 'postgres:5432');
  t.equal(decodeURIComponent(parsed.username), 'vehicle_cloud');
  t.equal(parsed.pathname, '/vehicle_cloud');
  t.throws(() => configFromEnv({ VC_DATABASE_PASSWORD: 'x' }), /VC_DATABASE_PASSWORD: is the password of VC_DATABASE_URL, which is unset/);
  t.throws(() => configFromEnv({ VC_DATABASE_URL: 'postgres://vc:old@db/vc', VC_DATABASE_PASSWORD: 'x' }), /VC_DATABASE_PASSWORD: VC_DATABASE_URL already holds a password/);
  t.end();
});

t.test('a share group needs VC_DATABASE_URL: several ingest workers must share one registry', (t) => {
  t.throws(() => configFromEnv({ VC_MQTT_URL: 'mqtt://127.0.0.1:1883', VC_MQTT_SHARE_GROUP: 'g' }), /VC_MQTT_SHARE_GROUP: several ingest workers need one registry: set VC_DATABASE_URL/);
  t.equal(configFromEnv({ VC_MQTT_URL: 'mqtt://127.0.0.1:1883', VC_MQTT_SHARE_GROUP: 'g', VC_DATABASE_URL: 'postgres://127.0.0.1/vc' }).mqttShareGroup, 'g');
  t.end();
});

t.test('InfluxDB retention: InfluxQL durations, at least 1h raw and 8d rollups, rollups outliving raw points', (t) => {
  const none = configFromEnv({});
  t.equal(none.influxRetentionRaw, undefined, 'unset: raw points in the database\'s default policy, as it is');
  t.equal(none.influxRetentionRollups, undefined, 'unset: vc_rollups created as inf, else left as it is');
  const set = configFromEnv({ VC_INFLUX_RETENTION_RAW: '30d', VC_INFLUX_RETENTION_ROLLUPS: 'inf' });
  t.same([set.influxRetentionRaw, set.influxRetentionRollups], ['30d', 'inf'], 'kept as written');
  t.equal(configFromEnv({ VC_INFLUX_RETENTION_RAW: '' }).influxRetentionRaw, undefined, 'empty means unset');
  t.equal(configFromEnv({ VC_INFLUX_RETENTION_RAW: '1h' }).influxRetentionRaw, '1h', 'InfluxDB\'s shortest is allowed');
  const refused: Array<[Record<string, string>, RegExp]> = [
    [{ VC_INFLUX_RETENTION_RAW: '30 days' }, /\n  VC_INFLUX_RETENTION_RAW: an InfluxQL duration such as 30d, 4w, 720h, or inf/],
    [{ VC_INFLUX_RETENTION_RAW: '30m' }, /\n  VC_INFLUX_RETENTION_RAW: at least 1h, or inf/],
    [{ VC_INFLUX_RETENTION_ROLLUPS: '7d' }, /\n  VC_INFLUX_RETENTION_ROLLUPS: at least 8d, or inf/],
    [{ VC_INFLUX_RETENTION_RAW: '90d', VC_INFLUX_RETENTION_ROLLUPS: '30d' }, /\n  VC_INFLUX_RETENTION_ROLLUPS: must be at least VC_INFLUX_RETENTION_RAW/],
    [{ VC_INFLUX_RETENTION_RAW: 'inf', VC_INFLUX_RETENTION_ROLLUPS: '400d' }, /VC_INFLUX_RETENTION_ROLLUPS: must be at least/],
  ];
  for (const [env, message] of refused) t.throws(() => configFromEnv(env), message, JSON.stringify(env));
  t.end();
});

t.test('InfluxDB writes: chunk lines, gzip threshold and request timeout, with their documented defaults', (t) => {
  const none = configFromEnv({});
  t.equal(none.influxWriteChunkLines, 5000);
  t.equal(none.influxGzipBytes, undefined, 'unset: 64 KiB, but never for a server on loopback (decided by the client)');
  t.equal(none.influxTimeoutMs, 30_000);
  const set = configFromEnv({ VC_INFLUX_WRITE_CHUNK_LINES: '20000', VC_INFLUX_GZIP_BYTES: '1048576', VC_INFLUX_TIMEOUT_MS: '5000' });
  t.same([set.influxWriteChunkLines, set.influxGzipBytes, set.influxTimeoutMs], [20_000, 1_048_576, 5_000]);
  t.equal(configFromEnv({ VC_INFLUX_GZIP_BYTES: 'off' }).influxGzipBytes, Number.POSITIVE_INFINITY, 'off: never');
  t.equal(configFromEnv({ VC_INFLUX_GZIP_BYTES: '0' }).influxGzipBytes, 0, '0: every body');
  const refused: Array<[Record<string, string>, RegExp]> = [
    [{ VC_INFLUX_WRITE_CHUNK_LINES: '0' }, /\n  VC_INFLUX_WRITE_CHUNK_LINES: /],
    [{ VC_INFLUX_WRITE_CHUNK_LINES: '100000' }, /\n  VC_INFLUX_WRITE_CHUNK_LINES: /],
    [{ VC_INFLUX_WRITE_CHUNK_LINES: '2.5' }, /\n  VC_INFLUX_WRITE_CHUNK_LINES: /],
    [{ VC_INFLUX_GZIP_BYTES: 'sometimes' }, /\n  VC_INFLUX_GZIP_BYTES: /],
    [{ VC_INFLUX_GZIP_BYTES: '-1' }, /\n  VC_INFLUX_GZIP_BYTES: /],
    [{ VC_INFLUX_GZIP_BYTES: '1.5' }, /\n  VC_INFLUX_GZIP_BYTES: a whole number of bytes, or off/],
    [{ VC_INFLUX_TIMEOUT_MS: '10' }, /\n  VC_INFLUX_TIMEOUT_MS: /],
  ];
  for (const [env, message] of refused) t.throws(() => configFromEnv(env), message, JSON.stringify(env));
  t.end();
});

t.test('the gzip threshold: as set, else 64 KiB for a remote server and never for one on loopback', (t) => {
  t.equal(gzipThreshold('influx.example.com', undefined), 64 * 1024);
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '[::1]']) t.equal(gzipThreshold(host, undefined), Number.POSITIVE_INFINITY, host);
  t.equal(gzipThreshold('127.0.0.1', 0), 0, 'a set value applies on loopback too');
  t.equal(gzipThreshold('influx.example.com', Number.POSITIVE_INFINITY), Number.POSITIVE_INFINITY);
  t.end();
});
