// Applications: search, the enabled filter and cursor pages; create, rename, enable/disable.
import { type ApplicationFieldsFragment, ApplicationsDocument } from '@keygate/sdk/documents';
import { useMemo, useState } from 'react';
import { Input, Label, Menu, MenuItem, MenuTrigger, Popover, SearchField } from 'react-aria-components';
import { useQuery } from 'urql';
import { Link } from 'wouter';
import { Button, Choice } from '../ui/controls.tsx';
import { When } from '../ui/format.tsx';
import { PagedList } from '../ui/paged-list.tsx';
import { useUrlPages, useUrlParams, useUrlSearch } from '../ui/url-state.ts';
import { ApplicationForm, EnableApplication } from './application-dialogs.tsx';

type EnabledFilter = 'all' | 'enabled' | 'disabled';

export function Applications() {
  // The search, the filter and the page live in the address: a reload or a link keeps them.
  const search = useUrlSearch('q');
  const debounced = search.value;
  const [params, setParams] = useUrlParams();
  const shown = params.get('show');
  const enabled: EnabledFilter = shown === 'enabled' || shown === 'disabled' ? shown : 'all';
  const setEnabled = (next: EnabledFilter) => setParams({ show: next === 'all' ? null : next });
  const pages = useUrlPages();
  const [{ data, error, fetching }] = useQuery({
    query: ApplicationsDocument,
    variables: {
      ...pages.variables,
      ...(debounced ? { search: debounced } : {}),
      ...(enabled === 'all' ? {} : { enabled: enabled === 'enabled' }),
    },
    context: useMemo(() => ({ additionalTypenames: ['Application'] }), []),
  });
  const [creating, setCreating] = useState(false);
  const connection = data?.applications;
  const filtered = debounced !== '' || enabled !== 'all';

  return (
    <section aria-labelledby="applications-heading">
      <div className="page-header">
        <h1 id="applications-heading">Applications</h1>
        <Button variant="primary" onPress={() => setCreating(true)}>
          Create application
        </Button>
      </div>
      <p className="muted">
        An application groups the API keys of one integration, such as a web store or its staging copy.
      </p>
      {/* No filters over an empty list: there is nothing to narrow yet. */}
      <div className="filters" hidden={connection?.totalCount === 0 && !filtered}>
        <SearchField className="field" value={search.input} onChange={search.setInput}>
          <Label>Search by name</Label>
          <Input placeholder="e.g. store" />
        </SearchField>
        <Choice
          label="Show"
          value={enabled}
          onChange={setEnabled}
          options={[
            { id: 'all', label: 'All applications' },
            { id: 'enabled', label: 'Enabled' },
            { id: 'disabled', label: 'Disabled' },
          ]}
        />
      </div>
      <PagedList
        query={{ error, fetching }}
        connection={connection}
        noun="application"
        onPage={pages.setCursor}
        empty={
          filtered ? (
            <p>No application matches these filters.</p>
          ) : (
            <>
              <p>You have no applications yet. Create one to issue its API keys.</p>
              <Button variant="primary" onPress={() => setCreating(true)}>
                Create your first application
              </Button>
            </>
          )
        }
        columns={[
          { label: 'Name' },
          { label: 'Status' },
          { label: 'Keys in use', wideOnly: true },
          { label: 'Created', wideOnly: true },
          { label: 'Actions', hidden: true },
        ]}
        rows={(edges) => edges.map(({ node }) => <ApplicationRow key={node.id} application={node} />)}
      />
      <ApplicationForm isOpen={creating} onClose={() => setCreating(false)} />
    </section>
  );
}

function ApplicationRow({ application }: { application: ApplicationFieldsFragment }) {
  const [dialog, setDialog] = useState<'rename' | 'enable' | null>(null);
  return (
    <tr>
      <th scope="row">
        <Link href={`/applications/${application.id}`} className="row-link">
          {application.name}
        </Link>
        {application.description ? <div className="muted small">{application.description}</div> : null}
      </th>
      <td>
        <span className={`badge ${application.enabled ? 'badge-active' : 'badge-disabled'}`}>
          {application.enabled ? 'Enabled' : 'Disabled'}
        </span>
      </td>
      <td className="wide-only" title={`At most ${application.keyLimit} keys that are not revoked`}>
        {application.keysInUse} of {application.keyLimit}
      </td>
      <td className="wide-only">
        <When value={application.createdAt} />
      </td>
      <td className="actions">
        <MenuTrigger>
          <Button variant="quiet" aria-label={`Actions for ${application.name}`}>
            ⋮
          </Button>
          <Popover className="popover">
            <Menu className="menu" onAction={(key) => setDialog(key as 'rename' | 'enable')}>
              <MenuItem id="rename" className="menu-item">
                Rename
              </MenuItem>
              <MenuItem id="enable" className="menu-item">
                {application.enabled ? 'Disable' : 'Enable'}
              </MenuItem>
            </Menu>
          </Popover>
        </MenuTrigger>
        <ApplicationForm isOpen={dialog === 'rename'} onClose={() => setDialog(null)} application={application} />
        <EnableApplication isOpen={dialog === 'enable'} onClose={() => setDialog(null)} application={application} />
      </td>
    </tr>
  );
}
