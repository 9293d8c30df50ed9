// The fields a key is created and edited with, and how they become the API's input.
import type { KeyAccess } from '@keygate/sdk/documents';
import { Choice, Field } from '../ui/controls.tsx';

export interface KeyDraft {
  name: string;
  websiteUrl: string;
  access: KeyAccess;
  scopes: string;
  /** datetime-local: the browser's local time, or empty for "never". */
  expiresAt: string;
}

export function draftOf(key?: {
  name: string;
  websiteUrl: string | null;
  access: KeyAccess;
  scopes: string[];
  expiresAt: string | null;
}): KeyDraft {
  return {
    name: key?.name ?? '',
    websiteUrl: key?.websiteUrl ?? '',
    access: key?.access ?? 'READ_ONLY',
    scopes: key?.scopes.join(' ') ?? '',
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
        description="Separated by spaces or commas, e.g. payments:write. None: everything its access allows."
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
