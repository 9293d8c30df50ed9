// A key's ⋮ menu: edit, IP rules, details and usage, roll, disable/enable, revoke. A
// revoked key is final: only its details remain.
import {
  type ApiKeyFieldsFragment,
  EditKeyDocument,
  RevokeKeyDocument,
  RollKeyDocument,
  SetKeyEnabledDocument,
} from '@keygate/sdk/documents';
import { useState } from 'react';
import { Menu, MenuItem, MenuTrigger, Popover } from 'react-aria-components';
import { useMutation } from 'urql';
import { useLocation } from 'wouter';
import { type FormErrors, failureOf, inOneLine, NO_ERRORS } from '../errors.ts';
import { Button, Choice, SubmitForm } from '../ui/controls.tsx';
import { Confirm, Sheet } from '../ui/dialogs.tsx';
import { Alert } from '../ui/feedback.tsx';
import { exactTime } from '../ui/format.tsx';
import { IpRulesDialog } from './ip-rules.tsx';
import { draftOf, inputOf, KeyFields } from './key-fields.tsx';
import { SecretOnce } from './secret-once.tsx';

type Action = 'edit' | 'ip-rules' | 'details' | 'roll' | 'enable' | 'revoke';

export function KeyActions({ apiKey }: { apiKey: ApiKeyFieldsFragment }) {
  const [open, setOpen] = useState<Action | null>(null);
  // A dialog is mounted once it has been asked for, and stays mounted so it can animate out: a
  // page of keys then renders one menu button per row, not six dialogs (measured: the keys list's
  // main-thread work at first load).
  const [asked, setAsked] = useState<ReadonlySet<Action>>(() => new Set());
  const show = (action: Action) => {
    setAsked((before) => (before.has(action) ? before : new Set(before).add(action)));
    setOpen(action);
  };
  const [, navigate] = useLocation();
  const revoked = apiKey.status === 'REVOKED';
  const close = () => setOpen(null);
  return (
    <>
      <MenuTrigger>
        <Button variant="quiet" aria-label={`Actions for ${apiKey.name}`}>
          ⋮
        </Button>
        <Popover className="popover">
          <Menu
            className="menu"
            disabledKeys={revoked ? ['edit', 'ip-rules', 'roll', 'enable', 'revoke'] : []}
            onAction={(key) => (key === 'details' ? navigate(`/keys/${apiKey.id}`) : show(key as Action))}
          >
            <MenuItem id="edit" className="menu-item">
              Edit
            </MenuItem>
            <MenuItem id="ip-rules" className="menu-item">
              IP rules
            </MenuItem>
            <MenuItem id="details" className="menu-item">
              Usage and settings
            </MenuItem>
            <MenuItem id="roll" className="menu-item">
              Roll
            </MenuItem>
            <MenuItem id="enable" className="menu-item">
              {apiKey.enabled ? 'Disable' : 'Enable'}
            </MenuItem>
            <MenuItem id="revoke" className="menu-item menu-item-danger">
              Revoke
            </MenuItem>
          </Menu>
        </Popover>
      </MenuTrigger>
      {asked.has('edit') ? (
        <Sheet title={`Edit ${apiKey.name}`} isOpen={open === 'edit'} onClose={close}>
          <EditKey apiKey={apiKey} onDone={close} />
        </Sheet>
      ) : null}
      {asked.has('ip-rules') ? <IpRulesDialog apiKey={apiKey} isOpen={open === 'ip-rules'} onClose={close} /> : null}
      {asked.has('roll') ? <RollKey apiKey={apiKey} isOpen={open === 'roll'} onClose={close} /> : null}
      {asked.has('enable') ? <EnableKey apiKey={apiKey} isOpen={open === 'enable'} onClose={close} /> : null}
      {asked.has('revoke') ? <RevokeKey apiKey={apiKey} isOpen={open === 'revoke'} onClose={close} /> : null}
    </>
  );
}

function EditKey({ apiKey, onDone }: { apiKey: ApiKeyFieldsFragment; onDone: () => void }) {
  const [draft, setDraft] = useState(() => draftOf(apiKey));
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [state, editKey] = useMutation(EditKeyDocument);
  async function submit() {
    setErrors(NO_ERRORS);
    // Roles and identity only when changed: sent again, they would read as a change in the audit trail.
    const input: Partial<ReturnType<typeof inputOf>> = inputOf(draft);
    const loaded = inputOf(draftOf(apiKey));
    if (JSON.stringify(input.roles) === JSON.stringify(loaded.roles)) delete input.roles;
    if (input.identityId === loaded.identityId) delete input.identityId;
    const result = await editKey({ input: { id: apiKey.id, ...input } });
    const failed = failureOf(result.error, result.data?.editKey);
    if (failed) return setErrors(failed);
    onDone();
  }
  return (
    <SubmitForm onSubmit={submit}>
      <KeyFields draft={draft} onChange={setDraft} errors={errors.fields} />
      {errors.form ? <Alert>{errors.form}</Alert> : null}
      <div className="dialog-actions">
        <Button onPress={onDone}>Cancel</Button>
        <Button type="submit" variant="primary" isPending={state.fetching}>
          Save changes
        </Button>
      </div>
    </SubmitForm>
  );
}

