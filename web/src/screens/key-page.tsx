// One key: what it is, its usage over time and latest refusals, and the settings that are
// not in the create form (metadata, credits, rate limits). Its ⋮ menu has the rest.
import { ApiKeyDocument, KeyUsageDocument, type UsageGranularity } from '@keygate/sdk/documents';
import { useMemo, useState } from 'react';
import { useQuery } from 'urql';
import { Link } from 'wouter';
import { QueryState } from '../ui/feedback.tsx';
import { accessLabel, refusalOf, StatusBadge, When } from '../ui/format.tsx';
import { KeyActions } from './key-actions.tsx';
import { KeySettings } from './key-settings.tsx';
import { KeyAnomalies, KeySuggestion } from './key-suggestion.tsx';
import { IntegrationSnippets } from './snippets.tsx';
import { PeriodChoice, RANGES, UsageChart, usageRange } from './usage-chart.tsx';

export default function KeyPage({ id }: { id: string }) {
  const [{ data, error, fetching }] = useQuery({ query: ApiKeyDocument, variables: { id } });
  const key = data?.apiKey;
  if (data && key === null) {
    return (
      <section aria-labelledby="missing-heading">
        <h1 id="missing-heading">Key not found</h1>
        <p>
          There is no key at this address in your account. <Link href="/applications">See your applications</Link>.
        </p>
      </section>
    );
  }
  return (
    <section aria-labelledby="key-heading">
      {key ? (
        <Link href={`/applications/${key.application.id}`} className="back">
          ← {key.application.name}
        </Link>
      ) : null}
      <QueryState error={error} fetching={fetching} hasData={key !== undefined} />
      {key ? (
        <>
          <div className="page-header page-header-tight">
            <h1 id="key-heading">{key.name}</h1>
            <div className="header-side">
              <StatusBadge status={key.status} />
              <KeyActions apiKey={key} />
            </div>
          </div>
          <dl className="facts">
            <dt>Key</dt>
            <dd>
              <code>{key.prefix}…</code> ({key.environment === 'LIVE' ? 'live' : 'test'}
              {key.imported ? ', imported: issued before Keygate, brought in by the hash of its secret' : ''})
            </dd>
            <dt>Access</dt>
            <dd>
              {accessLabel(key.access)}
              {key.effectiveScopes.length > 0 ? `: ${key.effectiveScopes.join(', ')}` : ''}
            </dd>
            {key.identity ? (
              <>
                <dt>Identity</dt>
                <dd>
                  <Link href={`/identities/${key.identity.id}`}>{key.identity.name ?? key.identity.externalId}</Link>
                  <span className="muted small block">
                    <code>{key.identity.externalId}</code>
                  </span>
                </dd>
              </>
            ) : null}
            {key.roles.length > 0 ? (
              <>
                <dt>Roles</dt>
                <dd>
                  {key.roles.map((role) => role.name).join(', ')}
                  <span className="muted small block">
                    {key.scopes.length > 0 ? `Its own scopes: ${key.scopes.join(', ')}; the rest` : 'Its scopes'} come
                    from its roles. <Link href="/roles">Roles</Link>
                  </span>
                </dd>
              </>
            ) : null}
            <dt>Website</dt>
            <dd>{key.websiteUrl ?? <span className="muted">—</span>}</dd>
            <dt>Created</dt>
            <dd>
              <When exact="below" value={key.createdAt} />
            </dd>
            <dt>Last used</dt>
            <dd>
              <When exact="below" value={key.lastUsedAt} never="Never used" />
              {key.lastUsedIp ? <span className="muted small block">from {key.lastUsedIp}</span> : null}
            </dd>
            <dt>Expires</dt>
            <dd>
              <When exact="below" value={key.expiresAt} never="Never" />
            </dd>
            {key.revokedAt ? (
              <>
                <dt>Revoked</dt>
                <dd>
                  <When exact="below" value={key.revokedAt} />
                </dd>
              </>
            ) : null}
            <dt>IP rules</dt>
            <dd>
              {key.ipRules.length === 0
                ? `None: ${key.ipDefaultAction === 'ALLOW' ? 'every address is allowed' : 'every address is denied'}`
                : `${key.ipRules.map((rule) => `${rule.action === 'ALLOW' ? 'allow' : 'deny'} ${rule.cidr}`).join(', ')}; otherwise ${key.ipDefaultAction === 'ALLOW' ? 'allow' : 'deny'}`}
            </dd>
            {key.rolledFrom ? (
              <>
                <dt>Rolled from</dt>
                <dd>
                  <Link href={`/keys/${key.rolledFrom.id}`}>the previous key</Link>
                </dd>
              </>
            ) : null}
            {key.rolledTo ? (
              <>
                <dt>Rolled to</dt>
                <dd>
                  <Link href={`/keys/${key.rolledTo.id}`}>its replacement</Link>
                </dd>
              </>
            ) : null}
          </dl>
          <p>
            <Link href={`/audit?key=${encodeURIComponent(key.id)}`}>Every change to this key, in the audit trail</Link>
          </p>
          <KeyAnomalies id={key.id} />
          {key.status === 'REVOKED' ? null : <KeySuggestion id={key.id} name={key.name} />}
          <Usage id={key.id} />
          {key.status === 'REVOKED' ? null : <IntegrationSnippets prefix={key.prefix} />}
          {key.status === 'REVOKED' ? null : <KeySettings apiKey={key} />}
        </>
      ) : null}
    </section>
  );
}

function Usage({ id }: { id: string }) {
  const [granularity, setGranularity] = useState<UsageGranularity>('HOUR');
  const variables = useMemo(() => ({ id, ...usageRange(granularity), refusals: 20 }), [id, granularity]);
  const [{ data, error, fetching }] = useQuery({ query: KeyUsageDocument, variables });
  const usage = data?.apiKey;
  return (
    <section aria-labelledby="usage-heading" className="card">
      <div className="page-header">
        <h2 id="usage-heading">Usage</h2>
        <PeriodChoice value={granularity} onChange={setGranularity} />
      </div>
      <QueryState error={error} fetching={fetching} hasData={usage !== undefined} />
      {usage ? <UsageChart buckets={usage.usage} title={RANGES[granularity].label} /> : null}
      <h3>Latest refusals</h3>
      {usage && usage.recentRefusals.length === 0 ? <p className="muted">No refused request recently.</p> : null}
      {usage && usage.recentRefusals.length > 0 ? (
        <div className="table-wrap">
          <table className="table table-fixed">
            <thead>
              <tr>
                <th scope="col" style={{ width: '7.5rem' }}>
                  When
                </th>
                <th scope="col">Why</th>
                <th scope="col" style={{ width: '8.5rem' }}>
                  From
                </th>
              </tr>
            </thead>
            <tbody>
              {usage.recentRefusals.map((refusal, index) => (
                <tr key={`${refusal.at}-${index}`}>
                  <td>
                    <When value={refusal.at} />
                  </td>
                  <td>
                    {refusalOf(refusal.code).label}
                    <span className="muted small block">{refusalOf(refusal.code).meaning}</span>
                  </td>
                  <td>{refusal.clientIp ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
