// What `npm start` tells the operator about the admin token: the token itself once, when it is generated; after that
// only where it is kept. It is never in a log line, whatever the log level.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { spawnService } from '../../tooling/service.ts';
import { freePort, tempDir } from '../../tooling/system.ts';

t.test('the admin token is printed once, when it is generated; afterwards the path to it', async (t) => {
  const data = await tempDir('startup');
  t.teardown(data.remove);
  const start = async () => {
    const env = { VC_HTTP_PORT: String(await freePort()), VC_MQTT_PORT: String(await freePort()), VC_DATA_DIR: data.path, VC_ADMIN_TOKEN: '', VC_LOG_LEVEL: 'trace' };
    const service = await spawnService(env);
    await fetch(`http://127.0.0.1:${env.VC_HTTP_PORT}/api/v1/vehicles`, { headers: { authorization: `Bearer ${await readFile(join(data.path, 'admin-token'), 'utf8').then((s) => s.trim())}` } });
    await service.stop();
    return service.output();
  };
  const first = await start();
  const path = join(data.path, 'admin-token');
  const token = (await readFile(path, 'utf8')).trim();
  t.equal(first.split(token).length - 1, 1, 'the generated token appears once in everything the first start printed and logged');
  t.match(first, `admin token ${token}   (generated now and kept in ${path}; printed only this once)`);
  t.ok(first.includes('"level":10') || first.includes('"level":20') || first.includes('"level":30'), 'the log lines are in the output too');
  const second = await start();
  t.notOk(second.includes(token), 'a later start never prints it');
  t.match(second, `admin token kept in ${path}`);
});
