// Creating a key: name, website URL, access, scopes, environment, expiry; then its secret,
// shown once.
import { CreateKeyDocument, type KeyEnvironment, PolicyRulesDocument } from '@keygate/sdk/documents';
import { useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { Link } from 'wouter';
import { type FormErrors, failureOf, NO_ERRORS } from '../errors.ts';
import { Button, Choice, SubmitForm } from '../ui/controls.tsx';
import { Sheet } from '../ui/dialogs.tsx';
import { Alert, Notice } from '../ui/feedback.tsx';
import { draftOf, inputOf, KeyFields } from './key-fields.tsx';
import { policySentences } from './policy-text.ts';
import { SecretOnce } from './secret-once.tsx';

export function CreateKey({
  applicationId,
  isOpen,
  onClose,
}: {
  applicationId: string;
  isOpen: boolean;
  onClose: () => void;
}) {
  const [draft, setDraft] = useState(draftOf);
  const [environment, setEnvironment] = useState<KeyEnvironment>('LIVE');
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [created, setCreated] = useState<{ secret: string; name: string } | null>(null);
  const [state, createKey] = useMutation(CreateKeyDocument);

  const reset = () => {
    setDraft(draftOf());
    setEnvironment('LIVE');
    setErrors(NO_ERRORS);
  };

  async function submit() {
    setErrors(NO_ERRORS);
    const result = await createKey(
      { input: { applicationId, environment, ...inputOf(draft) } },
      { additionalTypenames: ['ApiKey'] },
    );
    const payload = result.data?.createKey;
    const failed = failureOf(result.error, payload);
    if (failed) return setErrors(failed);
    if (payload?.__typename !== 'CreateKeyPayload') return;
    reset();
    onClose();
    setCreated({ secret: payload.secret, name: payload.key.name });
  }

  return (
    <>
      <Sheet
        title="Create an API key"
        isOpen={isOpen}
        onClose={() => {
          reset();
          onClose();
        }}
      >
        <SubmitForm onSubmit={submit}>
          <PolicyHint />
          <KeyFields draft={draft} onChange={setDraft} errors={errors.fields} />
          <Choice
            label="Environment"
            value={environment}
            onChange={setEnvironment}
            error={errors.fields.environment}
            options={[
              { id: 'LIVE', label: 'Live (kg_live_…)' },
              { id: 'TEST', label: 'Test (kg_test_…)' },
            ]}
          />
          {errors.form ? <Alert>{errors.form}</Alert> : null}
          <div className="dialog-actions">
            <Button
              onPress={() => {
                reset();
                onClose();
              }}
            >
              Cancel
            </Button>
            <Button type="submit" variant="primary" isPending={state.fetching}>
              Create key
            </Button>
          </div>
        </SubmitForm>
      </Sheet>
      <SecretOnce
        title={`Your new key${created ? `: ${created.name}` : ''}`}
        secret={created?.secret ?? null}
        onDone={() => setCreated(null)}
      />
    </>
  );
}

/** The key policy in force, said before the merchant fills the form in (not after a refusal). */
function PolicyHint() {
  const [{ data }] = useQuery({ query: PolicyRulesDocument });
  const rules = data ? policySentences(data.policy) : [];
  if (rules.length === 0) return null;
  return (
    <Notice>
      Your key policy: {rules.join(' ')} <Link href="/policy">Key policy</Link>
    </Notice>
  );
}
