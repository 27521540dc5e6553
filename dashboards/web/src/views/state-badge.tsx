// A vehicle's state as a word with its map colour (the word carries the meaning, not the colour alone).
import type { VehicleState } from '../api.ts';

export function StateBadge({ state }: { state: VehicleState }) {
  return <span class={`badge state-${state}`}>{state}</span>;
}
