// Identities: whoever keys belong to (a customer, a user, a team). The list with search; one
// identity's page with its keys of every application, their usage together, and the credits and
// rate limits all of them share.
import {
  CreateIdentityDocument,
  DeleteIdentityDocument,
  IdentitiesDocument,
  IdentityDocument,
  type IdentityFieldsFragment,
  IdentityUsageDocument,
  UpdateIdentityDocument,
  type UsageGranularity,
} from '@keygate/sdk/documents';
import { useMemo, useState } from 'react';
import { Input, Label, SearchField } from 'react-aria-components';
import { useMutation, useQuery } from 'urql';
import { Link, useLocation } from 'wouter';
import { type FormErrors, failureOf, inOneLine, NO_ERRORS } from '../errors.ts';
import { Button, Field, SubmitForm } from '../ui/controls.tsx';
import { Confirm, Sheet } from '../ui/dialogs.tsx';
import { Alert, Notice, QueryState } from '../ui/feedback.tsx';
import { StatusBadge, When } from '../ui/format.tsx';
import { PagedList } from '../ui/paged-list.tsx';
import { useUrlPages, useUrlSearch } from '../ui/url-state.ts';
import { MeteringFields, meteringDraftOf, meteringInput } from './key-settings.tsx';
import { PeriodChoice, RANGES, UsageChart, usageRange } from './usage-chart.tsx';

const TYPES = { additionalTypenames: ['Identity', 'ApiKey'] };

export default function Identities() {
  const search = useUrlSearch('q');
  const pages = useUrlPages();
  const [{ data, error, fetching }] = useQuery({
    query: IdentitiesDocument,
    variables: { ...pages.variables, ...(search.value ? { search: search.value } : {}) },
    context: useMemo(() => TYPES, []),
  });
  const [creating, setCreating] = useState(false);
  const connection = data?.identities;
  const filtered = search.value !== '';
  return (
    <section aria-labelledby="identities-heading">
      <div className="page-header">
        <h1 id="identities-heading">Identities</h1>
        <Button variant="primary" onPress={() => setCreating(true)}>
          Create identity
        </Button>
      </div>
      <p className="muted">
        An identity is whoever keys belong to, under your own id for them: a customer, a user, a team. Every
        verification of its keys says whose key it is, and its keys can share one set of credits and rate limits.
      </p>
      <div className="filters" hidden={connection?.totalCount === 0 && !filtered}>
        <SearchField className="field" value={search.input} onChange={search.setInput}>
          <Label>Search by external id or name</Label>
          <Input placeholder="e.g. cus_ or Northwind" />
        </SearchField>
      </div>
      <PagedList
        query={{ error, fetching }}
        connection={connection}
        noun="identity"
        onPage={pages.setCursor}
        empty={
          filtered ? (
            <p>No identity matches this search.</p>
          ) : (
            <>
              <p>No identities yet. Create one for a customer, then give it their keys.</p>
              <Button variant="primary" onPress={() => setCreating(true)}>
                Create your first identity
              </Button>
            </>
          )
        }
        columns={[
          { label: 'Identity' },
          { label: 'Keys', width: '5rem' },
          { label: 'Shared limits', wideOnly: true },
          { label: 'Created', largeOnly: true, width: '9rem' },
        ]}
        rows={(edges) =>
          edges.map(({ node }) => (
            <tr key={node.id}>
              <th scope="row">
                <Link href={`/identities/${node.id}`} className="row-link">
                  {node.name ?? node.externalId}
                </Link>
                <div className="muted small">
                  <code>{node.externalId}</code>
                </div>
              </th>
              <td>{node.keysInUse}</td>
              <td className="wide-only">{sharedLimits(node)}</td>
              <td className="large-only">
                <When value={node.createdAt} />
              </td>
            </tr>
          ))
        }
      />
      <IdentityForm isOpen={creating} onClose={() => setCreating(false)} />
    </section>
  );
}

/** "10,000 credits (monthly), 50 per second" or "None". */
function sharedLimits(identity: IdentityFieldsFragment): string {
  const parts: string[] = [];
  if (identity.credits) {
    const refill = identity.credits.refillInterval ? ` (${identity.credits.refillInterval.toLowerCase()})` : '';
    parts.push(`${identity.credits.remaining.toLocaleString('en-US')} credits${refill}`);
  }
  for (const limit of identity.rateLimits)
    parts.push(`${limit.limit.toLocaleString('en-US')} per ${window(limit.windowSeconds)}`);
  return parts.length > 0 ? parts.join(', ') : 'None';
}

function window(seconds: number): string {
  const units: [number, string][] = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  for (const [size, name] of units) {
    if (seconds % size === 0) return seconds === size ? name : `${seconds / size} ${name}s`;
  }
  return `${seconds} seconds`;
}

