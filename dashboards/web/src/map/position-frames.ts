// What the page and its position worker (position-worker.ts) say to each other.
import type { VehicleState } from '../api.ts';

export const STATE_ORDER: readonly VehicleState[] = ['driving', 'parked', 'charging', 'fault', 'offline'];

export interface StartStream {
  path: string;
  token: string;
  vins: readonly string[];
}

/** A frame of the stream: vehicle i is index[i] in the layer, at (lat[i], lon[i]) in STATE_ORDER[state[i]]. */
export interface ColumnFrame {
  type: 'frame';
  /** VINs seen for the first time, in the order they take the next indexes */
  added: string[];
  index: Int32Array;
  lat: Float64Array;
  lon: Float64Array;
  state: Uint8Array;
}

export type WorkerMessage = ColumnFrame | { type: 'unauthorized' };

