// The dashboard's session: a token from the address (removed at once), this tab's storage, or
// an embedding page; never in localStorage; ended by its expiry; a link for someone else asks.
import { beforeEach, describe, expect, it, vi } from 'vitest';

/** A JWT-shaped token with these claims (the dashboard reads claims; the server checks signatures). */
function token(claims: Record<string, unknown>): string {
  const part = (value: object) =>
    btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

// A fresh module (its state) for every test.
async function session() {
  vi.resetModules();
  return import('./session.ts');
}

beforeEach(() => {
  sessionStorage.clear();
  localStorage.clear();
  history.replaceState(null, '', '/applications');
});

describe('the session', () => {
  it('takes a token from the address, removes it from there, and keeps it in this tab only', async () => {
    const acme = token({ merchant_id: 'acme', sub: 'ann', exp: inAnHour() });
    history.replaceState(null, '', `/applications#token=${acme}`);
    const { startSession, currentToken } = await session();
    startSession([]);
    expect(currentToken()).toBe(acme);
    expect(location.href).not.toContain('token=');
    expect(sessionStorage.getItem('keygate.token')).toBe(acme);
    expect(localStorage.length).toBe(0);
  });

  it('refuses what is not a token, and a token that has expired, with a reason', async () => {
    const { signIn, currentToken } = await session();
    expect(signIn('not a token')).toMatch(/.+/);
    expect(signIn(token({ merchant_id: 'acme', exp: Math.floor(Date.now() / 1000) - 10 }))).toMatch(/expired/);
    expect(currentToken()).toBeNull();
  });

  it('ends at the token’s expiry, saying so', async () => {
    vi.useFakeTimers();
    try {
      const { signIn, useSession, currentToken } = await session();
      void useSession;
      expect(signIn(token({ merchant_id: 'acme', exp: Math.floor(Date.now() / 1000) + 5 }))).toBeNull();
      expect(currentToken()).not.toBeNull();
      vi.advanceTimersByTime(6000);
      expect(currentToken()).toBeNull();
      expect(sessionStorage.getItem('keygate.token')).toBeNull();
    } finally {
      vi.useRealTimers();
    }
  });

  it('asks before a link for another merchant replaces the open session; the same merchant is taken quietly', async () => {
    const a = token({ merchant_id: 'acme', sub: 'ann', exp: inAnHour() });
    const b = token({ merchant_id: 'globex', sub: 'bob', exp: inAnHour() });
    sessionStorage.setItem('keygate.token', a);
    history.replaceState(null, '', `/audit#token=${b}`);
    const module = await session();
    module.startSession([]);
    expect(module.currentToken()).toBe(a);
    module.settlePendingSwitch(false);
    expect(module.currentToken()).toBe(a);

    const again = await session();
    sessionStorage.setItem('keygate.token', a);
    history.replaceState(null, '', `/audit#token=${b}`);
    again.startSession([]);
    again.settlePendingSwitch(true);
    expect(again.currentToken()).toBe(b);

    const fresh = token({ merchant_id: 'globex', sub: 'bob', exp: inAnHour() + 60 });
    const quiet = await session();
    history.replaceState(null, '', `/audit#token=${fresh}`);
    quiet.startSession([]);
    expect(quiet.currentToken()).toBe(fresh);
  });
});
