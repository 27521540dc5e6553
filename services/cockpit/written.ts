// Which vehicles this process counted in each minute: a bit per (vehicle, minute), in a bit set per minute. The only
// writer knows from it, without asking the store, whether the store holds samples of a vehicle-minute that left
// memory: for a minute after its horizon (the store held nothing from there on when the process started), it holds
// some exactly when this process counted that vehicle in that minute. A history upload touches every minute of a day
// long after each left memory; asking the store for each batch's vehicle-minutes scanned the day's telemetry every
// time (a quarter of the embedded store's write connection during a day's catch-up).
//
// Bounded: beyond `budgetBytes` the oldest minutes are forgotten, and minutes up to them are asked of the store again.
import { MINUTE_MS } from '../store/cockpit-tables.ts';

export class WrittenMinutes {
  /** a small number per vehicle, its bit in every minute's set */
  private readonly ids = new Map<string, number>();
  private readonly minutes = new Map<number, Uint32Array>();
  private bytes = 0;
  /** minutes before this were forgotten */
  private forgottenBefore = Number.NEGATIVE_INFINITY;

  constructor(private readonly budgetBytes: number) {}

  /** Whether it knows this minute: after the horizon (undefined: not known yet), and not forgotten. */
  knows(minute: number, horizon: number | undefined): boolean {
    return horizon !== undefined && minute >= horizon && minute >= this.forgottenBefore;
  }

  /** Whether this process counted the vehicle in this minute (meaningful where `knows`). */
  has(vin: string, minute: number): boolean {
    const id = this.ids.get(vin);
    const bits = this.minutes.get(minute);
    if (id === undefined || bits === undefined || id >>> 5 >= bits.length) return false;
    return (bits[id >>> 5]! & (1 << (id & 31))) !== 0;
  }

  /** The vehicle was counted in this minute (its samples are on their way to the store). */
  add(vin: string, minute: number): void {
    if (minute < this.forgottenBefore) return;
    let id = this.ids.get(vin);
    if (id === undefined) this.ids.set(vin, (id = this.ids.size));
    const word = id >>> 5;
    let bits = this.minutes.get(minute);
    if (!bits || word >= bits.length) {
      // sized for every vehicle known so far: a minute of a fleet's live traffic holds most of them
      const grown = new Uint32Array(Math.max(word + 1, (this.ids.size + 31) >>> 5));
      if (bits) {
        grown.set(bits);
        this.bytes -= bits.byteLength;
      }
      this.bytes += grown.byteLength;
      this.minutes.set(minute, (bits = grown));
      if (this.bytes > this.budgetBytes) {
        this.shrink();
        if (minute < this.forgottenBefore) return;
      }
    }
    bits[word]! |= 1 << (id & 31);
  }

  /** Forget the minutes before this one (samples older than the contract's 7 days never come again). */
  forgetBefore(minute: number): void {
    if (minute <= this.forgottenBefore) return;
    for (const [m, bits] of this.minutes) {
      if (m >= minute) continue;
      this.minutes.delete(m);
      this.bytes -= bits.byteLength;
    }
    this.forgottenBefore = minute;
  }

  /** Bytes of the bit sets. */
  get size(): number {
    return this.bytes;
  }

  /** Over the budget: forget the oldest minutes until three quarters of it are left. */
  private shrink(): void {
    const order = [...this.minutes.keys()].sort((a, b) => a - b);
    let cut = this.forgottenBefore;
    for (const m of order) {
      if (this.bytes <= (this.budgetBytes * 3) / 4) break;
      cut = m + MINUTE_MS;
      this.bytes -= this.minutes.get(m)!.byteLength;
      this.minutes.delete(m);
    }
    this.forgottenBefore = cut;
  }
}
