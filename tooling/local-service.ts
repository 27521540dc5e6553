// vehicle-cloud in this process, for tests and benchmarks that look inside it (its store, its twins) or need no
// process of their own; service.ts runs it as a child process instead.
import { randomBytes } from 'node:crypto';
import { configFrom, type ServiceConfig } from '../services/config.ts';
import { createLogger } from '../services/observability/logger.ts';
import { startService, type RunningService } from '../services/service.ts';
import { tempDir } from './system.ts';

export type LocalService = RunningService & { cleanup: () => Promise<void> };

/**
 * The service in this process on 127.0.0.1 (ports 0: the system picks), with a random admin token and a temp data dir
 * (removed by cleanup) unless `overrides` give them; its logger at `logLevel` (VC_TEST_LOG, else silent).
 */
export async function startLocalService(overrides: Partial<ServiceConfig> = {}, logLevel = process.env.VC_TEST_LOG ?? 'silent'): Promise<LocalService> {
  const data = overrides.dataDir ? undefined : await tempDir('service');
  const config = configFrom({
    host: '127.0.0.1',
    httpPort: 0,
    mqttPort: 0,
    adminToken: `test-admin-${randomBytes(8).toString('hex')}`,
    logLevel: 'warn',
    dataDir: data?.path,
    ...overrides,
  });
  let service: RunningService;
  try {
    service = await startService(config, { logger: createLogger(logLevel) });
  } catch (err) {
    await data?.remove();
    throw err;
  }
  return {
    ...service,
    cleanup: async () => {
      await service.stop();
      await data?.remove();
    },
  };
}
