// What the user is told: failures (role=alert, read out at once) and quieter notices.
import type { ReactNode } from 'react';
import type { CombinedError } from 'urql';
import { explain } from '../client.ts';

export function Alert({ children }: { children: ReactNode }) {
  return (
    <div role="alert" className="alert">
      {children}
    </div>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <output className="notice" aria-live="polite">
      {children}
    </output>
  );
}

/** A query's state: its failure in words, or a loading line while nothing is shown yet. */
export function QueryState({
  error,
  fetching,
  hasData,
}: {
  error?: CombinedError;
  fetching: boolean;
  hasData: boolean;
}) {
  if (error && !hasData) return <Alert>{explain(error)}</Alert>;
  if (error) return <Alert>Showing what was loaded before: {explain(error)}</Alert>;
  if (fetching && !hasData) return <p className="muted">Loading…</p>;
  return null;
}
