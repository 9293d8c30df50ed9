// The audit trail: who changed what, when and from where, in sentences; filtered by action, by
// an application or key picked by name, and by time, newest first, in cursor pages. The filters
// and the page are in the address (?action=…&key=…), so a reload or a shared link keeps them.
import {
  ApiKeyDocument,
  ApplicationKeysDocument,
  ApplicationsDocument,
  type AuditAction,
  AuditEventsDocument,
  type AuditEventsQuery,
} from '@keygate/sdk/documents';
import { useQuery } from 'urql';
import { Link } from 'wouter';
import { Choice, Field } from '../ui/controls.tsx';
import { When } from '../ui/format.tsx';
import { PagedList } from '../ui/paged-list.tsx';
import { useUrlPages, useUrlParams } from '../ui/url-state.ts';
import { ACTIONS, describeEvent } from './audit-text.ts';

type AuditNode = AuditEventsQuery['auditEvents']['edges'][number]['node'];

const localToIso = (value: string) => (value === '' ? undefined : new Date(value).toISOString());

/** The type a global id names ("ApiKey", "Application"…), read from the id itself. */
function typeOf(id: string): string {
  try {
    return atob(id).split(':', 1)[0] ?? '';
  } catch {
    return '';
  }
}

/** What the change was about, by name, linked to its page; said plainly once it is deleted. */
function Target({ node }: { node: AuditNode }) {
  const target = node.target;
  if (target?.__typename === 'ApiKey') {
    return (
      <Link href={`/keys/${target.id}`} className="small target">
        Key {target.name} <code>{target.prefix}…</code>
      </Link>
    );
  }
  if (target?.__typename === 'Application') {
    return (
      <Link href={`/applications/${target.id}`} className="small target">
        Application {target.name}
      </Link>
    );
  }
  if (target?.__typename === 'WebhookEndpoint') {
    return (
      <Link href="/webhooks" className="small target">
        Endpoint {target.url}
      </Link>
    );
  }
  if (target?.__typename === 'Identity') {
    return (
      <span className="small target">
        Identity {target.identityName ?? target.externalId} <code>{target.externalId}</code>
      </span>
    );
  }
  if (target?.__typename === 'Role') {
    return (
      <Link href="/roles" className="small target">
        Role {target.name}
      </Link>
    );
  }
  const what =
    node.targetType === 'ApiKey'
      ? 'key'
      : node.targetType === 'Application'
        ? 'application'
        : node.targetType === 'Role'
          ? 'role'
          : node.targetType === 'Identity'
            ? 'identity'
            : 'endpoint';
  return <span className="small muted target">A deleted {what}</span>;
}

export default function Audit() {
  const [params, setParams] = useUrlParams();
  const pages = useUrlPages();
  // ?target= is what older links (and the key page before) put here: a key's or application's id.
  const legacy = params.get('target') ?? '';
  const key = params.get('key') ?? (typeOf(legacy) === 'ApiKey' ? legacy : '');
  const [{ data: keyData }] = useQuery({ query: ApiKeyDocument, variables: { id: key }, pause: key === '' });
  const app =
    params.get('app') ?? (typeOf(legacy) === 'Application' ? legacy : (keyData?.apiKey?.application.id ?? ''));
  const action = (params.get('action') ?? 'ALL') as AuditAction | 'ALL';
  const from = params.get('from') ?? '';
  const to = params.get('to') ?? '';
  const targetId = key || app;
  const [{ data, error, fetching }] = useQuery({
    query: AuditEventsDocument,
    variables: {
      ...pages.variables,
      ...(action === 'ALL' ? {} : { action }),
      ...(targetId ? { targetId } : {}),
      from: localToIso(from),
      to: localToIso(to),
    },
  });
  const connection = data?.auditEvents;
  const filtered = action !== 'ALL' || targetId !== '' || from !== '' || to !== '';
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
          onChange={(next) => setParams({ action: next === 'ALL' ? null : next })}
          options={[
            { id: 'ALL', label: 'All actions' },
            ...Object.entries(ACTIONS).map(([id, label]) => ({ id: id as AuditAction, label })),
          ]}
        />
        <TargetPicker
          app={app}
          keyId={key}
          onChange={(next) => setParams({ app: next.app || null, key: next.key || null, target: null })}
        />
        <Field label="From" type="datetime-local" value={from} onChange={(value) => setParams({ from: value })} />
        <Field label="To" type="datetime-local" value={to} onChange={(value) => setParams({ to: value })} />
      </div>
      <PagedList
        query={{ error, fetching }}
        connection={connection}
        noun="change"
        onPage={pages.setCursor}
        empty={
          filtered ? (
            <p>No change matches these filters.</p>
          ) : (
            <p>
              No change yet. Creating an application or a key, and every change after, is recorded here.{' '}
              <Link href="/applications">Go to your applications</Link>.
            </p>
          )
        }
        columns={[
          { label: 'When', width: '7rem' },
          { label: 'What' },
          { label: 'Who', wideOnly: true, width: '14rem' },
          { label: 'From', largeOnly: true, width: '9rem' },
        ]}
        rows={(edges) =>
          edges.map(({ node }) => {
            const { title, details } = describeEvent(node.action, node.summary);
            return (
              <tr key={node.id}>
                <td className="nowrap">
                  <When value={node.createdAt} />
                </td>
                <td className="what">
                  <strong>{title}</strong> <Target node={node} />
                  {details.length > 0 ? (
                    <ul className="details small">
                      {details.map((detail) => (
                        <li key={detail}>{detail}</li>
                      ))}
                    </ul>
                  ) : null}
                </td>
                <td className="wide-only small wrap">{node.actor ?? '—'}</td>
                <td className="large-only small">{node.clientIp ?? '—'}</td>
              </tr>
            );
          })
        }
      />
    </section>
  );
}

/** An application picked by name, then (optionally) one of its keys. */
function TargetPicker({
  app,
  keyId,
  onChange,
}: {
  app: string;
  keyId: string;
  onChange: (next: { app: string; key: string }) => void;
}) {
  const [{ data: apps }] = useQuery({ query: ApplicationsDocument, variables: { first: 100 } });
  const [{ data: keys }] = useQuery({
    query: ApplicationKeysDocument,
    variables: { applicationId: app, first: 100 },
    pause: app === '',
  });
  const appOptions = apps?.applications.edges.map(({ node }) => ({ id: node.id, label: node.name })) ?? [];
  // Keys by name and prefix: a rolled key and its replacement share a name.
  const keyOptions =
    keys?.application?.keys.edges.map(({ node }) => ({ id: node.id, label: `${node.name} (${node.prefix}…)` })) ?? [];
  // A key or application from the address that is not among the first 100 still shows as chosen.
  if (app && !appOptions.some((option) => option.id === app)) appOptions.push({ id: app, label: 'The application' });
  if (keyId && !keyOptions.some((option) => option.id === keyId)) keyOptions.push({ id: keyId, label: 'The key' });
  return (
    <>
      <Choice
        label="Application"
        value={app || 'ALL'}
        onChange={(next) => onChange({ app: next === 'ALL' ? '' : next, key: '' })}
        options={[{ id: 'ALL', label: 'All applications and keys' }, ...appOptions]}
      />
      {app ? (
        <Choice
          label="Key"
          value={keyId || 'APP'}
          onChange={(next) => onChange({ app, key: next === 'APP' ? '' : next })}
          options={[{ id: 'APP', label: 'The application itself' }, ...keyOptions]}
        />
      ) : null}
    </>
  );
}
