// The four cockpit charts (samples, average speed, average SoC, ADAS share) of one scope, or of two overlaid.
import { useMemo } from 'preact/hooks';
import type { Cockpit, CockpitPoint } from '../api.ts';
import { Chart, type ChartSeries } from '../chart.tsx';

const COLOURS = ['#58a6ff', '#f0883e'];

interface Scoped {
  label: string;
  cockpit: Cockpit;
}

/** The bucket starts of all cockpits (they share from and interval), and each metric aligned to them. */
function align(cockpits: readonly Scoped[], metric: (p: CockpitPoint) => number | null): { x: number[]; series: ChartSeries[] } {
  const first = cockpits[0]!.cockpit;
  const x: number[] = [];
  for (let t = first.from; t < first.to; t += first.interval) x.push(t);
  const series = cockpits.map((c, i) => {
    const byT = new Map(c.cockpit.series.map((p) => [p.t, p]));
    return { label: c.label, color: COLOURS[i % COLOURS.length]!, dash: i > 0, values: x.map((t) => (byT.has(t) ? metric(byT.get(t)!) : null)) };
  });
  return { x, series };
}

export function CockpitCharts({ cockpits }: { cockpits: readonly Scoped[] }) {
  const charts = useMemo(
    () => [
      { title: 'Samples', unit: 'per bucket', ...align(cockpits, (p) => p.samples) },
      { title: 'Average speed', unit: 'km/h', ...align(cockpits, (p) => p.avgSpeed) },
      { title: 'Average state of charge', unit: '%', ...align(cockpits, (p) => p.avgSoc) },
      { title: 'ADAS share', unit: '% of samples at level 2+', ...align(cockpits, (p) => (p.adasShare === null ? null : p.adasShare * 100)) },
    ],
    // the cockpits themselves, not the array around them (rebuilt on every render)
    cockpits.flatMap((c) => [c.label, c.cockpit]),
  );
  return (
    <div class="charts">
      {charts.map((c) => (
        <Chart key={c.title} title={c.title} unit={c.unit} x={c.x} series={c.series} />
      ))}
    </div>
  );
}
