// Waiting in tests: for a condition, never for a fixed time that a loaded machine may exceed.

/** Resolves with the condition's first truthy value; fails the test after `timeoutMs` with `what`. */
export async function waitFor<T>(
  condition: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
  what = 'the condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Lets `ms` pass on purpose, for an absence to show (no second delivery, no more requests):
 * a wait for a condition cannot prove that nothing more comes. Named, so it is not mistaken for
 * a wait that should be a condition.
 */
export function quietFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