export function RevokeKey({
  apiKey,
  isOpen,
  onClose,
}: {
  apiKey: ApiKeyFieldsFragment;
  isOpen: boolean;
  onClose: () => void;
}) {
  const [, revoke] = useMutation(RevokeKeyDocument);
  return (
    <Confirm
      title={`Revoke ${apiKey.name}?`}
      isOpen={isOpen}
      onClose={onClose}
      confirmLabel="Revoke key"
      action={async () => {
        const result = await revoke({ input: { id: apiKey.id } });
        return inOneLine(failureOf(result.error, result.data?.revokeKey));
      }}
    >
      <p>
        Every request with <code>{apiKey.prefix}…</code> is refused from the moment you confirm, on every Keygate
        instance. Revoking is final: the key cannot be restored. It stays listed as revoked.
      </p>
    </Confirm>
  );
}

function EnableKey({
  apiKey,
  isOpen,
  onClose,
}: {
  apiKey: ApiKeyFieldsFragment;
  isOpen: boolean;
  onClose: () => void;
}) {
  const [, setEnabled] = useMutation(SetKeyEnabledDocument);
  const enable = !apiKey.enabled;
  return (
    <Confirm
      title={`${enable ? 'Enable' : 'Disable'} ${apiKey.name}?`}
      isOpen={isOpen}
      onClose={onClose}
      confirmLabel={enable ? 'Enable key' : 'Disable key'}
      danger={!enable}
      action={async () => {
        const result = await setEnabled({ input: { id: apiKey.id, enabled: enable } });
        return inOneLine(failureOf(result.error, result.data?.setKeyEnabled));
      }}
    >
      <p>
        {enable
          ? 'The key verifies again (unless it has expired).'
          : 'Requests with this key are refused (KEY_DISABLED) until you enable it again. Unlike revoking, this can be undone.'}
      </p>
    </Confirm>
  );
}

const GRACE = [
  { id: '0', label: 'None: the old key stops at once' },
  { id: '3600', label: '1 hour' },
  { id: '86400', label: '24 hours' },
  { id: '604800', label: '7 days (the longest)' },
] as const;

function RollKey({ apiKey, isOpen, onClose }: { apiKey: ApiKeyFieldsFragment; isOpen: boolean; onClose: () => void }) {
  const [grace, setGrace] = useState<(typeof GRACE)[number]['id']>('86400');
  const [, roll] = useMutation(RollKeyDocument);
  const [secret, setSecret] = useState<string | null>(null);
  /** Until when the old secret keeps working (the previous key's new expiry), null if it stopped. */
  const [oldUntil, setOldUntil] = useState<string | null>(null);
  return (
    <>
      <Confirm
        title={`Roll ${apiKey.name}?`}
        isOpen={isOpen}
        onClose={onClose}
        confirmLabel="Roll key"
        danger={false}
        action={async () => {
          const result = await roll(
            { input: { id: apiKey.id, gracePeriodSeconds: Number(grace) } },
            { additionalTypenames: ['ApiKey'] },
          );
          const payload = result.data?.rollKey;
          if (payload?.__typename === 'RollKeyPayload') {
            const until = payload.previousKey.status === 'ACTIVE' ? payload.previousKey.expiresAt : null;
            setOldUntil(until);
            setSecret(payload.secret);
          }
          return inOneLine(failureOf(result.error, payload));
        }}
      >
        <p>
          A new key takes this one's place, with the same settings. The old key keeps working during the grace period,
          so you can deploy the new one without downtime.
        </p>
        <Choice label="Grace period" value={grace} onChange={setGrace} options={GRACE} />
      </Confirm>
      <SecretOnce title={`The rolled key for ${apiKey.name}`} secret={secret} onDone={() => setSecret(null)}>
        <p data-testid="old-until">
          {oldUntil ? (
            <>
              The old secret (<code>{apiKey.prefix}…</code>) keeps working until{' '}
              <strong>{exactTime(new Date(oldUntil))}</strong>; deploy the new one before then.
            </>
          ) : (
            <>
              The old secret (<code>{apiKey.prefix}…</code>) stopped working now.
            </>
          )}
        </p>
      </SecretOnce>
    </>
  );
}
