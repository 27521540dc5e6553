// Cockpit answers (the HTTP API's shape): KPIs and a series per bucket for the fleet, a brand or a model. Windows
// on whole minutes are answered from the cockpit tables; any other window from the raw samples, so an answer is
// always exact for the data rolled up.
import type { CockpitAggregates, CockpitScope } from '../store/telemetry-store.ts';
import { rollupAligned, type CockpitReader } from './reader.ts';

export interface CockpitQuery {
  scope: CockpitScope;
  from: number;
  to: number;
  intervalMs: number;
}

export interface CockpitKpis {
  /** registered vehicles in scope */
  vehicles: number;
  /** vehicles that sent samples in the window */
  activeVehicles: number;
  samples: number;
  /** mean of Vehicle.Speed over the samples carrying it (km/h) */
  avgSpeed: number | null;
  /** sum over vehicles of their odometer progress in the window (km) */
  distanceKm: number;
  /** mean state of charge over the samples carrying it (%) */
  avgSoc: number | null;
  /** vehicles that were charging at some point in the window */
  charging: number;
  /** share of ADAS-reporting samples at SAE level 2 or more, in [0, 1] */
  adasShare: number | null;
  /** vehicles that reported a fault (MIL on or a DTC) in the window */
  faults: number;
}

export interface CockpitPoint {
  t: number;
  samples: number;
  avgSpeed: number | null;
  avgSoc: number | null;
  adasShare: number | null;
}

export interface CockpitAnswer {
  from: number;
  to: number;
  interval: number;
  /** where the numbers came from: stored rollups (whole minutes) or raw samples */
  source: 'rollup' | 'raw';
  kpis: CockpitKpis;
  series: CockpitPoint[];
}

const ratio = (sum: number, count: number): number | null => (count > 0 ? sum / count : null);

export async function computeCockpit(reader: CockpitReader, query: CockpitQuery, registeredVehicles: number): Promise<CockpitAnswer> {
  const source = rollupAligned(query) ? 'rollup' : 'raw';
  const aggregates: CockpitAggregates = await reader.aggregates({ ...query.scope, from: query.from, to: query.to, intervalMs: query.intervalMs }, source);
  const { totals } = aggregates;
  return {
    from: query.from,
    to: query.to,
    interval: query.intervalMs,
    source,
    kpis: {
      vehicles: registeredVehicles,
      activeVehicles: totals.activeVehicles,
      samples: totals.samples,
      avgSpeed: ratio(totals.speedSum, totals.speedCount),
      distanceKm: totals.distanceKm,
      avgSoc: ratio(totals.socSum, totals.socCount),
      charging: totals.chargingVehicles,
      adasShare: ratio(totals.adas2Count, totals.adasCount),
      faults: totals.faultVehicles,
    },
    series: aggregates.series.map((b) => ({
      t: b.t,
      samples: b.samples,
      avgSpeed: ratio(b.speedSum, b.speedCount),
      avgSoc: ratio(b.socSum, b.socCount),
      adasShare: ratio(b.adas2Count, b.adasCount),
    })),
  };
}
