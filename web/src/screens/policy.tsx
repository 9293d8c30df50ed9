// The key policy: the rules new and changed keys must follow. A merchant edits the rules, sees
// which existing keys a proposal would find outside it before saving (the dry run), and after
// saving the keys out of policy stay listed here and on the overview. A policy never changes a key.
import {
  AnomaliesDocument,
  type KeyPolicyFieldsFragment,
  type KeyPolicyInput,
  type KeysOutOfPolicyFieldsFragment,
  PolicyDocument,
  SetAnomalyResponsesDocument,
  SetPolicyDocument,
} from '@keygate/sdk/documents';
import { useEffect, useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { Link } from 'wouter';
import { type FormErrors, failureOf, inOneLine, NO_ERRORS } from '../errors.ts';
import { Button, Check, Choice, Field, SubmitForm } from '../ui/controls.tsx';
import { Alert, Notice, QueryState } from '../ui/feedback.tsx';
import { When } from '../ui/format.tsx';
import { policySentences, RULE_LABELS } from './policy-text.ts';

const TYPES = { additionalTypenames: ['ApiKey', 'KeyPolicy'] };
const PAGE = 20;

interface Draft {
  live: string;
  test: string;
  fullAccessRequiresIpRules: boolean;
  noWildcardScopesInLive: boolean;
  allowedScopes: string;
  graceMinutes: string;
}

function draftOf(policy: KeyPolicyFieldsFragment): Draft {
  return {
    live: policy.maxLifetimeDays.live?.toString() ?? '',
    test: policy.maxLifetimeDays.test?.toString() ?? '',
    fullAccessRequiresIpRules: policy.fullAccessRequiresIpRules,
    noWildcardScopesInLive: policy.noWildcardScopesInLive,
    allowedScopes: policy.allowedScopes?.join(' ') ?? '',
    graceMinutes: policy.maxGracePeriodSeconds == null ? '' : String(policy.maxGracePeriodSeconds / 60),
  };
}

/** The input for setPolicy; a number field left empty is no rule. Typing errors come back from the server. */
function inputOf(draft: Draft): KeyPolicyInput {
  const whole = (text: string) => (text.trim() === '' ? null : Number(text.trim()));
  const scopes = draft.allowedScopes.split(/[\s,]+/).filter((scope) => scope !== '');
  const minutes = whole(draft.graceMinutes);
  return {
    maxLifetimeDays: { live: whole(draft.live), test: whole(draft.test) },
    fullAccessRequiresIpRules: draft.fullAccessRequiresIpRules,
    noWildcardScopesInLive: draft.noWildcardScopesInLive,
    allowedScopes: scopes.length > 0 ? scopes : null,
    maxGracePeriodSeconds: minutes === null ? null : Math.round(minutes * 60),
  };
}

const SOURCES: Record<KeyPolicyFieldsFragment['source'], string> = {
  MERCHANT: 'Your policy',
  PLATFORM_DEFAULT: 'The platform’s default (you have not set your own)',
  NONE: 'No policy: any key may be made',
};

export default function Policy() {
  const [pages, setPages] = useState(1);
  const [{ data, error, fetching }] = useQuery({
    query: PolicyDocument,
    variables: { first: PAGE * pages },
    context: useMemo(() => TYPES, []),
  });
  const policy = data?.policy;
  return (
    <section aria-labelledby="policy-heading">
      <div className="page-header">
        <h1 id="policy-heading">Key policy</h1>
      </div>
      <p className="muted">
        Rules every new, edited, rolled or imported key must follow. Keys that exist are never changed by a policy:
        those outside it are listed below, for you to roll, edit or revoke.
      </p>
      <QueryState error={error} fetching={fetching} hasData={data !== undefined} />
      {policy ? (
        <>
          <PolicyForm policy={policy} />
          <Responses />
          <section aria-labelledby="out-heading" className="card">
            <h2 id="out-heading">
              Keys out of policy{' '}
              {policy.keysOutOfPolicy.totalCount > 0 ? (
                <span className="count">{policy.keysOutOfPolicy.totalCount}</span>
              ) : null}
            </h2>
            <OutOfPolicy
              connection={policy.keysOutOfPolicy}
              empty={policy.source === 'NONE' ? 'No policy is set.' : 'Every key follows the policy.'}
              onMore={() => setPages(pages + 1)}
            />
          </section>
        </>
      ) : null}
    </section>
  );
}

function PolicyForm({ policy }: { policy: KeyPolicyFieldsFragment & { keysOutOfPolicy: unknown } }) {
  const [draft, setDraft] = useState(() => draftOf(policy));
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [preview, setPreview] = useState<{ input: string; keys: KeysOutOfPolicyFieldsFragment } | null>(null);
  const [saved, setSaved] = useState(false);
  const [state, setPolicy] = useMutation(SetPolicyDocument);
  // The policy changed elsewhere (another tab, a save): start from it again.
  useEffect(() => setDraft(draftOf(policy)), [policy.updatedAt, policy.source]);
  const input = inputOf(draft);
  const inputText = JSON.stringify(input);
  async function run(dryRun: boolean) {
    setErrors(NO_ERRORS);
    setSaved(false);
    const result = await setPolicy({ input, dryRun, first: PAGE }, TYPES);
    const payload = result.data?.setPolicy;
    const failed = failureOf(result.error, payload);
    if (failed) return setErrors(failed);
    if (payload?.__typename !== 'SetPolicyPayload') return;
    if (dryRun) setPreview({ input: inputText, keys: payload.policy.keysOutOfPolicy });
    else {
      setPreview(null);
      setSaved(true);
    }
  }
  const set = (patch: Partial<Draft>) => {
    setDraft({ ...draft, ...patch });
    setSaved(false);
  };
  const sentences = policySentences(input);
  const stale = preview !== null && preview.input !== inputText;
  return (
    <section aria-labelledby="rules-heading" className="card">
      <h2 id="rules-heading">Rules</h2>
      <p className="muted small">
        {SOURCES[policy.source]}
        {policy.updatedAt ? (
          <>
            {' '}
            · set <When value={policy.updatedAt} />
          </>
        ) : null}
      </p>
      <SubmitForm onSubmit={() => run(false)}>
        <div className="form-grid">
          <Field
            label="Live keys expire within (days)"
            type="number"
            value={draft.live}
            onChange={(live) => set({ live })}
            error={errors.fields['maxLifetimeDays.live']}
            description="Empty: live keys may live forever. With a bound, an expiry is required."
          />
          <Field
            label="Test keys expire within (days)"
            type="number"
            value={draft.test}
            onChange={(test) => set({ test })}
            error={errors.fields['maxLifetimeDays.test']}
            description="Empty: no bound."
          />
        </div>
        <Check
          isSelected={draft.fullAccessRequiresIpRules}
          onChange={(fullAccessRequiresIpRules) => set({ fullAccessRequiresIpRules })}
        >
          Full-access keys must be limited by IP rules
        </Check>
        <Check
          isSelected={draft.noWildcardScopesInLive}
          onChange={(noWildcardScopesInLive) => set({ noWildcardScopesInLive })}
        >
          Live keys may not hold wildcard scopes (such as orders:*)
        </Check>
        <Field
          label="Allowed scopes"
          value={draft.allowedScopes}
          onChange={(allowedScopes) => set({ allowedScopes })}
          error={
            errors.fields.allowedScopes ??
            Object.entries(errors.fields).find(([path]) => path.startsWith('allowedScopes.'))?.[1]
          }
          description="Separated by spaces or commas; orders:* allows every orders scope. Empty: any scope. A key with no scope at all may do everything, so a list refuses it."
        />
        <Field
          label="Longest grace period of a roll (minutes)"
          type="number"
          value={draft.graceMinutes}
          onChange={(graceMinutes) => set({ graceMinutes })}
          error={errors.fields.maxGracePeriodSeconds}
          description="How long a rolled key may keep working beside its replacement; empty: up to 7 days."
        />
        <div className="policy-summary">
          <strong>In short:</strong> {sentences.length > 0 ? sentences.join(' ') : 'no rule; any key may be made.'}
        </div>
        {errors.form ? <Alert>{errors.form}</Alert> : null}
        {saved ? <Notice>Policy saved. It applies to every key created or changed from now on.</Notice> : null}
        <div className="form-actions">
          <Button onPress={() => run(true)} isPending={state.fetching && !saved}>
            Preview affected keys
          </Button>
          <Button type="submit" variant="primary" isPending={state.fetching}>
            Save policy
          </Button>
        </div>
      </SubmitForm>
      {preview ? (
        <section aria-labelledby="preview-heading" className="preview">
          <h3 id="preview-heading">
            {preview.keys.totalCount === 0
              ? 'No existing key would be out of this policy'
              : `${preview.keys.totalCount.toLocaleString('en-US')} existing ${preview.keys.totalCount === 1 ? 'key' : 'keys'} would be out of this policy`}
            {stale ? ' (before your latest edits: preview again)' : ''}
          </h3>
          <p className="muted small">
            Nothing was changed. Saving does not change these keys either: they keep working, listed as out of policy,
            and any change to them must follow it.
          </p>
          <OutOfPolicy connection={preview.keys} empty="" />
        </section>
      ) : null}
    </section>
  );
}

const KINDS = [
  { field: 'newNetwork', label: 'First use from a new network', hint: 'An IPv4 /24 or IPv6 /48 not seen in 30 days' },
  { field: 'manyNetworks', label: 'Many networks in one hour', hint: 'Far more than usual: a shared or leaked key' },
  { field: 'volumeSpike', label: 'Volume spike', hint: 'At least 10 times the usual verifications in an hour' },
  { field: 'refusalBurst', label: 'Burst of refusals', hint: 'Far more refused requests than usual' },
] as const;

type Responses = Record<(typeof KINDS)[number]['field'], 'NOTIFY' | 'DISABLE'>;

/** What Keygate does when a key is used unlike before: tell (always), and disable the key if chosen. */
function Responses() {
  const [{ data }] = useQuery({ query: AnomaliesDocument, variables: { first: 1 } });
  const [state, save] = useMutation(SetAnomalyResponsesDocument);
  const [draft, setDraft] = useState<Responses | null>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const current = data?.anomalyResponses;
  if (!current) return null;
  const shown: Responses = draft ?? current;
  return (
    <section aria-labelledby="responses-heading" className="card">
      <h2 id="responses-heading">When a key is used unusually</h2>
      <p className="muted small">
        Keygate compares each key's hour with its last 30 days (never in its first day of traffic). Every anomaly is a
        key.anomaly webhook event and a flag on the key; you may also have the key disabled at once. Enabling it again
        is yours.
      </p>
      <SubmitForm
        onSubmit={async () => {
          setMessage(null);
          const result = await save({ input: shown });
          const failed = inOneLine(failureOf(result.error, result.data?.setAnomalyResponses));
          setMessage(failed ? { ok: false, text: failed } : { ok: true, text: 'Saved.' });
          if (!failed) setDraft(null);
        }}
      >
        <div className="form-grid">
          {KINDS.map((kind) => (
            <Choice
              key={kind.field}
              label={kind.label}
              value={shown[kind.field]}
              onChange={(value) => setDraft({ ...shown, [kind.field]: value })}
              options={[
                { id: 'NOTIFY', label: 'Tell me' },
                { id: 'DISABLE', label: 'Tell me and disable the key' },
              ]}
              description={kind.hint}
            />
          ))}
        </div>
        {message ? message.ok ? <Notice>{message.text}</Notice> : <Alert>{message.text}</Alert> : null}
        <div className="form-actions">
          <Button type="submit" variant="primary" isPending={state.fetching}>
            Save responses
          </Button>
        </div>
      </SubmitForm>
    </section>
  );
}

/** Keys outside a policy, each with the rules it breaks. */
export function OutOfPolicy({
  connection,
  empty,
  onMore,
}: {
  connection: Pick<KeysOutOfPolicyFieldsFragment, 'totalCount' | 'edges'>;
  empty: string;
  onMore?: () => void;
}) {
  if (connection.edges.length === 0) return empty ? <p className="muted">{empty}</p> : null;
  return (
    <>
      <ul className="plain-list">
        {connection.edges.map(({ node }) => (
          <li key={node.key.id} className="key-item">
            <span className="key-item-text">
              <Link href={`/keys/${node.key.id}`}>{node.key.name}</Link>{' '}
              <span className="muted small">
                <code>{node.key.prefix}…</code> in {node.key.application.name}
              </span>
              <span className="small block">
                {node.violations.map((violation) => (
                  <span key={violation.rule} className="tag tag-warn" title={violation.message}>
                    {RULE_LABELS[violation.rule]}
                  </span>
                ))}
              </span>
            </span>
          </li>
        ))}
      </ul>
      {connection.totalCount > connection.edges.length ? (
        onMore ? (
          <Button variant="quiet" onPress={onMore}>
            Show more ({(connection.totalCount - connection.edges.length).toLocaleString('en-US')} left)
          </Button>
        ) : (
          <p className="muted small">
            and {(connection.totalCount - connection.edges.length).toLocaleString('en-US')} more.
          </p>
        )
      ) : null}
    </>
  );
}
