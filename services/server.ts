// `npm start`: the service alone, configured from VC_* environment variables.
import { adminTokenNotice } from './api/auth.ts';
import { configFromEnv } from './config.ts';
import { startService } from './service.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = configFromEnv();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  const service = await startService(config);
  process.stderr.write(`admin token ${adminTokenNotice(service.adminToken)}\n`);
  process.stderr.write(`vehicle-cloud API ${service.apiUrl}  (docs ${service.apiUrl}/docs)  MQTT ${service.mqttUrl.replace(/\/\/[^@/]*@/, '//')}\n`);
  let signals = 0;
  const shutdown = (signal: string): void => {
    signals += 1;
    if (signals > 1) process.exit(1);
    service.logger.info({ event: 'signal', signal });
    service.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        service.logger.error({ event: 'stop_failed', err: String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`vehicle-cloud failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
