// Webhook endpoints: add one (its signing secret shown once), enable or disable, send a
// test, rotate the secret, delete; and each endpoint's deliveries.
import {
  CreateWebhookEndpointDocument,
  DeleteWebhookEndpointDocument,
  type EventType,
  RotateWebhookSecretDocument,
  SendTestWebhookDocument,
  UpdateWebhookEndpointDocument,
  WebhookDeliveriesDocument,
  type WebhookEndpointFieldsFragment,
  WebhookEndpointsDocument,
} from '@keygate/sdk/documents';
import { useMemo, useState } from 'react';
import {
  Checkbox,
  CheckboxGroup,
  FieldError,
  Label,
  Menu,
  MenuItem,
  MenuTrigger,
  Popover,
} from 'react-aria-components';
import { useMutation, useQuery } from 'urql';
import { explain } from '../client.ts';
import { type FormErrors, failureOf, inOneLine, isError, NO_ERRORS } from '../errors.ts';
import { Button, Field, SubmitForm } from '../ui/controls.tsx';
import { Confirm, Sheet } from '../ui/dialogs.tsx';
import { Alert, Notice, QueryState } from '../ui/feedback.tsx';
import { When } from '../ui/format.tsx';
import { PagedList } from '../ui/paged-list.tsx';
import { usePages } from '../ui/pager.tsx';
import { SecretOnce } from './secret-once.tsx';

const EVENTS: EventType[] = [
  'KEY_CREATED',
  'KEY_UPDATED',
  'KEY_REVOKED',
  'KEY_ROLLED',
  'KEY_DISABLED',
  'KEY_ENABLED',
  'KEY_EXPIRING',
  'KEY_EXPIRED',
  'KEY_LEAKED',
  'KEY_ANOMALY',
  'USAGE_EXCEEDED',
  'APPLICATION_CREATED',
  'APPLICATION_UPDATED',
  'APPLICATION_DISABLED',
  'APPLICATION_ENABLED',
];
const wire = (event: EventType) => event.toLowerCase().replace('_', '.');
const TYPES = { additionalTypenames: ['WebhookEndpoint'] };

export default function Webhooks() {
  const pages = usePages();
  const [{ data, error, fetching }] = useQuery({
    query: WebhookEndpointsDocument,
    variables: pages.variables,
    context: useMemo(() => TYPES, []),
  });
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const connection = data?.webhookEndpoints;
  return (
    <section aria-labelledby="webhooks-heading">
      <div className="page-header">
        <h1 id="webhooks-heading">Webhooks</h1>
        <Button variant="primary" onPress={() => setCreating(true)}>
          Add endpoint
        </Button>
      </div>
      <p className="muted">
        Keygate posts events (key created, revoked, expiring, out of credits, …) to your endpoints, signed per the
        Standard Webhooks specification, retrying until they answer 2xx.
      </p>
      <PagedList
        query={{ error, fetching }}
        connection={connection}
        noun="endpoint"
        onPage={pages.setCursor}
        empty={<p>No endpoint yet.</p>}
        items={(edges) => (
          <ul className="endpoints">
            {edges.map(({ node }) => (
              <Endpoint key={node.id} endpoint={node} onSecret={setSecret} />
            ))}
          </ul>
        )}
      />
      <Sheet title="Add a webhook endpoint" isOpen={creating} onClose={() => setCreating(false)}>
        <CreateEndpoint
          onDone={(signingSecret) => {
            setCreating(false);
            if (signingSecret) setSecret(signingSecret);
          }}
        />
      </Sheet>
      <SecretOnce title="The endpoint's signing secret" secret={secret} onDone={() => setSecret(null)}>
        <p>Your endpoint checks each event's signature with it.</p>
      </SecretOnce>
    </section>
  );
}

