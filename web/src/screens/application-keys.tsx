// An application's keys: name, prefix, status, access, created, last used, expiry; a status
// filter and cursor pages; creating a key. Another merchant's application id shows
// "not found", exactly like an id that never existed.
import {
  type ApiKeyFieldsFragment,
  ApplicationDocument,
  ApplicationKeysDocument,
  type KeyStatus,
} from '@keygate/sdk/documents';
import { lazy, Suspense, useMemo, useState } from 'react';
import { Input, Label, SearchField } from 'react-aria-components';
import { useQuery } from 'urql';
import { Link } from 'wouter';
import { Button, Choice } from '../ui/controls.tsx';
import { QueryState } from '../ui/feedback.tsx';
import { accessLabel, exactTime, StatusBadge, shortTime, When } from '../ui/format.tsx';
import { useRefresh } from '../ui/hooks.ts';
import { PagedList } from '../ui/paged-list.tsx';
import { useUrlPages, useUrlParams, useUrlSearch } from '../ui/url-state.ts';
import { CreateKey } from './create-key.tsx';
import { KeyActions } from './key-actions.tsx';

// The chart library loads with the chart, not with the list.
const ApplicationUsage = lazy(() => import('./application-usage.tsx'));

type StatusFilter = 'ALL' | KeyStatus;
const KEY_TYPES = { additionalTypenames: ['ApiKey'] };

export function ApplicationKeys({ id }: { id: string }) {
  const [{ data: appData, error: appError, fetching: appFetching }] = useQuery({
    query: ApplicationDocument,
    variables: { id },
    // Refetched when keys change: it counts the keys in use.
    context: useMemo(() => KEY_TYPES, []),
  });
  const application = appData?.application;
  if (appData && application === null) return <Missing />;
  return (
    <section aria-labelledby="keys-heading">
      <Link href="/applications" className="back">
        ← Applications
      </Link>
      <QueryState error={appError} fetching={appFetching} hasData={application !== undefined} />
      {application ? (
        <>
          <div className="page-header">
            <h1 id="keys-heading">{application.name}</h1>
            {application.enabled ? null : (
              <span className="badge badge-disabled">Disabled: none of its keys verify</span>
            )}
          </div>
          {application.description ? <p className="muted">{application.description}</p> : null}
          <KeyList applicationId={id} keyLimit={application.keyLimit} keysInUse={application.keysInUse} />
          <Suspense fallback={null}>
            <ApplicationUsage id={id} />
          </Suspense>
        </>
      ) : null}
    </section>
  );
}

function Missing() {
  return (
    <section aria-labelledby="missing-heading">
      <h1 id="missing-heading">Application not found</h1>
      <p>
        There is no application at this address in your account. <Link href="/applications">See your applications</Link>
        .
      </p>
    </section>
  );
}

const STATUSES: StatusFilter[] = ['ALL', 'ACTIVE', 'DISABLED', 'EXPIRED', 'REVOKED'];

