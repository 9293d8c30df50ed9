// The settings of a key beyond the create form: metadata and external id (returned on every
// verification), credits (with refills) and rate limits, in one form with one Save.
import {
  type ApiKeyFieldsFragment,
  EditKeyDocument,
  type EditKeyInput,
  type RefillInterval,
} from '@keygate/sdk/documents';
import { useState } from 'react';
import { useMutation } from 'urql';
import { type FormErrors, failureOf, NO_ERRORS } from '../errors.ts';
import { Button, Choice, Field, SubmitForm } from '../ui/controls.tsx';
import { Alert, Notice } from '../ui/feedback.tsx';

/** Credits and rate limits as a form holds them (a key's own, or an identity's shared ones). */
export interface MeteringDraft {
  remaining: string;
  interval: RefillInterval | 'NONE';
  amount: string;
  day: string;
  limits: LimitDraft[];
}

/** The key's settings as the form holds them. */
interface Draft extends MeteringDraft {
  metadata: string;
  externalId: string;
}

type Metered = Pick<ApiKeyFieldsFragment, 'credits' | 'rateLimits'>;

export function meteringDraftOf({ credits, rateLimits }: Metered): MeteringDraft {
  return {
    remaining: credits ? String(credits.remaining) : '',
    interval: credits?.refillInterval ?? 'NONE',
    amount: credits?.refillAmount ? String(credits.refillAmount) : '',
    day: credits?.refillDay ? String(credits.refillDay) : '',
    limits: rateLimits.map((limit) => ({
      name: limit.name,
      limit: String(limit.limit),
      windowSeconds: String(limit.windowSeconds),
    })),
  };
}

function draftOf(apiKey: ApiKeyFieldsFragment): Draft {
  return {
    metadata: apiKey.metadata === null ? '' : JSON.stringify(apiKey.metadata, null, 2),
    externalId: apiKey.externalId ?? '',
    ...meteringDraftOf(apiKey),
  };
}

const whole = (value: string) => (value.trim() === '' ? null : Number(value));

/**
 * The parts of the metering that changed, as the API takes them: credits sent again would replace
 * what is left with what the form loaded, so unchanged parts are left out.
 */
export function meteringInput(
  draft: MeteringDraft,
  loaded: MeteringDraft,
): Pick<EditKeyInput, 'credits' | 'rateLimits'> {
  const changed = (fields: (keyof MeteringDraft)[]) =>
    fields.some((field) => JSON.stringify(draft[field]) !== JSON.stringify(loaded[field]));
  const input: Pick<EditKeyInput, 'credits' | 'rateLimits'> = {};
  if (changed(['remaining', 'interval', 'amount', 'day'])) {
    const refill =
      draft.interval === 'NONE'
        ? {}
        : { refillInterval: draft.interval, refillAmount: whole(draft.amount), refillDay: whole(draft.day) };
    input.credits = draft.remaining.trim() === '' ? null : { remaining: Number(draft.remaining), ...refill };
  }
  if (changed(['limits'])) {
    input.rateLimits = draft.limits.map((limit) => ({
      name: limit.name.trim(),
      limit: Number(limit.limit),
      windowSeconds: Number(limit.windowSeconds),
    }));
  }
  return input;
}

/**
 * Metadata, credits and rate limits in one form with one Save. Only the parts that were changed
 * are sent: credits sent again would replace what is left with what the form loaded.
 */
export function KeySettings({ apiKey }: { apiKey: ApiKeyFieldsFragment }) {
  const [draft, setDraft] = useState(() => draftOf(apiKey));
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [note, setNote] = useState<string | null>(null);
  const [state, editKey] = useMutation(EditKeyDocument);
  const loaded = draftOf(apiKey);
  const changed = (fields: (keyof Draft)[]) =>
    fields.some((field) => JSON.stringify(draft[field]) !== JSON.stringify(loaded[field]));
  const set = (patch: Partial<Draft>) => {
    setDraft({ ...draft, ...patch });
    setNote(null);
  };

  async function submit() {
    setErrors(NO_ERRORS);
    setNote(null);
    const input: Omit<EditKeyInput, 'id'> = {};
    if (changed(['metadata', 'externalId'])) {
      let parsed: unknown = null;
      if (draft.metadata.trim() !== '') {
        try {
          parsed = JSON.parse(draft.metadata);
        } catch (error) {
          return setErrors({ fields: { metadata: `not JSON: ${(error as Error).message}` }, form: null });
        }
      }
      input.metadata = parsed;
      input.externalId = draft.externalId.trim() === '' ? null : draft.externalId.trim();
    }
    Object.assign(input, meteringInput(draft, loaded));
    if (Object.keys(input).length === 0) return setNote('Nothing has changed.');
    const result = await editKey({ input: { id: apiKey.id, ...input } });
    const failed = failureOf(result.error, result.data?.editKey);
    if (failed) return setErrors(failed);
    setNote('Saved.');
  }

  return (
    <section aria-labelledby="settings-heading" className="card">
      <h2 id="settings-heading">Settings</h2>
      <SubmitForm onSubmit={submit}>
        <Metadata draft={draft} set={set} errors={errors} />
        <MeteringFields credits={apiKey.credits} draft={draft} set={set} errors={errors} />
        {errors.form ? <Alert>{errors.form}</Alert> : null}
        {note ? <Notice>{note}</Notice> : null}
        <div className="form-actions">
          <Button type="submit" variant="primary" isPending={state.fetching}>
            Save settings
          </Button>
          <Button
            isDisabled={!changed(['metadata', 'externalId', 'remaining', 'interval', 'amount', 'day', 'limits'])}
            onPress={() => {
              setDraft(draftOf(apiKey));
              setErrors(NO_ERRORS);
              setNote(null);
            }}
          >
            Undo changes
          </Button>
        </div>
      </SubmitForm>
    </section>
  );
}

