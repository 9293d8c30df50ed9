// The settings of a key beyond the create form: metadata and external id (returned on every
// verification), credits (with refills) and rate limits. Each part is saved on its own.
import {
  type ApiKeyFieldsFragment,
  EditKeyDocument,
  type EditKeyInput,
  type RefillInterval,
} from '@keygate/sdk/documents';
import { type ReactNode, useState } from 'react';
import { useMutation } from 'urql';
import { type FormErrors, failureOf, NO_ERRORS } from '../errors.ts';
import { Button, Choice, Field, SubmitForm } from '../ui/controls.tsx';
import { Alert, Notice } from '../ui/feedback.tsx';

export function KeySettings({ apiKey }: { apiKey: ApiKeyFieldsFragment }) {
  return (
    <>
      <Metadata apiKey={apiKey} />
      <Credits apiKey={apiKey} />
      <RateLimits apiKey={apiKey} />
    </>
  );
}

/** A part of the settings with its own Save: sends `input` (built at submit) through editKey. */
function Part({
  title,
  apiKey,
  build,
  children,
  onErrors,
}: {
  title: string;
  apiKey: ApiKeyFieldsFragment;
  /** The fields to send, or a message when the form cannot be sent as it is. */
  build: () => Omit<EditKeyInput, 'id'> | string;
  children: ReactNode;
  onErrors: (errors: FormErrors) => void;
}) {
  const [state, editKey] = useMutation(EditKeyDocument);
  const [form, setForm] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const id = `${title.toLowerCase().replace(/\W+/g, '-')}-heading`;
  async function submit() {
    setSaved(false);
    setForm(null);
    onErrors(NO_ERRORS);
    const input = build();
    if (typeof input === 'string') return setForm(input);
    const result = await editKey({ input: { id: apiKey.id, ...input } });
    const failed = failureOf(result.error, result.data?.editKey);
    if (failed) {
      onErrors(failed);
      return setForm(failed.form);
    }
    setSaved(true);
  }
  return (
    <section aria-labelledby={id} className="card">
      <h2 id={id}>{title}</h2>
      <SubmitForm onSubmit={submit}>
        {children}
        {form ? <Alert>{form}</Alert> : null}
        {saved ? <Notice>Saved.</Notice> : null}
        <Button type="submit" isPending={state.fetching}>
          Save {title.toLowerCase()}
        </Button>
      </SubmitForm>
    </section>
  );
}

function Metadata({ apiKey }: { apiKey: ApiKeyFieldsFragment }) {
  const [metadata, setMetadata] = useState(apiKey.metadata === null ? '' : JSON.stringify(apiKey.metadata, null, 2));
  const [externalId, setExternalId] = useState(apiKey.externalId ?? '');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  return (
    <Part
      title="Metadata"
      apiKey={apiKey}
      onErrors={setErrors}
      build={() => {
        let parsed: unknown = null;
        if (metadata.trim() !== '') {
          try {
            parsed = JSON.parse(metadata);
          } catch (error) {
            setErrors({ fields: { metadata: `not JSON: ${(error as Error).message}` }, form: null });
            return 'Fix the metadata first: it must be JSON.';
          }
        }
        return { metadata: parsed, externalId: externalId.trim() === '' ? null : externalId.trim() };
      }}
    >
      <Field
        label="Metadata (JSON)"
        value={metadata}
        onChange={setMetadata}
        multiline
        inputClassName="mono"
        error={errors.fields.metadata}
        description="Returned with every verification of this key (up to 4 KiB). Empty: none."
      />
      <Field
        label="External id"
        value={externalId}
        onChange={setExternalId}
        error={errors.fields.externalId}
        description="Your own id for the owner of this key, e.g. a customer id."
      />
    </Part>
  );
}

