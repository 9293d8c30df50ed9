// Roles: named sets of scopes that keys are given. Create, change (every key with the role
// follows on its next request), delete (refused while keys have it).
import {
  CreateRoleDocument,
  DeleteRoleDocument,
  type RoleFieldsFragment,
  RolesDocument,
  UpdateRoleDocument,
} from '@keygate/sdk/documents';
import { useMemo, useState } from 'react';
import { Input, Label, Menu, MenuItem, MenuTrigger, Popover, SearchField } from 'react-aria-components';
import { useMutation, useQuery } from 'urql';
import { type FormErrors, failureOf, inOneLine, NO_ERRORS } from '../errors.ts';
import { Button, Field, SubmitForm } from '../ui/controls.tsx';
import { Confirm, Sheet } from '../ui/dialogs.tsx';
import { Alert } from '../ui/feedback.tsx';
import { When } from '../ui/format.tsx';
import { PagedList } from '../ui/paged-list.tsx';
import { useUrlPages, useUrlSearch } from '../ui/url-state.ts';

const TYPES = { additionalTypenames: ['Role', 'ApiKey'] };

export default function Roles() {
  const search = useUrlSearch('q');
  const pages = useUrlPages();
  const [{ data, error, fetching }] = useQuery({
    query: RolesDocument,
    variables: { ...pages.variables, ...(search.value ? { search: search.value } : {}) },
    context: useMemo(() => TYPES, []),
  });
  const [creating, setCreating] = useState(false);
  const connection = data?.roles;
  const filtered = search.value !== '';
  return (
    <section aria-labelledby="roles-heading">
      <div className="page-header">
        <h1 id="roles-heading">Roles</h1>
        <Button variant="primary" onPress={() => setCreating(true)}>
          Create role
        </Button>
      </div>
      <p className="muted">
        A role is a named set of scopes, such as “Support staff: orders.read, refunds.write”. A key with a role may do
        what the role grants; change the role, and every key that has it follows on its next request.
      </p>
      <div className="filters" hidden={connection?.totalCount === 0 && !filtered}>
        <SearchField className="field" value={search.input} onChange={search.setInput}>
          <Label>Search by name</Label>
          <Input placeholder="e.g. support" />
        </SearchField>
      </div>
      <PagedList
        query={{ error, fetching }}
        connection={connection}
        noun="role"
        onPage={pages.setCursor}
        empty={
          filtered ? (
            <p>No role matches this search.</p>
          ) : (
            <>
              <p>No roles yet. Create one, then give it to keys on their edit form.</p>
              <Button variant="primary" onPress={() => setCreating(true)}>
                Create your first role
              </Button>
            </>
          )
        }
        columns={[
          { label: 'Name' },
          { label: 'Grants' },
          { label: 'Keys', wideOnly: true, width: '6rem' },
          { label: 'Changed', largeOnly: true, width: '9rem' },
          { label: 'Actions', hidden: true, width: '3.5rem' },
        ]}
        rows={(edges) => edges.map(({ node }) => <RoleRow key={node.id} role={node} />)}
      />
      <RoleForm isOpen={creating} onClose={() => setCreating(false)} />
    </section>
  );
}