function CreateEndpoint({ onDone }: { onDone: (secret: string | null) => void }) {
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [events, setEvents] = useState<string[]>(['KEY_REVOKED', 'KEY_EXPIRING', 'USAGE_EXCEEDED']);
  const [errors, setErrors] = useState<FormErrors>(NO_ERRORS);
  const [state, create] = useMutation(CreateWebhookEndpointDocument);
  async function submit() {
    setErrors(NO_ERRORS);
    const result = await create(
      { input: { url, description: description.trim() || null, events: events as EventType[] } },
      TYPES,
    );
    const payload = result.data?.createWebhookEndpoint;
    const failed = failureOf(result.error, payload, 'url');
    if (failed) return setErrors(failed);
    if (payload?.__typename === 'CreateWebhookEndpointPayload') onDone(payload.signingSecret);
  }
  return (
    <SubmitForm onSubmit={submit}>
      <Field
        label="URL"
        type="url"
        value={url}
        onChange={setUrl}
        error={errors.fields.url}
        isRequired
        autoFocus
        placeholder="https://example.com/keygate-events"
      />
      <Field
        label="Description (optional)"
        value={description}
        onChange={setDescription}
        error={errors.fields.description}
      />
      <CheckboxGroup
        className="field checkbox-group"
        value={events}
        onChange={setEvents}
        isInvalid={errors.fields.events !== undefined}
        validationBehavior="aria"
      >
        <Label>Events</Label>
        <div className="checkbox-grid">
          {EVENTS.map((event) => (
            <Checkbox key={event} value={event} className="checkbox">
              {({ isSelected }) => (
                <>
                  <span className="checkbox-box" aria-hidden="true">
                    {isSelected ? '✓' : ''}
                  </span>
                  <code>{wire(event)}</code>
                </>
              )}
            </Checkbox>
          ))}
        </div>
        <FieldError className="field-error">{errors.fields.events}</FieldError>
      </CheckboxGroup>
      {errors.form ? <Alert>{errors.form}</Alert> : null}
      <div className="dialog-actions">
        <Button onPress={() => onDone(null)}>Cancel</Button>
        <Button type="submit" variant="primary" isPending={state.fetching}>
          Add endpoint
        </Button>
      </div>
    </SubmitForm>
  );
}

type EndpointAction = 'toggle' | 'test' | 'rotate' | 'delete' | 'deliveries';