function Credits({ apiKey }: { apiKey: ApiKeyFieldsFragment }) {
  const credits = apiKey.credits;
  const [remaining, setRemaining] = useState(credits ? String(credits.remaining) : '');
  const [interval, setInterval] = useState<RefillInterval | 'NONE'>(credits?.refillInterval ?? 'NONE');
  const [amount, setAmount] = useState(credits?.refillAmount ? String(credits.refillAmount) : '');
  const [day, setDay] = useState(credits?.refillDay ? String(credits.refillDay) : '');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const whole = (value: string) => (value.trim() === '' ? null : Number(value));
  return (
    <Part
      title="Credits"
      apiKey={apiKey}
      onErrors={setErrors}
      build={() => {
        if (remaining.trim() === '') return { credits: null };
        const refill =
          interval === 'NONE' ? {} : { refillInterval: interval, refillAmount: whole(amount), refillDay: whole(day) };
        return { credits: { remaining: Number(remaining), ...refill } };
      }}
    >
      {credits ? (
        <p className="muted">
          {credits.remaining} left
          {credits.nextRefillAt ? `; next refill ${new Date(credits.nextRefillAt).toLocaleString()}` : ''}.
        </p>
      ) : (
        <p className="muted">Unlimited: each verification spends nothing.</p>
      )}
      <Field
        label="Credits left"
        type="number"
        value={remaining}
        onChange={setRemaining}
        error={errors.fields['credits.remaining']}
        description="Each valid verification spends one. Empty: unlimited."
      />
      <Choice
        label="Refill"
        value={interval}
        onChange={setInterval}
        options={[
          { id: 'NONE', label: 'Never' },
          { id: 'DAILY', label: 'Daily' },
          { id: 'MONTHLY', label: 'Monthly' },
        ]}
      />
      {interval === 'NONE' ? null : (
        <>
          <Field
            label="Refill to"
            type="number"
            value={amount}
            onChange={setAmount}
            error={errors.fields['credits.refillAmount']}
          />
          {interval === 'MONTHLY' ? (
            <Field
              label="On day of the month"
              type="number"
              value={day}
              onChange={setDay}
              error={errors.fields['credits.refillDay']}
            />
          ) : null}
        </>
      )}
    </Part>
  );
}

interface LimitDraft {
  name: string;
  limit: string;
  windowSeconds: string;
}

function RateLimits({ apiKey }: { apiKey: ApiKeyFieldsFragment }) {
  const [limits, setLimits] = useState<LimitDraft[]>(
    apiKey.rateLimits.map((limit) => ({
      name: limit.name,
      limit: String(limit.limit),
      windowSeconds: String(limit.windowSeconds),
    })),
  );
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const change = (index: number, patch: Partial<LimitDraft>) =>
    setLimits(limits.map((limit, at) => (at === index ? { ...limit, ...patch } : limit)));
  return (
    <Part
      title="Rate limits"
      apiKey={apiKey}
      onErrors={setErrors}
      build={() => ({
        rateLimits: limits.map((limit) => ({
          name: limit.name.trim(),
          limit: Number(limit.limit),
          windowSeconds: Number(limit.windowSeconds),
        })),
      })}
    >
      {limits.length === 0 ? <p className="muted">No rate limit: only credits (if any) bound this key.</p> : null}
      {errors.fields.rateLimits ? <Alert>{errors.fields.rateLimits}</Alert> : null}
      <ol className="rules">
        {limits.map((limit, index) => (
          <li key={index} className="rule">
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
              label={`Limit ${index + 1}: per seconds`}
              type="number"
              value={limit.windowSeconds}
              onChange={(windowSeconds) => change(index, { windowSeconds })}
              error={errors.fields[`rateLimits.${index}.windowSeconds`]}
            />
            <div className="rule-buttons">
              <Button
                variant="quiet"
                onPress={() => setLimits(limits.filter((_, at) => at !== index))}
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
          setLimits([...limits, { name: limits.length === 0 ? 'default' : '', limit: '100', windowSeconds: '60' }])
        }
      >
        Add limit
      </Button>
    </Part>
  );
}
