// The position stream, read and parsed off the page's main thread: a frame of 10,000 changes is half a megabyte of
// JSON, and parsing it on the main thread would cost the map a frame. The page hands over the token and the VINs it
// already drew (their order is the layer's index); each frame comes back as typed arrays, transferred, not copied.
import { subscribe } from '../api.ts';
import type { PositionChange } from '../api.ts';
import { STATE_ORDER, type ColumnFrame, type StartStream, type WorkerMessage } from './position-frames.ts';

interface WorkerScope {
  onmessage: ((event: MessageEvent<StartStream>) => void) | null;
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
}

const scope = self as unknown as WorkerScope;
const abort = new AbortController();

scope.onmessage = ({ data: start }) => {
  scope.onmessage = null;
  const index = new Map<string, number>(start.vins.map((vin, i) => [vin, i]));
  const stateIndex = new Map(STATE_ORDER.map((s, i) => [s, i]));
  void subscribe(
    start.path,
    (event, data) => {
      if (event !== 'positions') return;
      const { changes } = JSON.parse(data) as { changes: PositionChange[] };
      const n = changes.length;
      const frame: ColumnFrame = { type: 'frame', added: [], index: new Int32Array(n), lat: new Float64Array(n), lon: new Float64Array(n), state: new Uint8Array(n) };
      for (let i = 0; i < n; i++) {
        const [vin, lat, lon, state] = changes[i]!;
        let at = index.get(vin);
        if (at === undefined) {
          at = index.size;
          index.set(vin, at);
          frame.added.push(vin);
        }
        frame.index[i] = at;
        frame.lat[i] = lat;
        frame.lon[i] = lon;
        frame.state[i] = stateIndex.get(state) ?? STATE_ORDER.indexOf('offline');
      }
      scope.postMessage(frame, [frame.index.buffer, frame.lat.buffer, frame.lon.buffer, frame.state.buffer]);
    },
    abort.signal,
    { token: () => start.token, unauthorized: () => scope.postMessage({ type: 'unauthorized' }) },
  );
};