function Endpoint({
  endpoint,
  onSecret,
}: {
  endpoint: WebhookEndpointFieldsFragment;
  onSecret: (secret: string) => void;
}) {
  const [open, setOpen] = useState<EndpointAction | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [, update] = useMutation(UpdateWebhookEndpointDocument);
  const [, sendTest] = useMutation(SendTestWebhookDocument);
  const [, rotate] = useMutation(RotateWebhookSecretDocument);
  const [, remove] = useMutation(DeleteWebhookEndpointDocument);
  const close = () => setOpen(null);

  async function act(action: EndpointAction) {
    setMessage(null);
    setProblem(null);
    if (action === 'toggle') {
      const result = await update({ input: { id: endpoint.id, enabled: !endpoint.enabled } });
      const payload = result.data?.updateWebhookEndpoint;
      if (result.error) setProblem(explain(result.error));
      else if (payload && isError(payload)) setProblem(payload.message);
      else setMessage(endpoint.enabled ? 'Disabled.' : 'Enabled.');
    } else if (action === 'test') {
      const result = await sendTest({ input: { id: endpoint.id } });
      const payload = result.data?.sendTestWebhook;
      if (result.error) setProblem(explain(result.error));
      else if (payload && isError(payload)) setProblem(payload.message);
      else setMessage('A webhook.test event is on its way; see its delivery below.');
    } else setOpen(action);
  }

  return (
    <li className="card endpoint">
      <div className="page-header">
        <h2 className="endpoint-url">{endpoint.url}</h2>
        <span className={`badge ${endpoint.enabled ? 'badge-active' : 'badge-disabled'}`}>
          {endpoint.enabled ? 'Enabled' : 'Disabled'}
        </span>
        <MenuTrigger>
          <Button variant="quiet" aria-label={`Actions for ${endpoint.url}`}>
            ⋮
          </Button>
          <Popover className="popover">
            <Menu className="menu" onAction={(key) => void act(key as EndpointAction)}>
              <MenuItem id="deliveries" className="menu-item">
                Deliveries
              </MenuItem>
              <MenuItem id="test" className="menu-item">
                Send a test event
              </MenuItem>
              <MenuItem id="toggle" className="menu-item">
                {endpoint.enabled ? 'Disable' : 'Enable'}
              </MenuItem>
              <MenuItem id="rotate" className="menu-item">
                Rotate signing secret
              </MenuItem>
              <MenuItem id="delete" className="menu-item menu-item-danger">
                Delete
              </MenuItem>
            </Menu>
          </Popover>
        </MenuTrigger>
      </div>
      {endpoint.description ? <p>{endpoint.description}</p> : null}
      {endpoint.disabledReason ? <Alert>Disabled by Keygate: {endpoint.disabledReason}</Alert> : null}
      <p className="muted small">
        {endpoint.events.map(wire).join(', ')} · added <When value={endpoint.createdAt} />
      </p>
      {message ? <Notice>{message}</Notice> : null}
      {problem ? <Alert>{problem}</Alert> : null}
      <Sheet title={`Deliveries to ${endpoint.url}`} isOpen={open === 'deliveries'} onClose={close}>
        <Deliveries id={endpoint.id} />
        <div className="dialog-actions">
          <Button onPress={close}>Close</Button>
        </div>
      </Sheet>
      <Confirm
        title="Rotate the signing secret?"
        isOpen={open === 'rotate'}
        onClose={close}
        confirmLabel="Rotate secret"
        action={async () => {
          const result = await rotate({ input: { id: endpoint.id } });
          const payload = result.data?.rotateWebhookSecret;
          if (payload?.__typename === 'CreateWebhookEndpointPayload') onSecret(payload.signingSecret);
          return inOneLine(failureOf(result.error, payload));
        }}
      >
        <p>Events are signed with a new secret from now on; give it to your endpoint.</p>
      </Confirm>
      <Confirm
        title={`Delete ${endpoint.url}?`}
        isOpen={open === 'delete'}
        onClose={close}
        confirmLabel="Delete endpoint"
        action={async () => {
          const result = await remove({ input: { id: endpoint.id } }, TYPES);
          return inOneLine(failureOf(result.error, undefined));
        }}
      >
        <p>No more events are sent to it; deliveries not yet made are dropped.</p>
      </Confirm>
    </li>
  );
}

function Deliveries({ id }: { id: string }) {
  const [after, setAfter] = useState<string | undefined>();
  const [{ data, error, fetching }] = useQuery({
    query: WebhookDeliveriesDocument,
    variables: { id, first: 10, after },
  });
  const node = data?.node;
  const deliveries = node && node.__typename === 'WebhookEndpoint' ? node.deliveries : undefined;
  return (
    <>
      <QueryState error={error} fetching={fetching} hasData={deliveries !== undefined} />
      {deliveries && deliveries.edges.length === 0 ? <p className="muted">Nothing delivered yet.</p> : null}
      {deliveries && deliveries.edges.length > 0 ? (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">When</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.edges.map(({ node: delivery }) => (
                <tr key={delivery.id}>
                  <td>
                    <code>{wire(delivery.eventType)}</code>
                  </td>
                  <td>
                    {delivery.status.toLowerCase()}
                    {delivery.lastStatusCode ? ` (HTTP ${delivery.lastStatusCode})` : ''}
                    {delivery.lastError ? <div className="muted small">{delivery.lastError}</div> : null}
                  </td>
                  <td>{delivery.attempts}</td>
                  <td>
                    <When value={delivery.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {deliveries?.pageInfo.hasNextPage ? (
        <Button onPress={() => setAfter(deliveries.pageInfo.endCursor ?? undefined)}>Older deliveries</Button>
      ) : null}
    </>
  );
}
