// The audit trail: who changed what, when and from where; filtered by action, target and
// time, newest first, in cursor pages.
import { type AuditAction, AuditEventsDocument } from '@keygate/sdk/documents';
import { useEffect, useState } from 'react';
import { useQuery } from 'urql';
import { Link, useSearch } from 'wouter';
import { Choice, Field } from '../ui/controls.tsx';
import { When } from '../ui/format.tsx';
import { PagedList } from '../ui/paged-list.tsx';
import { usePages } from '../ui/pager.tsx';

const ACTIONS: Record<AuditAction, string> = {
  createApplication: 'Application created',
  updateApplication: 'Application updated',
  setApplicationEnabled: 'Application enabled or disabled',
  createKey: 'Key created',
  editKey: 'Key edited',
  revokeKey: 'Key revoked',
  rollKey: 'Key rolled',
  setIpRules: 'IP rules set',
  setKeyEnabled: 'Key enabled or disabled',
  reportLeakedKey: 'Leaked key reported',
  createWebhookEndpoint: 'Webhook endpoint created',
  updateWebhookEndpoint: 'Webhook endpoint updated',
  deleteWebhookEndpoint: 'Webhook endpoint deleted',
  rotateWebhookSecret: 'Webhook secret rotated',
  sendTestWebhook: 'Test webhook sent',
};

/** The change's summary (JSON) as one line: "name: \"Main store\", access: \"READ_ONLY\"". */
function summarize(summary: unknown): string {
  if (summary === null || typeof summary !== 'object') return JSON.stringify(summary) ?? '';
  return Object.entries(summary as Record<string, unknown>)
    .filter(([, value]) => value !== null)
    .map(([field, value]) => `${field}: ${JSON.stringify(value)}`)
    .join(', ');
}

const localToIso = (value: string) => (value === '' ? undefined : new Date(value).toISOString());

/** The changed thing: a link to it where the dashboard has a page for it. */
function Target({ type, id }: { type: string; id: string }) {
  const path = type === 'ApiKey' ? `/keys/${id}` : type === 'Application' ? `/applications/${id}` : null;
  if (path === null) return <div className="muted small mono">{id}</div>;
  return (
    <Link href={path} className="small mono">
      {/* Global ids share their type's prefix; their ends tell them apart. */}
      {type === 'ApiKey' ? 'the key' : 'the application'} …{id.slice(-8)}
    </Link>
  );
}

export default function Audit() {
  const [action, setAction] = useState<AuditAction | 'ALL'>('ALL');
  // /audit?target=<id>: the trail of one key or application (linked from its page).
  const search = useSearch();
  const [targetId, setTargetId] = useState(() => new URLSearchParams(search).get('target') ?? '');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const pages = usePages();
  useEffect(() => pages.reset(), [action, targetId, from, to]);
  const [{ data, error, fetching }] = useQuery({
    query: AuditEventsDocument,
    variables: {
      ...pages.variables,
      ...(action === 'ALL' ? {} : { action }),
      ...(targetId.trim() ? { targetId: targetId.trim() } : {}),
      from: localToIso(from),
      to: localToIso(to),
    },
  });
  const connection = data?.auditEvents;
  return (
    <section aria-labelledby="audit-heading">
      <h1 id="audit-heading">Audit trail</h1>
      <p className="muted">
        Every change to your applications, keys and webhooks: who made it, when, and from which address.
      </p>
      <div className="filters">
        <Choice
          label="Action"
          value={action}
          onChange={setAction}
          options={[
            { id: 'ALL', label: 'All actions' },
            ...Object.entries(ACTIONS).map(([id, label]) => ({ id: id as AuditAction, label })),
          ]}
        />
        <Field label="Target id" value={targetId} onChange={setTargetId} placeholder="an application or key id" />
        <Field label="From" type="datetime-local" value={from} onChange={setFrom} />
        <Field label="To" type="datetime-local" value={to} onChange={setTo} />
      </div>
      <PagedList
        query={{ error, fetching }}
        connection={connection}
        noun="change"
        onPage={pages.setCursor}
        empty={<p>No change matches these filters.</p>}
        columns={[
          { label: 'When' },
          { label: 'What' },
          { label: 'Who', wideOnly: true },
          { label: 'From', wideOnly: true },
        ]}
        rows={(edges) =>
          edges.map(({ node }) => (
            <tr key={node.id}>
              <td>
                <When value={node.createdAt} />
              </td>
              <td>
                <strong>{ACTIONS[node.action]}</strong>
                <div className="small summary">{summarize(node.summary)}</div>
                <Target type={node.targetType} id={node.targetId} />
              </td>
              <td className="wide-only">{node.actor ?? '—'}</td>
              <td className="wide-only">{node.clientIp ?? '—'}</td>
            </tr>
          ))
        }
      />
    </section>
  );
}