function KeyList({
  applicationId,
  keyLimit,
  keysInUse,
}: {
  applicationId: string;
  keyLimit: number;
  keysInUse: number;
}) {
  // The search, the status and the page live in the address: a reload or a link keeps them.
  const [params, setParams] = useUrlParams();
  const asked = params.get('status') as StatusFilter | null;
  const status: StatusFilter = asked && STATUSES.includes(asked) ? asked : 'ALL';
  const setStatus = (next: StatusFilter) => setParams({ status: next === 'ALL' ? null : next });
  const search = useUrlSearch('q');
  const pages = useUrlPages();
  const [{ data, error, fetching }, refetch] = useQuery({
    query: ApplicationKeysDocument,
    variables: {
      applicationId,
      ...pages.variables,
      ...(status === 'ALL' ? {} : { status: [status] }),
      ...(search.value ? { search: search.value } : {}),
    },
    context: useMemo(() => KEY_TYPES, []),
  });
  useRefresh(refetch);
  const [creating, setCreating] = useState(false);
  const connection = data?.application?.keys;
  const filtered = status !== 'ALL' || search.value !== '';

  return (
    <>
      <div className="page-header">
        <h2>API keys</h2>
        <Button variant="primary" onPress={() => setCreating(true)}>
          Create key
        </Button>
      </div>
      <p className="muted" data-testid="key-limit">
        {`${keysInUse} of at most ${keyLimit} keys in use (revoked keys do not count).`}
      </p>
      {/* No filters over an empty list: there is nothing to narrow yet. */}
      <div className="filters" hidden={connection?.totalCount === 0 && !filtered}>
        <SearchField className="field" value={search.input} onChange={search.setInput}>
          <Label>Search by name or prefix</Label>
          <Input placeholder="e.g. Main store, kg_live_Ab3x" />
        </SearchField>
        <Choice
          label="Status"
          value={status}
          onChange={setStatus}
          options={[
            { id: 'ALL', label: 'All keys' },
            { id: 'ACTIVE', label: 'Active' },
            { id: 'DISABLED', label: 'Disabled' },
            { id: 'EXPIRED', label: 'Expired' },
            { id: 'REVOKED', label: 'Revoked' },
          ]}
        />
      </div>
      <PagedList
        query={{ error, fetching }}
        connection={connection}
        noun="key"
        onPage={pages.setCursor}
        empty={
          filtered ? (
            <p>{search.value ? 'No key matches this search.' : 'No key has this status.'}</p>
          ) : (
            <>
              <p>No keys yet. A key is what your client sends to call the API.</p>
              <Button variant="primary" onPress={() => setCreating(true)}>
                Create the first key
              </Button>
            </>
          )
        }
        columns={[
          { label: 'Name' },
          { label: 'Key', wideOnly: true, width: '9rem' },
          { label: 'Status', wideOnly: true, width: '7rem' },
          { label: 'Access', largeOnly: true, width: '8.5rem' },
          { label: 'Created', largeOnly: true, width: '7.5rem' },
          { label: 'Last used', width: '8rem' },
          { label: 'Expires', largeOnly: true, width: '7.5rem' },
          { label: 'Actions', hidden: true, width: '3.5rem' },
        ]}
        rows={(edges) => edges.map(({ node }) => <KeyRow key={node.id} apiKey={node} />)}
      />
      <CreateKey applicationId={applicationId} isOpen={creating} onClose={() => setCreating(false)} />
    </>
  );
}

function KeyRow({ apiKey }: { apiKey: ApiKeyFieldsFragment }) {
  return (
    <tr data-key-id={apiKey.id}>
      <th scope="row" className="name-cell">
        <Link href={`/keys/${apiKey.id}`} className="row-link">
          {apiKey.name}
        </Link>
        {apiKey.websiteUrl ? (
          <span className="muted small truncate" title={apiKey.websiteUrl}>
            {apiKey.websiteUrl}
          </span>
        ) : null}
        <Rolled apiKey={apiKey} />
        {/* Narrow screens show the key and its status here, in place of their columns. */}
        <div className="narrow-only small">
          <code>{apiKey.prefix}…</code> <StatusBadge status={apiKey.status} />
        </div>
      </th>
      <td className="wide-only nowrap">
        <code>{apiKey.prefix}…</code>
      </td>
      <td className="wide-only">
        <StatusBadge status={apiKey.status} />
        {apiKey.environment === 'TEST' ? <span className="badge badge-test">Test</span> : null}
        {apiKey.imported ? (
          <span className="badge badge-test" title="Issued before Keygate; brought in by the hash of its secret">
            Imported
          </span>
        ) : null}
      </td>
      <td className="large-only">
        {accessLabel(apiKey.access)}
        {apiKey.scopes.length > 0 ? (
          <span className="muted small truncate" title={apiKey.scopes.join(', ')}>
            {apiKey.scopes.join(', ')}
          </span>
        ) : null}
      </td>
      <td className="large-only nowrap">
        <When value={apiKey.createdAt} />
      </td>
      <td data-testid="last-used" className="nowrap">
        <When value={apiKey.lastUsedAt} never="Never used" />
      </td>
      <td className="large-only nowrap">
        <When value={apiKey.expiresAt} never="Never" />
      </td>
      <td className="actions">
        <KeyActions apiKey={apiKey} />
      </td>
    </tr>
  );
}

/** A rolled key says what replaced it and until when it still works; its replacement says what it replaced. */
export function Rolled({ apiKey }: { apiKey: ApiKeyFieldsFragment }) {
  if (apiKey.rolledTo) {
    const until = apiKey.status === 'ACTIVE' && apiKey.expiresAt ? new Date(apiKey.expiresAt) : null;
    return (
      <span className="small rolled">
        <span className="badge badge-rolled">Rolled</span> to <code>{apiKey.rolledTo.prefix}…</code>
        {until ? (
          <>
            {' '}
            · works until{' '}
            <time dateTime={apiKey.expiresAt!} title={exactTime(until)}>
              {shortTime(until)}
            </time>
          </>
        ) : null}
      </span>
    );
  }
  if (apiKey.rolledFrom) {
    return (
      <span className="small rolled">
        <span className="badge badge-rolled">New</span> replaces <code>{apiKey.rolledFrom.prefix}…</code>
      </span>
    );
  }
  return null;
}
