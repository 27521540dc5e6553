// A TCP proxy on loopback that a chaos scenario controls, put between the service and its broker or its store: it
// passes bytes (optionally late, or at a throttled rate), stalls (holds them, reads no more), cuts (destroys every
// connection and refuses new ones), and is restored. Plain node:net: what the service sees is a real socket.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from '../../tooling/system.ts';

export interface ProxyShaping {
  /** each chunk is delivered this long after it arrived (order kept) */
  latencyMs?: number;
  /** at most this many bytes a second each way */
  bytesPerSecond?: number;
}

export type ProxyMode = 'pass' | 'stall' | 'cut';

export interface ChaosProxy {
  readonly port: number;
  /** `host:port`, for a URL */
  readonly address: string;
  readonly mode: ProxyMode;
  /** connections open now */
  readonly connections: number;
  /** pass bytes, with shaping (none by default) */
  pass(shaping?: ProxyShaping): void;
  /** hold every byte in flight and read no more; connections stay open */
  stall(): void;
  /** destroy every connection; new ones are closed as soon as they are accepted */
  cut(): void;
  /** pass again, without shaping; bytes held by a stall are delivered */
  restore(): void;
  close(): Promise<void>;
}

/** Bytes held by one direction before its source is paused. */
const HIGH_WATER = 1 << 20;

/** One direction of a connection: chunks queued with the time they may leave. */
class Pipe {
  private readonly queue: Array<{ chunk: Buffer; at: number }> = [];
  private queued = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private blocked = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly control: { mode(): ProxyMode; shaping(): ProxyShaping },
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    to.on('drain', () => {
      this.blocked = false;
      this.pump();
    });
  }

  private push(chunk: Buffer): void {
    const { latencyMs = 0, bytesPerSecond } = this.control.shaping();
    const now = Date.now();
    const rateAt = bytesPerSecond ? Math.max(now, this.lastAt) + (chunk.length / bytesPerSecond) * 1000 : now;
    this.lastAt = Math.max(now + latencyMs, rateAt);
    this.queue.push({ chunk, at: this.lastAt });
    this.queued += chunk.length;
    if (this.queued > HIGH_WATER) this.from.pause();
    this.pump();
  }

  pump(): void {
    if (this.timer) return;
    while (this.queue.length > 0 && !this.blocked && this.control.mode() === 'pass') {
      const head = this.queue[0]!;
      const wait = head.at - Date.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      this.queue.shift();
      this.queued -= head.chunk.length;
      if (!this.to.destroyed && !this.to.write(head.chunk)) this.blocked = true;
    }
    if (this.control.mode() === 'pass' && this.queued <= HIGH_WATER && this.from.isPaused()) this.from.resume();
  }

  stall(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.from.pause();
  }

  /** Chunks still waiting get their times again from now (a stall's backlog leaves at once, then shaped). */
  restart(): void {
    this.lastAt = 0;
    for (const q of this.queue) q.at = Date.now();
    this.pump();
  }
}

/** A proxy on a free 127.0.0.1 port to `target` (`host:port`), passing bytes until told otherwise. */
export async function startProxy(target: { host: string; port: number }): Promise<ChaosProxy> {
  let mode: ProxyMode = 'pass';
  let shaping: ProxyShaping = {};
  const control = { mode: () => mode, shaping: () => shaping };
  const open = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[] }>();

  const server: Server = createServer((client) => {
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = connect({ host: target.host, port: target.port });
    const pipes = [new Pipe(client, upstream, control), new Pipe(upstream, client, control)];
    const entry = { client, upstream, pipes };
    open.add(entry);
    if (mode === 'stall') pipes.forEach((p) => p.stall());
    const close = (): void => {
      open.delete(entry);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
  });
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.removeListener('error', reject);
          resolve();
        });
      });
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const proxy: ChaosProxy = {
    port,
    address: `127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    get connections() {
      return open.size;
    },
    pass(next = {}) {
      mode = 'pass';
      shaping = next;
      for (const c of open) c.pipes.forEach((p) => p.restart());
    },
    stall() {
      mode = 'stall';
      for (const c of open) c.pipes.forEach((p) => p.stall());
    },
    cut() {
      mode = 'cut';
      for (const c of [...open]) {
        open.delete(c);
        c.client.destroy();
        c.upstream.destroy();
      }
    },
    restore() {
      proxy.pass({});
    },
    async close() {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
