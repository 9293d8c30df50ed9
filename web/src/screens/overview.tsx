// The landing screen: how the merchant's keys are doing across every application (verifications
// and refusals over 24 hours or 30 days, the top refusal reasons and what to do about each), what
// needs attention (keys expiring within 7 days, keys nobody used for 30 days, to revoke in one
// confirmed step), and the latest changes.
import {
  AnomaliesDocument,
  type ApiKeyFieldsFragment,
  OverviewDocument,
  type UsageGranularity,
} from '@keygate/sdk/documents';
import { useMemo, useState } from 'react';
import { useQuery } from 'urql';
import { Link } from 'wouter';
import { Button } from '../ui/controls.tsx';
import { QueryState } from '../ui/feedback.tsx';
import { refusalOf, When } from '../ui/format.tsx';
import { describeEvent } from './audit-text.ts';
import { RevokeKey } from './key-actions.tsx';
import { RULE_LABELS } from './policy-text.ts';
import { PeriodChoice, RANGES, UsageChart, usageRange } from './usage-chart.tsx';

const KEY_TYPES = { additionalTypenames: ['ApiKey'] };
const UNUSED_DAYS = 30;
const EXPIRING_DAYS = 7;

export default function Overview() {
  const [granularity, setGranularity] = useState<UsageGranularity>('HOUR');
  const variables = useMemo(
    () => ({
      ...usageRange(granularity),
      expiringWithinSeconds: EXPIRING_DAYS * 86_400,
      unusedForSeconds: UNUSED_DAYS * 86_400,
    }),
    [granularity],
  );
  const [{ data, error, fetching }] = useQuery({
    query: OverviewDocument,
    variables,
    context: useMemo(() => KEY_TYPES, []),
  });
  const usage = data?.viewer.usage;
  const totals = useMemo(() => {
    const sum = (pick: (b: NonNullable<typeof usage>[number]) => number) =>
      (usage ?? []).reduce((total, bucket) => total + pick(bucket), 0);
    const valid = sum((b) => b.valid);
    const refused = sum((b) => b.refused + b.rateLimited + b.usageExceeded);
    return { valid, refused, rate: valid + refused === 0 ? 0 : refused / (valid + refused) };
  }, [usage]);
  return (
    <section aria-labelledby="overview-heading">
      <div className="page-header">
        <h1 id="overview-heading">Overview</h1>
        <PeriodChoice value={granularity} onChange={setGranularity} short />
      </div>
      <QueryState error={error} fetching={fetching} hasData={data !== undefined} />
      {data ? (
        <>
          <dl className="stats">
            <div className="stat">
              <dt>Verified</dt>
              <dd>{totals.valid.toLocaleString('en')}</dd>
            </div>
            <div className="stat">
              <dt>Refused</dt>
              <dd>{totals.refused.toLocaleString('en')}</dd>
            </div>
            <div className="stat">
              <dt>Refused share</dt>
              <dd>{(totals.rate * 100).toLocaleString('en', { maximumFractionDigits: 1 })} %</dd>
            </div>
          </dl>
          <section aria-labelledby="traffic-heading" className="card">
            <h2 id="traffic-heading">All your keys, {RANGES[granularity].label.toLowerCase()}</h2>
            {usage ? (
              <UsageChart buckets={usage} title={`All keys, ${RANGES[granularity].label.toLowerCase()}`} />
            ) : null}
          </section>
          <div className="overview-grid">
            <Reasons reasons={data.viewer.refusalReasons} />
            <KeyList
              id="expiring"
              title={`Expiring in the next ${EXPIRING_DAYS} days`}
              connection={data.expiringKeys}
              empty={`No key expires in the next ${EXPIRING_DAYS} days.`}
              detail={(key) => (
                <>
                  expires <When value={key.expiresAt} />
                </>
              )}
            />
            <KeyList
              id="unused"
              title={`Unused for ${UNUSED_DAYS} days or more`}
              intro="Keys nobody used lately, disabled ones included. Revoking what is not needed leaves fewer secrets to leak."
              connection={data.unusedKeys}
              empty={`Every key was used in the last ${UNUSED_DAYS} days.`}
              detail={(key) =>
                key.lastUsedAt ? (
                  <>
                    last used <When value={key.lastUsedAt} />
                  </>
                ) : (
                  <>never used</>
                )
              }
              revocable
            />
            <Anomalies />
            {data.policy.source !== 'NONE' ? (
              <KeyList
                id="out-of-policy"
                title="Out of your key policy"
                intro="Keys made before the policy, or under a looser one. They keep working; roll, edit or revoke them."
                connection={{
                  totalCount: data.policy.keysOutOfPolicy.totalCount,
                  edges: data.policy.keysOutOfPolicy.edges.map(({ node }) => ({ node: node.key })),
                }}
                empty="Every key follows the policy."
                detail={(key) =>
                  data.policy.keysOutOfPolicy.edges
                    .find(({ node }) => node.key.id === key.id)
                    ?.node.violations.map((violation) => RULE_LABELS[violation.rule])
                    .join(', ')
                }
                link={{ href: '/policy', label: 'See the key policy' }}
              />
            ) : null}
            <section aria-labelledby="changes-heading" className="card">
              <h2 id="changes-heading">Latest changes</h2>
              {data.auditEvents.edges.length === 0 ? (
                <p className="muted">
                  No change yet. <Link href="/applications">Create an application</Link> to start.
                </p>
              ) : (
                <ul className="plain-list">
                  {data.auditEvents.edges.map(({ node }) => (
                    <li key={node.id}>
                      <strong>{describeEvent(node.action, node.summary).title}</strong>{' '}
                      <span className="muted small">
                        {node.target && 'name' in node.target ? node.target.name : ''} · <When value={node.createdAt} />
                      </span>
                    </li>
                  ))}
                </ul>
              )}
              <Link href="/audit">See the audit trail</Link>
            </section>
          </div>
        </>
      ) : null}
    </section>
  );
}

