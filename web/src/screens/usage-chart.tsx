// A key's verifications over time (uPlot): valid against refused, by hour or day, with the
// same figures as a table for screen readers and for exact numbers.
import type { UsageBucketFieldsFragment, UsageGranularity } from '@keygate/sdk/documents';
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { Choice } from '../ui/controls.tsx';
import { shortTime } from '../ui/format.tsx';

export const RANGES: Record<UsageGranularity, { hours: number; label: string }> = {
  HOUR: { hours: 24, label: 'Last 24 hours, by hour' },
  DAY: { hours: 30 * 24, label: 'Last 30 days, by day' },
};

/** The period a usage chart shows: 24 hours by hour, or 30 days by day. */
export function PeriodChoice({
  value,
  onChange,
  short = false,
}: {
  value: UsageGranularity;
  onChange: (granularity: UsageGranularity) => void;
  /** "Last 24 hours" rather than "Last 24 hours, by hour". */
  short?: boolean;
}) {
  const label = (granularity: UsageGranularity) =>
    short ? RANGES[granularity].label.split(',')[0]! : RANGES[granularity].label;
  return (
    <Choice
      label="Period"
      value={value}
      onChange={onChange}
      options={[
        { id: 'HOUR', label: label('HOUR') },
        { id: 'DAY', label: label('DAY') },
      ]}
    />
  );
}

/** The last 24 hours (by hour) or 30 days (by day), ending at the next full hour. */
export function usageRange(granularity: UsageGranularity) {
  const to = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000);
  const from = new Date(to.getTime() - RANGES[granularity].hours * 3_600_000);
  return { from: from.toISOString(), to: to.toISOString(), granularity };
}

const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });

const SERIES = [
  { key: 'valid', label: 'Valid', color: '#15803d' },
  { key: 'refused', label: 'Refused', color: '#b91c1c' },
  { key: 'rateLimited', label: 'Rate limited', color: '#b45309' },
  { key: 'usageExceeded', label: 'Out of credits', color: '#6d28d9' },
] as const;
type SeriesKey = (typeof SERIES)[number]['key'];

/** Drawn back to front as stacked bars: each bar is its series plus every series drawn after it. */
const STACK: SeriesKey[] = ['valid', 'usageExceeded', 'rateLimited', 'refused'];

export function UsageChart({ buckets, title }: { buckets: UsageBucketFieldsFragment[]; title: string }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const data: uPlot.AlignedData = [
      buckets.map((bucket) => new Date(bucket.start).getTime() / 1000),
      ...STACK.map((_key, index) =>
        buckets.map((bucket) => STACK.slice(index).reduce((sum, key) => sum + bucket[key], 0)),
      ),
    ];
    const bars = uPlot.paths.bars?.({ size: [0.8, 40], align: 1 });
    // The page's own colours (light or dark) for labels and grid.
    const style = getComputedStyle(element);
    const ink = style.getPropertyValue('--muted').trim() || '#4b5563';
    const grid = style.getPropertyValue('--row-line').trim() || '#e5e7eb';
    const width = () => Math.max(280, element.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 220,
        legend: { show: false },
        cursor: { show: false },
        series: [
          {},
          ...STACK.map((key) => {
            const color = SERIES.find((series) => series.key === key)!.color;
            return { label: key, stroke: color, fill: color, width: 0, paths: bars, points: { show: false } };
          }),
        ],
        // Counts as 15K, 1.2M: the axis keeps its width whatever the traffic.
        axes: [
          { stroke: ink, grid: { stroke: grid }, ticks: { stroke: grid } },
          {
            size: 56,
            stroke: ink,
            grid: { stroke: grid },
            ticks: { stroke: grid },
            values: (_u, splits) => splits.map((value) => compact.format(value)),
          },
        ],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      },
      data,
      element,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: 220 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [buckets]);
  const total = (key: SeriesKey) => buckets.reduce((sum, bucket) => sum + bucket[key], 0);
  return (
    <figure className="chart">
      <div
        ref={host}
        role="img"
        aria-label={`${title}: ${total('valid')} valid and ${total('refused')} refused verifications`}
      />
      <figcaption className="chart-key small">
        {SERIES.map((series) => (
          <span key={series.key}>
            <span className="swatch" style={{ background: series.color }} aria-hidden="true" />
            {series.label}: <strong>{total(series.key).toLocaleString('en')}</strong>
          </span>
        ))}
      </figcaption>
      <details>
        <summary>Show the figures as a table</summary>
        <div className="table-wrap">
          <table className="table table-fixed table-compact">
            <thead>
              <tr>
                <th scope="col" style={{ width: '28%' }}>
                  From
                </th>
                {SERIES.map((series) => (
                  <th scope="col" key={series.key}>
                    {series.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {buckets
                .filter((bucket) => SERIES.some((series) => bucket[series.key] > 0))
                .map((bucket) => (
                  <tr key={bucket.start}>
                    <th scope="row">{shortTime(new Date(bucket.start))}</th>
                    {SERIES.map((series) => (
                      <td key={series.key}>{bucket[series.key]}</td>
                    ))}
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
