// Least privilege from observed use, on the key's page: what its verifications needed over the
// window, and in one confirmed step, the key narrowed to that (or, unused, revoked). Refused,
// with the reason, when use since needs more.
import { ApplySuggestionDocument, KeySuggestionDocument } from '@keygate/sdk/documents';
import { useMemo, useState } from 'react';
import { useMutation, useQuery } from 'urql';
import { failureOf, inOneLine } from '../errors.ts';
import { Button } from '../ui/controls.tsx';
import { Confirm } from '../ui/dialogs.tsx';
import { When } from '../ui/format.tsx';

const TYPES = { additionalTypenames: ['ApiKey'] };

/** The key's anomalies: how it was used unlike before, and what Keygate did. */
export function KeyAnomalies({ id }: { id: string }) {
  const [{ data }] = useQuery({ query: KeySuggestionDocument, variables: { id }, context: useMemo(() => TYPES, []) });
  const anomalies = data?.node && 'anomalies' in data.node ? data.node.anomalies : [];
  if (anomalies.length === 0) return null;
  return (
    <section aria-labelledby="anomalies-heading" className="card anomalies">
      <h2 id="anomalies-heading">
        Unusual use <span className="count">{anomalies.length}</span>
      </h2>
      <ul className="plain-list">
        {anomalies.map((anomaly) => (
          <li key={anomaly.id}>
            <strong>{anomaly.message}</strong>
            {anomaly.response === 'DISABLE' ? <span className="tag tag-warn">Keygate disabled the key</span> : null}
            <span className="muted small block">
              in the hour from <When value={anomaly.hour} />
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function KeySuggestion({ id, name }: { id: string; name: string }) {
  const [{ data }] = useQuery({ query: KeySuggestionDocument, variables: { id }, context: useMemo(() => TYPES, []) });
  const [, apply] = useMutation(ApplySuggestionDocument);
  const [confirming, setConfirming] = useState(false);
  const suggestion = data?.node && 'suggestion' in data.node ? data.node.suggestion : null;
  if (!suggestion) return null;
  const revoke = suggestion.kind === 'REVOKE_UNUSED';
  const { evidence } = suggestion;
  return (
    <section aria-labelledby="suggestion-heading" className="card suggestion">
      <h2 id="suggestion-heading">{revoke ? 'Unused: revoke it?' : 'Narrow it to what it is used for'}</h2>
      <p>{suggestion.message}</p>
      {evidence.scopes.length > 0 ? (
        <table className="table compact">
          <caption className="visually-hidden">Scopes its verifications needed</caption>
          <thead>
            <tr>
              <th scope="col">Scope needed</th>
              <th scope="col">Verifications</th>
              <th scope="col" className="wide-only">
                First seen
              </th>
              <th scope="col">Last seen</th>
            </tr>
          </thead>
          <tbody>
            {evidence.scopes.map((entry) => (
              <tr key={entry.scope}>
                <td>
                  <code>{entry.scope}</code>
                </td>
                <td>{entry.count.toLocaleString('en-US')}</td>
                <td className="wide-only">
                  <When value={entry.firstSeen} />
                </td>
                <td>
                  <When value={entry.lastSeen} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {!revoke ? (
        <p className="muted small">
          {evidence.readOnly.toLocaleString('en-US')} needed reading only, {evidence.fullAccess.toLocaleString('en-US')}{' '}
          writing, over the last {suggestion.windowDays} days.
        </p>
      ) : null}
      <Button variant={revoke ? 'danger' : 'primary'} onPress={() => setConfirming(true)}>
        {revoke ? 'Revoke the key' : 'Narrow the key'}
      </Button>
      <Confirm
        title={revoke ? `Revoke ${name}?` : `Narrow ${name}?`}
        isOpen={confirming}
        onClose={() => setConfirming(false)}
        confirmLabel={revoke ? 'Revoke key' : 'Narrow key'}
        danger={revoke}
        action={async () => {
          const result = await apply({ input: { keyId: id, suggestionId: suggestion.id } }, TYPES);
          return inOneLine(failureOf(result.error, result.data?.applySuggestion));
        }}
      >
        <p>
          {revoke
            ? 'It is refused from now on, for good. If it was used since this was suggested, nothing happens.'
            : `It becomes ${suggestion.access === 'READ_ONLY' ? 'read only' : 'full access'}${suggestion.scopes.length > 0 ? ` with ${suggestion.scopes.join(', ')}` : ''}. If use since needs more, nothing changes and you are told why.`}
        </p>
      </Confirm>
    </section>
  );
}