/** Creates an identity, or edits `identity`'s external id, name and metadata. */
function IdentityForm({
  isOpen,
  onClose,
  identity,
}: {
  isOpen: boolean;
  onClose: () => void;
  identity?: IdentityFieldsFragment;
}) {
  const initial = () => ({
    externalId: identity?.externalId ?? '',
    name: identity?.name ?? '',
    metadata: identity?.metadata == null ? '' : JSON.stringify(identity.metadata, null, 2),
  });
  const [draft, setDraft] = useState(initial);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [, navigate] = useLocation();
  const [creating, create] = useMutation(CreateIdentityDocument);
  const [updating, update] = useMutation(UpdateIdentityDocument);
  const done = () => {
    setDraft(initial());
    setErrors(NO_ERRORS);
    onClose();
  };
  async function submit() {
    setErrors(NO_ERRORS);
    let metadata: unknown = null;
    if (draft.metadata.trim() !== '') {
      try {
        metadata = JSON.parse(draft.metadata);
      } catch (error) {
        return setErrors({ fields: { metadata: `not JSON: ${(error as Error).message}` }, form: null });
      }
    }
    const input = { externalId: draft.externalId.trim(), name: draft.name.trim() || null, metadata };
    if (identity) {
      const result = await update({ input: { id: identity.id, ...input } }, TYPES);
      const failed = failureOf(result.error, result.data?.updateIdentity, 'externalId');
      if (failed) return setErrors(failed);
      return done();
    }
    const result = await create({ input }, TYPES);
    const payload = result.data?.createIdentity;
    const failed = failureOf(result.error, payload, 'externalId');
    if (failed) return setErrors(failed);
    done();
    if (payload?.__typename === 'IdentityPayload') navigate(`/identities/${payload.identity.id}`);
  }
  const field = (name: 'externalId' | 'name' | 'metadata') => (value: string) => setDraft({ ...draft, [name]: value });
  return (
    <Sheet
      title={identity ? `Edit ${identity.name ?? identity.externalId}` : 'Create an identity'}
      isOpen={isOpen}
      onClose={done}
    >
      <SubmitForm onSubmit={submit}>
        <Field
          label="External id"
          value={draft.externalId}
          onChange={field('externalId')}
          error={errors.fields.externalId}
          isRequired
          autoFocus
          description="Your own id for them, e.g. a customer id; unique among your identities."
        />
        <Field label="Name (optional)" value={draft.name} onChange={field('name')} error={errors.fields.name} />
        <Field
          label="Metadata (JSON, optional)"
          value={draft.metadata}
          onChange={field('metadata')}
          multiline
          inputClassName="mono"
          error={errors.fields.metadata}
          description="Returned with every verification of its keys (up to 4 KiB)."
        />
        {errors.form ? <Alert>{errors.form}</Alert> : null}
        <div className="dialog-actions">
          <Button onPress={done}>Cancel</Button>
          <Button type="submit" variant="primary" isPending={creating.fetching || updating.fetching}>
            {identity ? 'Save identity' : 'Create identity'}
          </Button>
        </div>
      </SubmitForm>
    </Sheet>
  );
}