function RoleRow({ role }: { role: RoleFieldsFragment }) {
  const [dialog, setDialog] = useState<'edit' | 'delete' | null>(null);
  const [, remove] = useMutation(DeleteRoleDocument);
  const close = () => setDialog(null);
  return (
    <tr>
      <th scope="row">
        <span className="row-title">{role.name}</span>
        {role.description ? <div className="muted small">{role.description}</div> : null}
        <div className="narrow-only muted small">{usedBy(role.keysInUse)}</div>
      </th>
      <td>
        <ul className="scope-list">
          {role.scopes.map((scope) => (
            <li key={scope}>
              <code>{scope}</code>
            </li>
          ))}
        </ul>
      </td>
      <td className="wide-only">{role.keysInUse}</td>
      <td className="large-only">
        <When value={role.updatedAt} />
      </td>
      <td className="actions">
        <MenuTrigger>
          <Button variant="quiet" aria-label={`Actions for ${role.name}`}>
            ⋮
          </Button>
          <Popover className="popover">
            <Menu className="menu" onAction={(key) => setDialog(key as 'edit' | 'delete')}>
              <MenuItem id="edit" className="menu-item">
                Edit
              </MenuItem>
              <MenuItem id="delete" className="menu-item menu-item-danger">
                Delete
              </MenuItem>
            </Menu>
          </Popover>
        </MenuTrigger>
        <RoleForm isOpen={dialog === 'edit'} onClose={close} role={role} />
        <Confirm
          title={`Delete the role ${role.name}?`}
          isOpen={dialog === 'delete'}
          onClose={close}
          confirmLabel="Delete role"
          action={async () => {
            const result = await remove({ input: { id: role.id } }, TYPES);
            return inOneLine(failureOf(result.error, result.data?.deleteRole));
          }}
        >
          <p>
            {role.keysInUse > 0
              ? `${keysText(role.keysInUse)} this role. Take it off them first: deleting it would change what they may do.`
              : 'No key has this role. It is deleted for good.'}
          </p>
        </Confirm>
      </td>
    </tr>
  );
}

const usedBy = (count: number) =>
  count === 0 ? 'No key has it' : `${count === 1 ? '1 key has' : `${count.toLocaleString('en-US')} keys have`} it`;

const keysText = (count: number) =>
  count === 0 ? 'No key has it' : count === 1 ? '1 key has' : `${count.toLocaleString('en-US')} keys have`;

/** Creates a role, or edits `role`. Scopes are typed separated by spaces or commas. */
function RoleForm({ isOpen, onClose, role }: { isOpen: boolean; onClose: () => void; role?: RoleFieldsFragment }) {
  const initial = () => ({
    name: role?.name ?? '',
    description: role?.description ?? '',
    scopes: role?.scopes.join(' ') ?? '',
  });
  const [draft, setDraft] = useState(initial);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [creating, create] = useMutation(CreateRoleDocument);
  const [updating, update] = useMutation(UpdateRoleDocument);
  const done = () => {
    setDraft(initial());
    setErrors(NO_ERRORS);
    onClose();
  };
  async function submit() {
    setErrors(NO_ERRORS);
    const input = {
      name: draft.name,
      description: draft.description.trim() || null,
      scopes: draft.scopes.split(/[\s,]+/).filter((scope) => scope !== ''),
    };
    const result = role ? await update({ input: { id: role.id, ...input } }, TYPES) : await create({ input }, TYPES);
    const payload = result.data && ('updateRole' in result.data ? result.data.updateRole : result.data.createRole);
    const failed = failureOf(result.error, payload);
    if (failed) return setErrors(failed);
    done();
  }
  const field = (name: 'name' | 'description' | 'scopes') => (value: string) => setDraft({ ...draft, [name]: value });
  return (
    <Sheet title={role ? `Edit ${role.name}` : 'Create a role'} isOpen={isOpen} onClose={done}>
      <SubmitForm onSubmit={submit}>
        <Field
          label="Name"
          value={draft.name}
          onChange={field('name')}
          error={errors.fields.name}
          isRequired
          autoFocus
        />
        <Field
          label="Description (optional)"
          value={draft.description}
          onChange={field('description')}
          error={errors.fields.description}
        />
        <Field
          label="Scopes"
          value={draft.scopes}
          onChange={field('scopes')}
          error={
            errors.fields.scopes ?? Object.entries(errors.fields).find(([path]) => path.startsWith('scopes.'))?.[1]
          }
          isRequired
          description={
            role && role.keysInUse > 0
              ? `Separated by spaces or commas; orders.* covers orders.read. Saved, it applies to the ${keysText(role.keysInUse).replace(/ ha(s|ve)$/, '')} with this role at once.`
              : 'Separated by spaces or commas, e.g. orders.read refunds.write; orders.* covers orders.read.'
          }
        />
        {errors.form ? <Alert>{errors.form}</Alert> : null}
        <div className="dialog-actions">
          <Button onPress={done}>Cancel</Button>
          <Button type="submit" variant="primary" isPending={creating.fetching || updating.fetching}>
            {role ? 'Save role' : 'Create role'}
          </Button>
        </div>
      </SubmitForm>
    </Sheet>
  );
}