/** Keys used unlike before, this week. */
function Anomalies() {
  const [{ data }] = useQuery({ query: AnomaliesDocument, variables: { withinDays: 7, first: 5 } });
  if (!data || data.anomalies.length === 0) return null;
  return (
    <section aria-labelledby="anomalies-heading" className="card anomalies">
      <h2 id="anomalies-heading">Unusual use this week</h2>
      <ul className="plain-list">
        {data.anomalies.map((anomaly) => (
          <li key={anomaly.id}>
            {anomaly.key ? <Link href={`/keys/${anomaly.key.id}`}>{anomaly.key.name}</Link> : 'A deleted key'}{' '}
            <span className="muted small">
              in {anomaly.key?.application.name} · <When value={anomaly.detectedAt} />
            </span>
            <span className="small block">
              {anomaly.message}
              {anomaly.response === 'DISABLE' ? <span className="tag tag-warn">Keygate disabled the key</span> : null}
            </span>
          </li>
        ))}
      </ul>
      <Link href="/policy">Choose what Keygate does on each kind</Link>
    </section>
  );
}

function Reasons({ reasons }: { reasons: readonly { code: string; count: number }[] }) {
  return (
    <section aria-labelledby="reasons-heading" className="card">
      <h2 id="reasons-heading">Why requests were refused</h2>
      {reasons.length === 0 ? (
        <p className="muted">Nothing was refused in this period.</p>
      ) : (
        <ul className="plain-list">
          {reasons.slice(0, 5).map((reason) => (
            <li key={reason.code}>
              <strong>{refusalOf(reason.code).label}</strong>{' '}
              <span className="count">{reason.count.toLocaleString('en')}</span>
              <span className="muted small block">{refusalOf(reason.code).meaning}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function KeyList({
  id,
  title,
  intro,
  connection,
  empty,
  detail,
  revocable = false,
  link,
}: {
  id: string;
  title: string;
  intro?: string;
  connection: { totalCount: number; edges: readonly { node: ApiKeyFieldsFragment }[] };
  empty: string;
  detail: (key: ApiKeyFieldsFragment) => React.ReactNode;
  revocable?: boolean;
  link?: { href: string; label: string };
}) {
  const [revoking, setRevoking] = useState<ApiKeyFieldsFragment | null>(null);
  return (
    <section aria-labelledby={`${id}-heading`} className="card">
      <h2 id={`${id}-heading`}>
        {title} {connection.totalCount > 0 ? <span className="count">{connection.totalCount}</span> : null}
      </h2>
      {intro && connection.totalCount > 0 ? <p className="muted small">{intro}</p> : null}
      {connection.edges.length === 0 ? (
        <p className="muted">{empty}</p>
      ) : (
        <ul className="plain-list">
          {connection.edges.map(({ node }) => (
            <li key={node.id} className="key-item">
              <span className="key-item-text">
                <Link href={`/keys/${node.id}`}>{node.name}</Link>{' '}
                <span className="muted small">
                  <code>{node.prefix}…</code> in {node.application.name} · {detail(node)}
                </span>
              </span>
              {revocable ? (
                <Button
                  variant="quiet"
                  className="danger-text"
                  onPress={() => setRevoking(node)}
                  aria-label={`Revoke ${node.name}`}
                >
                  Revoke
                </Button>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      {connection.totalCount > connection.edges.length ? (
        <p className="muted small">and {connection.totalCount - connection.edges.length} more.</p>
      ) : null}
      {link ? <Link href={link.href}>{link.label}</Link> : null}
      {revoking ? <RevokeKey apiKey={revoking} isOpen onClose={() => setRevoking(null)} /> : null}
    </section>
  );
}