interface PartProps {
  draft: Draft;
  set: (patch: Partial<Draft>) => void;
  errors: FormErrors;
}

function Metadata({ draft, set, errors }: PartProps) {
  return (
    <fieldset className="fieldset">
      <legend>Metadata</legend>
      <Field
        label="Metadata (JSON)"
        value={draft.metadata}
        onChange={(metadata) => set({ metadata })}
        multiline
        inputClassName="mono"
        error={errors.fields.metadata}
        description="Returned with every verification of this key (up to 4 KiB). Empty: none."
      />
      <Field
        label="External id"
        value={draft.externalId}
        onChange={(externalId) => set({ externalId })}
        error={errors.fields.externalId}
        description="Your own id for the owner of this key, e.g. a customer id."
      />
    </fieldset>
  );
}

/** Credits and rate limits fields; `shared`: an identity's, which all its keys spend from. */
export function MeteringFields<D extends MeteringDraft>({
  credits,
  draft,
  set,
  errors,
  shared = false,
}: {
  credits: ApiKeyFieldsFragment['credits'];
  draft: D;
  set: (patch: Partial<MeteringDraft>) => void;
  errors: FormErrors;
  shared?: boolean;
}) {
  return (
    <>
      <Credits credits={credits} draft={draft} set={set} errors={errors} shared={shared} />
      <RateLimits draft={draft} set={set} errors={errors} shared={shared} />
    </>
  );
}

interface MeteringProps {
  draft: MeteringDraft;
  set: (patch: Partial<MeteringDraft>) => void;
  errors: FormErrors;
  shared: boolean;
}

function Credits({
  credits,
  draft,
  set,
  errors,
  shared,
}: MeteringProps & { credits: ApiKeyFieldsFragment['credits'] }) {
  return (
    <fieldset className="fieldset">
      <legend>{shared ? 'Shared credits' : 'Credits'}</legend>
      {credits ? (
        <p className="muted">
          {credits.remaining.toLocaleString('en')} left
          {credits.nextRefillAt ? `; next refill ${new Date(credits.nextRefillAt).toLocaleString()}` : ''}.
        </p>
      ) : (
        <p className="muted">
          {shared
            ? 'None: its keys spend only their own credits (if any).'
            : 'Unlimited: each verification spends nothing.'}
        </p>
      )}
      <Field
        label="Credits left"
        type="number"
        value={draft.remaining}
        onChange={(remaining) => set({ remaining })}
        error={errors.fields['credits.remaining']}
        description={
          shared
            ? 'Each valid verification of any of its keys spends one, besides the key’s own. Empty: none.'
            : 'Each valid verification spends one. Empty: unlimited.'
        }
      />
      <Choice
        label="Refill"
        value={draft.interval}
        onChange={(interval) => set({ interval })}
        options={[
          { id: 'NONE', label: 'Never' },
          { id: 'DAILY', label: 'Daily' },
          { id: 'MONTHLY', label: 'Monthly' },
        ]}
      />
      {draft.interval === 'NONE' ? null : (
        <>
          <Field
            label="Refill to"
            type="number"
            value={draft.amount}
            onChange={(amount) => set({ amount })}
            error={errors.fields['credits.refillAmount']}
          />
          {draft.interval === 'MONTHLY' ? (
            <Field
              label="On day of the month"
              type="number"
              value={draft.day}
              onChange={(day) => set({ day })}
              error={errors.fields['credits.refillDay']}
            />
          ) : null}
        </>
      )}
    </fieldset>
  );
}

interface LimitDraft {
  name: string;
  limit: string;
  windowSeconds: string;
}

function RateLimits({ draft, set, errors, shared }: MeteringProps) {
  const limits = draft.limits;
  const change = (index: number, patch: Partial<LimitDraft>) =>
    set({ limits: limits.map((limit, at) => (at === index ? { ...limit, ...patch } : limit)) });
  return (
    <fieldset className="fieldset">
      <legend>{shared ? 'Shared rate limits' : 'Rate limits'}</legend>
      {limits.length === 0 ? (
        <p className="muted">
          {shared
            ? 'No shared rate limit: each key is bound by its own (if any).'
            : 'No rate limit: only credits (if any) bound this key.'}
        </p>
      ) : null}
      {errors.fields.rateLimits ? <Alert>{errors.fields.rateLimits}</Alert> : null}
      <ol className="rules">
        {limits.map((limit, index) => (
          <li key={index} className="rule limit-row">
            <Field
              label={`Limit ${index + 1}: name`}
              value={limit.name}
              onChange={(name) => change(index, { name })}
              error={errors.fields[`rateLimits.${index}.name`]}
            />
            <Field
              label={`Limit ${index + 1}: requests`}
              type="number"
              value={limit.limit}
              onChange={(value) => change(index, { limit: value })}
              error={errors.fields[`rateLimits.${index}.limit`]}
            />
            <Field
              label={`Limit ${index + 1}: window (seconds)`}
              type="number"
              value={limit.windowSeconds}
              onChange={(windowSeconds) => change(index, { windowSeconds })}
              error={errors.fields[`rateLimits.${index}.windowSeconds`]}
            />
            <div className="rule-buttons">
              <Button
                variant="quiet"
                onPress={() => set({ limits: limits.filter((_, at) => at !== index) })}
                aria-label={`Remove limit ${index + 1}`}
              >
                Remove
              </Button>
            </div>
          </li>
        ))}
      </ol>
      <Button
        onPress={() =>
          set({
            limits: [...limits, { name: limits.length === 0 ? 'default' : '', limit: '100', windowSeconds: '60' }],
          })
        }
      >
        Add limit
      </Button>
    </fieldset>
  );
}
