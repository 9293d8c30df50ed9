// Signing in: paste a token the platform issued, or, on a development server on loopback,
// mint one for any merchant id ("sign in as"). The page you asked for opens afterwards.
import { useState } from 'react';
import { type SignedOutReason, signIn } from '../session.ts';
import { Button, Field, SubmitForm } from '../ui/controls.tsx';
import { Alert, Notice } from '../ui/feedback.tsx';

export function SignIn({ devSignIn, reason }: { devSignIn: boolean; reason: SignedOutReason }) {
  const [token, setToken] = useState('');
  const [tokenError, setTokenError] = useState<string | undefined>();
  const [merchantId, setMerchantId] = useState('');
  const [devError, setDevError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  async function signInAs() {
    setBusy(true);
    setDevError(undefined);
    try {
      const response = await fetch('/dashboard/sign-in-as', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ merchantId: merchantId.trim() }),
      });
      const body = (await response.json()) as { token?: string; error?: string };
      if (!response.ok || !body.token) setDevError(body.error ?? `the server answered HTTP ${response.status}`);
      else setDevError(signIn(body.token) ?? undefined);
    } catch {
      setDevError(navigator.onLine ? 'Keygate could not be reached.' : 'You are offline.');
    } finally {
      setBusy(false);
    }
  }

  return (
    <main id="main" className="sign-in">
      <h1>Sign in to Keygate</h1>
      {reason === 'expired' ? <Alert>Your session has expired. Sign in again to continue.</Alert> : null}
      {reason === 'rejected' ? (
        <Alert>Keygate did not accept your token: it may have expired or been withdrawn. Sign in again.</Alert>
      ) : null}
      <section aria-labelledby="paste-heading" className="card">
        <h2 id="paste-heading">With a token</h2>
        <p className="muted">
          Paste the token your platform gave you. It is kept in this tab only, and forgotten when you close it.
        </p>
        <SubmitForm onSubmit={() => setTokenError(signIn(token) ?? undefined)}>
          <Field
            label="Token"
            value={token}
            onChange={setToken}
            error={tokenError}
            multiline
            inputClassName="mono"
            isRequired
          />
          <Button type="submit" variant="primary">
            Sign in
          </Button>
        </SubmitForm>
      </section>
      {devSignIn ? (
        <section aria-labelledby="dev-heading" className="card">
          <h2 id="dev-heading">Development: sign in as a merchant</h2>
          <Notice>
            This server runs in development mode on loopback, so it can issue a token for any merchant id.
          </Notice>
          <SubmitForm onSubmit={() => signInAs()}>
            <Field label="Merchant id" value={merchantId} onChange={setMerchantId} error={devError} isRequired />
            <Button type="submit" isPending={busy}>
              Sign in as this merchant
            </Button>
          </SubmitForm>
        </section>
      ) : null}
    </main>
  );
}
