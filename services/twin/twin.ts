// The digital twin: latest state of every vehicle, updated as samples are accepted. For each signal it keeps
// the value of the sample with the greatest ts (a late batch never rolls a twin back). After a restart a twin
// is rebuilt from the store the first time it is asked for.
import type { SignalValue } from '../contract/signals.ts';
import type { TelemetrySample } from '../contract/telemetry.ts';
import type { LatestSignals } from '../store/telemetry-store.ts';

export const ONLINE_WINDOW_MS = 60_000;

export interface SignalState {
  value: SignalValue;
  ts: number;
}

export interface VehicleTwin {
  vin: string;
  /** arrival time of the last accepted message (ms), or the newest stored sample after a restart */
  lastSeen: number;
  signals: Map<string, SignalState>;
  /** true once merged with what the store held before this process saw the vehicle */
  hydrated: boolean;
}

export type TwinListener = (twin: VehicleTwin, changed: readonly string[]) => void;

export class TwinRegistry {
  private readonly twins = new Map<string, VehicleTwin>();
  private readonly listeners = new Set<TwinListener>();
  private readonly hydrating = new Map<string, Promise<LatestSignals | undefined>>();

  constructor(private readonly hydrate: (vin: string) => Promise<LatestSignals | undefined>) {}

  /** Merge accepted samples of one vehicle into its twin. */
  apply(vin: string, samples: readonly TelemetrySample[], receivedAt: number): void {
    let twin = this.twins.get(vin);
    if (!twin) {
      twin = { vin, lastSeen: receivedAt, signals: new Map(), hydrated: false };
      this.twins.set(vin, twin);
    }
    twin.lastSeen = Math.max(twin.lastSeen, receivedAt);
    // listeners are told what changed; with none, nothing is collected (this runs for every message)
    const changed: string[] | undefined = this.listeners.size > 0 ? [] : undefined;
    for (const sample of samples) {
      const signals = sample.signals;
      for (const path in signals) {
        const current = twin.signals.get(path);
        if (!current) twin.signals.set(path, { value: signals[path]!, ts: sample.ts });
        else if (sample.ts >= current.ts) {
          // states are updated in place: readers copy what they need when they read it
          current.value = signals[path]!;
          current.ts = sample.ts;
        } else continue;
        changed?.push(path);
      }
    }
    if (changed) for (const listener of this.listeners) listener(twin, changed);
  }

  /** The twin of a vehicle, merged once with the store's latest values (which cover what came before this process). */
  async get(vin: string): Promise<VehicleTwin | undefined> {
    const live = this.twins.get(vin);
    if (live?.hydrated) return live;
    let pending = this.hydrating.get(vin);
    if (!pending) {
      pending = this.hydrate(vin).finally(() => this.hydrating.delete(vin));
      this.hydrating.set(vin, pending);
    }
    const stored = await pending;
    const twin = this.twins.get(vin);
    if (twin?.hydrated) return twin;
    if (!stored && !twin) return undefined;
    const merged = twin ?? { vin, lastSeen: 0, signals: new Map<string, SignalState>(), hydrated: true };
    merged.hydrated = true;
    if (stored) {
      merged.lastSeen = Math.max(merged.lastSeen, stored.lastTs);
      for (const [path, state] of Object.entries(stored.signals)) {
        const current = merged.signals.get(path);
        if (!current || state.ts > current.ts) merged.signals.set(path, state);
      }
    }
    this.twins.set(vin, merged);
    return merged;
  }

  /** Synchronous look at what this process knows (no store round-trip). */
  peek(vin: string): VehicleTwin | undefined {
    return this.twins.get(vin);
  }

  isOnline(twin: VehicleTwin | undefined, now = Date.now()): boolean {
    return twin !== undefined && now - twin.lastSeen < ONLINE_WINDOW_MS;
  }

  onUpdate(listener: TwinListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
