// Request/answer over Node's IPC channel between the benchmark and the helper processes it measures (a counting
// subscriber, a naive bridge): they run apart so that their CPU and memory are their own.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { terminate, TS_EXEC_ARGV } from '../tooling/system.ts';

interface Request {
  rpc: number;
  method: string;
  args: unknown;
}
interface Answer {
  rpc: number;
  result?: unknown;
  error?: string;
}

export interface RpcChild {
  readonly pid: number;
  call<T>(method: string, args?: unknown, timeoutMs?: number): Promise<T>;
  /** SIGTERM, SIGKILL after `graceMs`; resolves when it is gone. */
  stop(graceMs?: number): Promise<void>;
}


/** Fork a TypeScript helper process and wait until it answers. */
export async function forkHelper(moduleUrl: URL, env: Record<string, string> = {}): Promise<RpcChild> {
  const child: ChildProcess = fork(fileURLToPath(moduleUrl), [], {
    execArgv: TS_EXEC_ARGV,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4_000)));
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 0;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.on('message', (answer: Answer) => {
    const w = waiting.get(answer.rpc);
    if (!w) return;
    waiting.delete(answer.rpc);
    if (answer.error !== undefined) w.reject(new Error(answer.error));
    else w.resolve(answer.result);
  });
  child.once('close', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`helper exited (${signal ?? `code ${code}`}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    waiting.clear();
  });
  const rpc: RpcChild = {
    get pid() {
      return child.pid ?? -1;
    },
    call<T>(method: string, args?: unknown, timeoutMs = 120_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        if (!child.connected) return reject(new Error(`helper is gone: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
        const id = next++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`helper did not answer ${method} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ rpc: id, method, args } satisfies Request);
      });
    },
    async stop(graceMs = 5_000) {
      await terminate(child, graceMs);
      await exited;
    },
  };
  await rpc.call('ping', undefined, 60_000);
  return rpc;
}

/** The helper's side: answer requests with `handlers`; exit when the benchmark goes away. */
export function serveRpc(handlers: Record<string, (args: never) => unknown>): void {
  if (!process.send) {
    process.stderr.write('this helper is started by the benchmark (npm run bench), not by hand\n');
    process.exit(2);
  }
  const all: Record<string, (args: never) => unknown> = { ping: () => 'pong', ...handlers };
  process.on('message', (request: Request) => {
    const handler = all[request.method];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown method ${request.method}`);
        return handler(request.args as never);
      })
      .then(
        (result) => process.send?.({ rpc: request.rpc, result } satisfies Answer),
        (err: unknown) => process.send?.({ rpc: request.rpc, error: err instanceof Error ? err.message : String(err) } satisfies Answer),
      );
  });
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}