/** One identity: who they are, their keys, their usage together, the limits their keys share. */
export function IdentityPage({ id }: { id: string }) {
  const [{ data, error, fetching }] = useQuery({
    query: IdentityDocument,
    variables: { id, keysFirst: 50 },
    context: useMemo(() => TYPES, []),
  });
  const [dialog, setDialog] = useState<'edit' | 'delete' | null>(null);
  const [, remove] = useMutation(DeleteIdentityDocument);
  const [, navigate] = useLocation();
  const identity = data?.identity;
  if (data && !identity) {
    return (
      <section>
        <h1>Identity not found</h1>
        <p>
          There is no identity at this address in your account. <Link href="/identities">See your identities</Link>.
        </p>
      </section>
    );
  }
  return (
    <section aria-labelledby="identity-heading">
      <Link href="/identities" className="back">
        ← Identities
      </Link>
      <QueryState error={error} fetching={fetching} hasData={identity !== undefined} />
      {identity ? (
        <>
          <div className="page-header page-header-tight">
            <h1 id="identity-heading">{identity.name ?? identity.externalId}</h1>
            <div className="header-side">
              <Button onPress={() => setDialog('edit')}>Edit</Button>
              <Button variant="danger" onPress={() => setDialog('delete')}>
                Delete
              </Button>
            </div>
          </div>
          <dl className="facts">
            <dt>External id</dt>
            <dd>
              <code>{identity.externalId}</code>
            </dd>
            <dt>Keys</dt>
            <dd>{identity.keysInUse === 1 ? '1 key in use' : `${identity.keysInUse} keys in use`}</dd>
            <dt>Shared limits</dt>
            <dd>{sharedLimits(identity)}</dd>
            <dt>Metadata</dt>
            <dd>
              {identity.metadata == null ? (
                <span className="muted">—</span>
              ) : (
                <code className="block wrap">{JSON.stringify(identity.metadata)}</code>
              )}
            </dd>
            <dt>Created</dt>
            <dd>
              <When exact="below" value={identity.createdAt} />
            </dd>
          </dl>
          <section aria-labelledby="identity-keys-heading" className="card">
            <h2 id="identity-keys-heading">Its keys</h2>
            {identity.keys.edges.length === 0 ? (
              <p className="muted">
                No key belongs to it yet. Give it keys on their edit form, or with identityId in the API.
              </p>
            ) : (
              <div className="table-wrap">
                <table className="table">
                  <thead>
                    <tr>
                      <th scope="col">Key</th>
                      <th scope="col">Status</th>
                      <th scope="col" className="wide-only">
                        Application
                      </th>
                      <th scope="col" className="large-only">
                        Last used
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {identity.keys.edges.map(({ node: key }) => (
                      <tr key={key.id}>
                        <th scope="row">
                          <Link href={`/keys/${key.id}`} className="row-link">
                            {key.name}
                          </Link>
                          <div className="muted small">
                            <code>{key.prefix}…</code>
                          </div>
                        </th>
                        <td>
                          <StatusBadge status={key.status} />
                        </td>
                        <td className="wide-only">{key.application.name}</td>
                        <td className="large-only">
                          <When value={key.lastUsedAt} never="Never used" />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
          <IdentityUsage id={identity.id} />
          <SharedLimits identity={identity} />
          <IdentityForm isOpen={dialog === 'edit'} onClose={() => setDialog(null)} identity={identity} />
          <Confirm
            title={`Delete ${identity.name ?? identity.externalId}?`}
            isOpen={dialog === 'delete'}
            onClose={() => setDialog(null)}
            confirmLabel={identity.keysInUse > 0 ? 'Delete, keep its keys' : 'Delete identity'}
            action={async () => {
              const result = await remove({ input: { id: identity.id, detachKeys: identity.keysInUse > 0 } }, TYPES);
              const problem = inOneLine(failureOf(result.error, result.data?.deleteIdentity));
              if (problem === null) navigate('/identities');
              return problem;
            }}
          >
            <p>
              {identity.keysInUse > 0
                ? `Its ${identity.keysInUse === 1 ? 'key keeps' : `${identity.keysInUse} keys keep`} working, belonging to no identity, and no longer share its limits.`
                : 'No key belongs to it. It is deleted for good.'}
            </p>
          </Confirm>
        </>
      ) : null}
    </section>
  );
}

function IdentityUsage({ id }: { id: string }) {
  const [granularity, setGranularity] = useState<UsageGranularity>('DAY');
  const variables = useMemo(() => ({ id, ...usageRange(granularity) }), [id, granularity]);
  const [{ data, error, fetching }] = useQuery({ query: IdentityUsageDocument, variables });
  const usage = data?.identity?.usage;
  return (
    <section aria-labelledby="identity-usage-heading" className="card">
      <div className="page-header">
        <h2 id="identity-usage-heading">Usage of all its keys</h2>
        <PeriodChoice value={granularity} onChange={setGranularity} />
      </div>
      <QueryState error={error} fetching={fetching} hasData={usage !== undefined} />
      {usage ? <UsageChart buckets={usage} title={`Its keys, ${RANGES[granularity].label.toLowerCase()}`} /> : null}
    </section>
  );
}

/** The credits and rate limits every key of the identity spends from, besides its own. */
function SharedLimits({ identity }: { identity: IdentityFieldsFragment }) {
  const loaded = meteringDraftOf(identity);
  const [draft, setDraft] = useState(loaded);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [note, setNote] = useState<string | null>(null);
  const [state, update] = useMutation(UpdateIdentityDocument);
  async function submit() {
    setErrors(NO_ERRORS);
    setNote(null);
    const input = meteringInput(draft, loaded);
    if (Object.keys(input).length === 0) return setNote('Nothing has changed.');
    const result = await update({ input: { id: identity.id, ...input } }, TYPES);
    const failed = failureOf(result.error, result.data?.updateIdentity);
    if (failed) return setErrors(failed);
    setNote('Saved. Its keys spend from these on their next verification.');
  }
  return (
    <section aria-labelledby="shared-heading" className="card">
      <h2 id="shared-heading">Limits its keys share</h2>
      <p className="muted">
        Every verification of one of its keys spends from these and from the key’s own, all or nothing: a refusal by
        either takes nothing from the other.
      </p>
      <SubmitForm onSubmit={submit}>
        <MeteringFields
          credits={identity.credits}
          draft={draft}
          set={(patch) => {
            setDraft({ ...draft, ...patch });
            setNote(null);
          }}
          errors={errors}
          shared
        />
        {errors.form ? <Alert>{errors.form}</Alert> : null}
        {note ? <Notice>{note}</Notice> : null}
        <div className="form-actions">
          <Button type="submit" variant="primary" isPending={state.fetching}>
            Save shared limits
          </Button>
        </div>
      </SubmitForm>
    </section>
  );
}
