// IP rules: an ordered list (the first match decides) with add, remove and reorder, and the
// action for addresses no rule matches. Saved whole; a bad range is shown on its own field.
import {
  type ApiKeyFieldsFragment,
  ClientAddressDocument,
  type IpAction,
  SetIpRulesDocument,
} from '@keygate/sdk/documents';
import { useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { type FormErrors, failureOf, NO_ERRORS } from '../errors.ts';
import { Button, Choice, Field, SubmitForm } from '../ui/controls.tsx';
import { Sheet } from '../ui/dialogs.tsx';
import { Alert, Notice } from '../ui/feedback.tsx';

const ACTIONS = [
  { id: 'ALLOW', label: 'Allow' },
  { id: 'DENY', label: 'Deny' },
] as const;

interface Rule {
  /** Stable across reordering, so focus and fields follow their rule. */
  uid: number;
  cidr: string;
  action: IpAction;
}

let nextUid = 0;

export function IpRulesDialog({
  apiKey,
  isOpen,
  onClose,
}: {
  apiKey: ApiKeyFieldsFragment;
  isOpen: boolean;
  onClose: () => void;
}) {
  return (
    <Sheet title={`IP rules for ${apiKey.name}`} isOpen={isOpen} onClose={onClose}>
      <IpRulesForm apiKey={apiKey} onDone={onClose} />
    </Sheet>
  );
}

function IpRulesForm({ apiKey, onDone }: { apiKey: ApiKeyFieldsFragment; onDone: () => void }) {
  const [rules, setRules] = useState<Rule[]>(() => apiKey.ipRules.map((rule) => ({ ...rule, uid: nextUid++ })));
  const [defaultAction, setDefaultAction] = useState<IpAction>(apiKey.ipDefaultAction);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [state, save] = useMutation(SetIpRulesDocument);

  // Where you are, as Keygate sees this dashboard's requests: what a rule needs to let you in.
  const [{ data: where }] = useQuery({ query: ClientAddressDocument });
  const myAddress = where?.clientAddress ?? null;

  const change = (index: number, patch: Partial<Rule>) => {
    setRules(rules.map((rule, at) => (at === index ? { ...rule, ...patch } : rule)));
    // The rule's error was about what it held: editing it clears it until the next save.
    if (patch.cidr !== undefined && errors.fields[`rules.${index}.cidr`]) {
      const { [`rules.${index}.cidr`]: _fixed, ...fields } = errors.fields;
      setErrors({ ...errors, fields });
    }
  };
  const addMine = () => {
    if (myAddress) setRules([{ uid: nextUid++, cidr: myAddress, action: 'ALLOW' }, ...rules]);
    setErrors(NO_ERRORS);
  };
  const allows = rules.some((rule) => rule.action === 'ALLOW' && rule.cidr.trim() !== '');
  const mineListed = myAddress !== null && rules.some((rule) => rule.cidr.trim() === myAddress);
  const move = (index: number, by: -1 | 1) => {
    const next = [...rules];
    const [rule] = next.splice(index, 1);
    next.splice(index + by, 0, rule!);
    setRules(next);
    setErrors(NO_ERRORS);
  };

  async function submit() {
    setErrors(NO_ERRORS);
    const result = await save({
      input: {
        keyId: apiKey.id,
        defaultAction,
        rules: rules.map(({ cidr, action }) => ({ cidr: cidr.trim(), action })),
      },
    });
    const failed = failureOf(result.error, result.data?.setIpRules);
    if (failed) return setErrors(failed);
    onDone();
  }

  return (
    <SubmitForm onSubmit={submit}>
      <p className="muted">
        Rules are checked from the top; the first that matches the caller's address decides. Single addresses and ranges
        (CIDR), IPv4 and IPv6.
      </p>
      {myAddress ? (
        <p className="small my-address">
          Your address, as Keygate sees it: <code>{myAddress}</code>{' '}
          {mineListed ? null : (
            <Button variant="quiet" onPress={addMine}>
              Add my address
            </Button>
          )}
        </p>
      ) : null}
      <ol className="rules">
        {rules.map((rule, index) => (
          <li key={rule.uid} className="rule">
            <Field
              label={`Rule ${index + 1}: address or range`}
              value={rule.cidr}
              onChange={(cidr) => change(index, { cidr })}
              error={errors.fields[`rules.${index}.cidr`]}
              placeholder="203.0.113.0/24"
              inputClassName="mono"
            />
            <Choice
              label={`Rule ${index + 1}: action`}
              value={rule.action}
              onChange={(action) => change(index, { action })}
              options={ACTIONS}
            />
            <div className="rule-buttons">
              <Button
                variant="quiet"
                isDisabled={index === 0}
                onPress={() => move(index, -1)}
                aria-label={`Move rule ${index + 1} up`}
              >
                ↑
              </Button>
              <Button
                variant="quiet"
                isDisabled={index === rules.length - 1}
                onPress={() => move(index, 1)}
                aria-label={`Move rule ${index + 1} down`}
              >
                ↓
              </Button>
              <Button
                variant="quiet"
                onPress={() => {
                  setRules(rules.filter((_, at) => at !== index));
                  setErrors(NO_ERRORS);
                }}
                aria-label={`Remove rule ${index + 1}`}
              >
                Remove
              </Button>
            </div>
          </li>
        ))}
      </ol>
      {errors.fields.rules ? <Alert>{errors.fields.rules}</Alert> : null}
      <Button onPress={() => setRules([...rules, { uid: nextUid++, cidr: '', action: 'ALLOW' }])}>Add rule</Button>
      <Choice
        label="Addresses no rule matches"
        value={defaultAction}
        onChange={setDefaultAction}
        options={[
          { id: 'ALLOW', label: 'Allow (allow all)' },
          { id: 'DENY', label: 'Deny' },
        ]}
      />
      {defaultAction === 'DENY' && !allows ? (
        <Notice>
          No rule allows any address, and the rest are denied: every request with this key will be refused.
          {myAddress && !mineListed ? ' Add an allow rule, such as your own address, to let someone in.' : ''}
        </Notice>
      ) : null}
      {errors.form ? <Alert>{errors.form}</Alert> : null}
      <div className="dialog-actions">
        <Button onPress={onDone}>Cancel</Button>
        <Button type="submit" variant="primary" isPending={state.fetching}>
          Save rules
        </Button>
      </div>
    </SubmitForm>
  );
}
