// A real Mosquitto 2 broker for integration tests and benchmarks: generated config in a temp dir, persistence on, no queue
// limit (Mosquitto's default max_queued_messages 1000 silently drops QoS 1 messages for a slow subscriber).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findBinary, freePort, tempDir, terminate, waitFor } from './system.ts';

export const MOSQUITTO_BINARY = findBinary(['/usr/sbin/mosquitto', 'mosquitto']);
export const MOSQUITTO_CTRL_BINARY = findBinary(['/usr/bin/mosquitto_ctrl', 'mosquitto_ctrl']);

/** Mosquitto's dynamic security plugin: Debian ships it in the multiarch lib dir (`dpkg -L mosquitto`). */
export const DYNSEC_PLUGIN = ((): string | undefined => {
  const dirs = ['/usr/lib', '/usr/local/lib'];
  for (const dir of dirs) {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      continue;
    }
    for (const candidate of [join(dir, 'mosquitto_dynamic_security.so'), ...entries.map((e) => join(dir, e, 'mosquitto_dynamic_security.so'))]) {
      if (existsSync(candidate)) return candidate;
    }
  }
  return undefined;
})();

export interface MosquittoOptions {
  /** Listen port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /** Extra mosquitto.conf lines, appended after the defaults (later lines win for global options). */
  config?: string;
  /** A mosquitto_passwd file: anonymous clients are then refused. */
  passwordFile?: string;
  /**
   * Load the dynamic security plugin with a fresh config (`mosquitto_ctrl dynsec init`) whose only client is this
   * admin; anonymous clients are then refused.
   */
  dynsec?: { username: string; password: string };
}

export interface MosquittoBroker {
  readonly url: string;
  readonly port: number;
  /** PID of the current broker process (changes on restart). */
  readonly pid: number;
  /** Temp dir holding mosquitto.conf and the persistence file mosquitto.db. */
  readonly dataDir: string;
  readonly configFile: string;
  /** The broker's recent log lines (errors and warnings). */
  log(): string;
  /** SIGTERM (Mosquitto saves its database), then start again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stop the broker without the graceful save (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Stop the broker and remove its temp dir; safe to call twice. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;
const DYNSEC_FILE = 'dynamic-security.json';
const LOG_TAIL_CHARS = 8_192;

export function mosquittoConfig(port: number, dataDir: string, options: MosquittoOptions = {}): string {
  const lines = [
    `listener ${port} 127.0.0.1`,
    options.passwordFile || options.dynsec ? 'allow_anonymous false' : 'allow_anonymous true',
    ...(options.passwordFile ? [`password_file ${options.passwordFile}`] : []),
    ...(options.dynsec ? [`plugin ${DYNSEC_PLUGIN}`, `plugin_opt_config_file ${join(dataDir, DYNSEC_FILE)}`] : []),
    'persistence true',
    `persistence_location ${dataDir}/`,
    // 0 = no limit: a slow or offline persistent subscriber gets every QoS 1 message instead of losing them.
    'max_queued_messages 0',
    'max_queued_bytes 0',
    // The in-flight window stays at Mosquitto's 20 so a slow subscriber is paced by PUBACKs, not flooded.
    'max_inflight_messages 20',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'connection_messages false',
  ];
  // Started as root, Mosquitto drops to the `mosquitto` user, which cannot write to our 0700 temp dir.
  if (process.getuid?.() === 0) lines.push('user root');
  if (options.config) lines.push(options.config.trim());
  return `${lines.join('\n')}\n`;
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const binary = MOSQUITTO_BINARY;
  if (!binary) throw new Error('mosquitto not installed (apt-get install mosquitto)');
  const dir = await tempDir('mosquitto');
  const configFile = join(dir.path, 'mosquitto.conf');
  let logTail = '';
  let child: ChildProcess | undefined;
  let port = options.port ?? 0;
  let stopped = false;

  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const launch = async (): Promise<void> => {
    const proc = spawn(binary, ['-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      logTail = (logTail + chunk).slice(-LOG_TAIL_CHARS);
    });
    const exited = new Promise<never>((_, reject) => {
      proc.once('exit', (code, signal) => reject(new Error(`mosquitto exited during start (${signal ?? `code ${code}`}): ${logTail.trim()}`)));
      proc.once('error', reject);
    });
    exited.catch(() => undefined);
    await Promise.race([waitFor(`mosquitto on 127.0.0.1:${port}`, () => tcpReachable(port), 10_000), exited]);
  };

  try {
    if (options.dynsec) {
      if (!MOSQUITTO_CTRL_BINARY || !DYNSEC_PLUGIN) throw new Error('mosquitto_ctrl or the dynamic security plugin is missing (apt-get install mosquitto)');
      await promisify(execFile)(MOSQUITTO_CTRL_BINARY, ['dynsec', 'init', join(dir.path, DYNSEC_FILE), options.dynsec.username, options.dynsec.password]);
    }
    // A free port can be taken between freePort() and bind: retry with another one.
    for (let attempt = 1; ; attempt++) {
      if (options.port === undefined) port = await freePort();
      await writeFile(configFile, mosquittoConfig(port, dir.path, options));
      try {
        await launch();
        break;
      } catch (err) {
        await terminate(child, 0);
        if (options.port !== undefined || attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
      }
    }
  } catch (err) {
    process.removeListener('exit', killOnExit);
    await dir.remove();
    throw err;
  }

  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid ?? -1;
    },
    dataDir: dir.path,
    configFile,
    log: () => logTail,
    async restart() {
      await terminate(child, STOP_GRACE_MS);
      await launch();
    },
    async kill() {
      await terminate(child, 0);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await terminate(child, STOP_GRACE_MS);
      process.removeListener('exit', killOnExit);
      await dir.remove();
    },
  };
}

function tcpReachable(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });
}
