// Who the dashboard acts for: a merchant's token, held in memory and in sessionStorage (so
// a reload keeps it, a closed tab forgets it), never in localStorage and never left in the
// URL. It arrives by /#token=… (removed from the address bar at once), by postMessage from
// an embedding page, or pasted on the sign-in screen.
import { checkToken } from '@keygate/sdk';
import { useSyncExternalStore } from 'react';

const STORAGE_KEY = 'keygate.token';

export interface Session {
  token: string;
  /** When the token stops working (its exp), if it says. */
  expiresAt: Date | null;
}

/** Why the user is on the sign-in screen, when it was not their choice. */
export type SignedOutReason = 'expired' | 'rejected' | null;

/** A link's token for another merchant (or person) than the session open in this tab: asked about first. */
export interface PendingSwitch {
  token: string;
  /** Who the open session acts for, and who the link's token would. */
  current: string;
  next: string;
}

interface State {
  session: Session | null;
  reason: SignedOutReason;
  pending: PendingSwitch | null;
}

let state: State = { session: null, reason: null, pending: null };
const listeners = new Set<() => void>();
let expiryTimer: ReturnType<typeof setTimeout> | undefined;

function update(next: State) {
  state = next;
  for (const listener of listeners) listener();
}

/** The claims of a JWT, read without checking it (the server checks it on every request). */
function claims(token: string): Record<string, unknown> {
  try {
    const payload = token.split('.')[1] ?? '';
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const parsed: unknown = JSON.parse(json);
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Signs in with a token; returns why it cannot be used, or null. */
export function signIn(raw: string): string | null {
  const token = raw.trim();
  try {
    checkToken(token);
  } catch (error) {
    return (error as Error).message;
  }
  const payload = claims(token);
  if (token.split('.').length !== 3 || Object.keys(payload).length === 0) {
    return 'This is not a token: a token has three parts separated by dots (header.payload.signature).';
  }
  const exp = typeof payload.exp === 'number' ? new Date(payload.exp * 1000) : null;
  if (exp && exp.getTime() <= Date.now()) return 'This token has expired: ask for a new one.';
  sessionStorage.setItem(STORAGE_KEY, token);
  clearTimeout(expiryTimer);
  if (exp) {
    // Timers cannot wait longer than about 24.8 days; such a token is re-checked then.
    const wait = Math.min(exp.getTime() - Date.now(), 2 ** 31 - 1);
    expiryTimer = setTimeout(() => signOut('expired'), wait);
  }
  update({ session: { token, expiresAt: exp }, reason: null, pending: null });
  return null;
}

/** Who a token acts for, as the person reading the prompt knows it: its merchant and subject. */
function whoOf(token: string): string {
  const payload = claims(token);
  const merchant = typeof payload.merchant_id === 'string' ? payload.merchant_id : '?';
  return typeof payload.sub === 'string' ? `${merchant} (${payload.sub})` : merchant;
}

/** Takes the link's token after all (the person chose to switch), or keeps the open session. */
export function settlePendingSwitch(accept: boolean) {
  const pending = state.pending;
  if (!pending) return;
  if (!accept) return update({ ...state, pending: null });
  if (signIn(pending.token) !== null) update({ ...state, pending: null });
}

export function signOut(reason: SignedOutReason = null) {
  sessionStorage.removeItem(STORAGE_KEY);
  clearTimeout(expiryTimer);
  if (state.session === null && state.reason === reason) return;
  update({ session: null, reason, pending: null });
  tellEmbedder({ type: reason === 'expired' ? 'keygate:token-expired' : 'keygate:signed-out' });
}

export function currentToken(): string | null {
  return state.session?.token ?? null;
}

export function useSession(): State {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => state,
  );
}

let embedOrigins: string[] = [];

function tellEmbedder(message: { type: string }) {
  if (window.parent === window) return;
  for (const origin of embedOrigins) window.parent.postMessage(message, origin);
}

/**
 * Takes the token from the address (then removes it), else from this tab's storage; and,
 * inside an iframe, listens for `{ type: "keygate:token", token }` from the embedding page,
 * accepted only from the origins the server allows to embed (KEYGATE_DASHBOARD_EMBED_ORIGINS).
 */
export function startSession(origins: string[]) {
  embedOrigins = origins;
  const hash = new URLSearchParams(window.location.hash.slice(1));
  const fromUrl = hash.get('token');
  const stored = sessionStorage.getItem(STORAGE_KEY);
  if (stored !== null && signIn(stored) !== null) sessionStorage.removeItem(STORAGE_KEY);
  if (fromUrl !== null) {
    history.replaceState(history.state, '', window.location.pathname + window.location.search);
    const open = state.session;
    if (open !== null && whoOf(open.token) !== whoOf(fromUrl.trim())) {
      // A link for someone else must not silently replace the session open in this tab: ask.
      update({ ...state, pending: { token: fromUrl.trim(), current: whoOf(open.token), next: whoOf(fromUrl.trim()) } });
    } else if (signIn(fromUrl) !== null) {
      update({ session: open, reason: open ? null : 'rejected', pending: null });
    }
  }
  if (window.parent !== window) {
    window.addEventListener('message', (event) => {
      if (event.source !== window.parent || !embedOrigins.includes(event.origin)) return;
      const data = event.data as { type?: unknown; token?: unknown } | null;
      if (data?.type === 'keygate:token' && typeof data.token === 'string') {
        if (signIn(data.token) !== null) update({ session: null, reason: 'rejected', pending: null });
      }
    });
    tellEmbedder({ type: 'keygate:ready' });
  }
}
