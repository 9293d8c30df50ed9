// An application's usage: verifications of all its keys by hour or day (Application.usage).
import { ApplicationUsageDocument, type UsageGranularity } from '@keygate/sdk/documents';
import { useMemo, useState } from 'react';
import { useQuery } from 'urql';
import { QueryState } from '../ui/feedback.tsx';
import { PeriodChoice, RANGES, UsageChart, usageRange } from './usage-chart.tsx';

/** Verifications of every key of the application, by hour or day. */
export default function ApplicationUsage({ id }: { id: string }) {
  const [granularity, setGranularity] = useState<UsageGranularity>('DAY');
  const variables = useMemo(() => ({ id, ...usageRange(granularity) }), [id, granularity]);
  const [{ data, error, fetching }] = useQuery({ query: ApplicationUsageDocument, variables });
  const usage = data?.application?.usage;
  return (
    <section aria-labelledby="app-usage-heading" className="card">
      <div className="page-header">
        <h2 id="app-usage-heading">Usage of all its keys</h2>
        <PeriodChoice value={granularity} onChange={setGranularity} />
      </div>
      <QueryState error={error} fetching={fetching} hasData={usage !== undefined} />
      {usage ? <UsageChart buckets={usage} title={`All keys, ${RANGES[granularity].label.toLowerCase()}`} /> : null}
    </section>
  );
}
