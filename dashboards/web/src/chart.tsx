// A time-series chart: uPlot (a canvas, ~20 KB gzipped, 100k points in a few ms), loaded with the first chart.
// Several series share the x axis (ms since the epoch); `null` leaves a gap.
import { useEffect, useRef } from 'preact/hooks';
import type uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  values: ReadonlyArray<number | null>;
  color: string;
  /** dashed: the compared model */
  dash?: boolean;
}

export interface ChartProps {
  title: string;
  unit?: string;
  x: readonly number[];
  series: readonly ChartSeries[];
  height?: number;
}

/** Few values among many buckets: drawn as points too, or a lone value between gaps would not show. */
const sparse = (values: ReadonlyArray<number | null>): boolean => values.filter((v) => v !== null).length < 60;

const loadUplot = () => import('uplot').then((m) => m.default);

export function Chart({ title, unit, x, series, height = 180 }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    let plot: uPlot | undefined;
    let cancelled = false;
    const observer = new ResizeObserver(() => plot?.setSize({ width: el.clientWidth, height }));
    void loadUplot().then((UPlot) => {
      if (cancelled) return;
      const data = [x.map((t) => t / 1000), ...series.map((s) => s.values as (number | null)[])] as uPlot.AlignedData;
      plot = new UPlot(
        {
          width: el.clientWidth || 300,
          height,
          legend: { show: series.length > 1 },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true } },
          axes: [{ stroke: '#c9d1d9', grid: { stroke: '#30363d' }, ticks: { stroke: '#30363d' } }, { stroke: '#c9d1d9', grid: { stroke: '#30363d' }, ticks: { stroke: '#30363d' }, size: 56 }],
          series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, dash: s.dash ? [6, 4] : undefined, spanGaps: false, points: { show: x.length < 60 || sparse(s.values) } }))],
        },
        data,
        el,
      );
      el.dataset.ready = 'true';
      observer.observe(el);
    });
    return () => {
      cancelled = true;
      observer.disconnect();
      plot?.destroy();
      delete el.dataset.ready;
    };
  }, [x, series, height]);
  return (
    <figure class="chart">
      <figcaption>
        {title}
        {unit ? <span class="unit"> ({unit})</span> : null}
      </figcaption>
      <div ref={box} class="chart-canvas" role="img" aria-label={`${title} over time`} />
    </figure>
  );
}
