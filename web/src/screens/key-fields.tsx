// The fields a key is created and edited with, and how they become the API's input.
import { IdentitiesDocument, type KeyAccess, RolesDocument } from '@keygate/sdk/documents';
import { useMemo } from 'react';
import { Checkbox, CheckboxGroup, FieldError, Label, Text } from 'react-aria-components';
import { useQuery } from 'urql';
import { Link } from 'wouter';
import { Choice, Field } from '../ui/controls.tsx';

export interface KeyDraft {
  name: string;
  websiteUrl: string;
  access: KeyAccess;
  scopes: string;
  /** Ids of the roles it has. */
  roles: string[];
  /** The id of the identity it belongs to, or '' for none. */
  identityId: string;
  /** datetime-local: the browser's local time, or empty for "never". */
  expiresAt: string;
}

export function draftOf(key?: {
  name: string;
  websiteUrl: string | null;
  access: KeyAccess;
  scopes: string[];
  roles: readonly { id: string }[];
  identity: { id: string } | null;
  expiresAt: string | null;
}): KeyDraft {
  return {
    name: key?.name ?? '',
    websiteUrl: key?.websiteUrl ?? '',
    access: key?.access ?? 'READ_ONLY',
    scopes: key?.scopes.join(' ') ?? '',
    roles: key?.roles.map((role) => role.id) ?? [],
    identityId: key?.identity?.id ?? '',
    expiresAt: key?.expiresAt ? toLocalInput(new Date(key.expiresAt)) : '',
  };
}

function toLocalInput(date: Date): string {
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

export function inputOf(draft: KeyDraft) {
  return {
    name: draft.name,
    websiteUrl: draft.websiteUrl.trim() === '' ? null : draft.websiteUrl.trim(),
    access: draft.access,
    scopes: draft.scopes.split(/[\s,]+/).filter((scope) => scope !== ''),
    roles: draft.roles,
    identityId: draft.identityId === '' ? null : draft.identityId,
    expiresAt: draft.expiresAt === '' ? null : new Date(draft.expiresAt).toISOString(),
  };
}

export function KeyFields({
  draft,
  onChange,
  errors,
}: {
  draft: KeyDraft;
  onChange: (draft: KeyDraft) => void;
  errors: Record<string, string>;
}) {
  const set = (field: keyof KeyDraft) => (value: string) => onChange({ ...draft, [field]: value });
  return (
    <>
      <Field label="Name" value={draft.name} onChange={set('name')} error={errors.name} isRequired autoFocus />
      <Field
        label="Website URL (optional)"
        type="url"
        value={draft.websiteUrl}
        onChange={set('websiteUrl')}
        error={errors.websiteUrl}
        placeholder="https://store.example.com"
      />
      <Choice
        label="Access"
        value={draft.access}
        onChange={(access) => onChange({ ...draft, access })}
        error={errors.access}
        options={[
          { id: 'READ_ONLY', label: 'Read only' },
          { id: 'FULL_ACCESS', label: 'Full access' },
        ]}
        description="Read only: GET, HEAD and OPTIONS requests; full access: any request. Either reads your data, so keep every key on a server, never in a browser or an app."
      />
      <Field
        label="Scopes (optional)"
        value={draft.scopes}
        onChange={set('scopes')}
        error={errors.scopes ?? Object.entries(errors).find(([path]) => path.startsWith('scopes.'))?.[1]}
        description="Separated by spaces or commas, e.g. payments:write. None (and no roles): everything its access allows."
      />
      <RolePicker value={draft.roles} onChange={(roles) => onChange({ ...draft, roles })} error={errors.roles} />
      <IdentityPicker
        value={draft.identityId}
        onChange={(identityId) => onChange({ ...draft, identityId })}
        error={errors.identityId}
      />
      <Field
        label="Expires (optional)"
        type="datetime-local"
        value={draft.expiresAt}
        onChange={set('expiresAt')}
        error={errors.expiresAt}
        description="Your local time. Empty: the key does not expire."
      />
    </>
  );
}

const ROLE_TYPES = { additionalTypenames: ['Role'] };

/** The merchant's roles as checkboxes (the first 100; a key may have 20). */
function RolePicker({
  value,
  onChange,
  error,
}: {
  value: string[];
  onChange: (roles: string[]) => void;
  error: string | undefined;
}) {
  const [{ data, error: failed }] = useQuery({
    query: RolesDocument,
    variables: { first: 100 },
    context: useMemo(() => ROLE_TYPES, []),
  });
  const roles = data?.roles.edges.map((edge) => edge.node) ?? [];
  if (failed) return <p className="muted small">Roles could not be loaded: {failed.message}</p>;
  if (data && roles.length === 0) {
    return (
      <p className="muted small">
        Roles give many keys one set of scopes you change in one place. <Link href="/roles">Create a role</Link>.
      </p>
    );
  }
  return (
    <CheckboxGroup
      className="field checkbox-group"
      value={value}
      onChange={onChange}
      isInvalid={error !== undefined}
      validationBehavior="aria"
    >
      <Label>Roles (optional)</Label>
      <Text slot="description" className="field-description">
        The key may also do what its roles grant; a change to a role reaches the key at once.
      </Text>
      <div className="checkbox-grid">
        {roles.map((role) => (
          <Checkbox key={role.id} value={role.id} className="checkbox">
            {({ isSelected }) => (
              <>
                <span className="checkbox-box" aria-hidden="true">
                  {isSelected ? '✓' : ''}
                </span>
                <span>
                  {role.name}
                  <span className="muted small block">{role.scopes.join(', ')}</span>
                </span>
              </>
            )}
          </Checkbox>
        ))}
      </div>
      <FieldError className="field-error">{error}</FieldError>
    </CheckboxGroup>
  );
}

const IDENTITY_TYPES = { additionalTypenames: ['Identity'] };
const NO_IDENTITY = 'none';

/** The identity the key belongs to: one of the merchant's first 100, or none. */
function IdentityPicker({
  value,
  onChange,
  error,
}: {
  value: string;
  onChange: (identityId: string) => void;
  error: string | undefined;
}) {
  const [{ data }] = useQuery({
    query: IdentitiesDocument,
    variables: { first: 100 },
    context: useMemo(() => IDENTITY_TYPES, []),
  });
  const identities = data?.identities.edges.map((edge) => edge.node) ?? [];
  if (!data || (identities.length === 0 && value === '')) return null;
  const options = [
    { id: NO_IDENTITY, label: 'None' },
    ...identities.map((identity) => ({
      id: identity.id,
      label: identity.name ? `${identity.name} (${identity.externalId})` : identity.externalId,
    })),
  ];
  return (
    <Choice
      label="Belongs to"
      value={value === '' ? NO_IDENTITY : value}
      onChange={(id) => onChange(id === NO_IDENTITY ? '' : id)}
      options={options}
      error={error}
      description="Optional: the customer or user whose key it is. Verifications say so, and its keys share its limits."
    />
  );
}
