// A key's verifications over time (uPlot): valid against refused, by hour or day, with the
// same figures as a table for screen readers and for exact numbers.
import type { UsageBucketFieldsFragment } from '@keygate/sdk/documents';
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const SERIES = [
  { key: 'valid', label: 'Valid', stroke: '#15803d' },
  { key: 'refused', label: 'Refused', stroke: '#b91c1c' },
  { key: 'rateLimited', label: 'Rate limited', stroke: '#b45309' },
  { key: 'usageExceeded', label: 'Out of credits', stroke: '#6d28d9' },
] as const;

export function UsageChart({ buckets, title }: { buckets: UsageBucketFieldsFragment[]; title: string }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const data: uPlot.AlignedData = [
      buckets.map((bucket) => new Date(bucket.start).getTime() / 1000),
      ...SERIES.map((series) => buckets.map((bucket) => bucket[series.key])),
    ];
    const width = () => Math.max(280, element.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 220,
        series: [{}, ...SERIES.map((series) => ({ label: series.label, stroke: series.stroke, width: 2 }))],
        axes: [{}, { size: 50 }],
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
  const total = (key: (typeof SERIES)[number]['key']) => buckets.reduce((sum, bucket) => sum + bucket[key], 0);
  return (
    <figure className="chart">
      <div
        ref={host}
        role="img"
        aria-label={`${title}: ${total('valid')} valid and ${total('refused')} refused verifications`}
      />
      <figcaption className="muted small">
        {SERIES.map((series) => `${series.label}: ${total(series.key)}`).join(' · ')}
      </figcaption>
      <details>
        <summary>Show the figures as a table</summary>
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">From</th>
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
                    <th scope="row">{new Date(bucket.start).toLocaleString()}</th>
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
