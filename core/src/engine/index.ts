// The verification engine: decide() with its memory (key cache, address guess limiter),
// exact metering by reservations, and usage batching. Shared by the Keygate server and by
// @keygate/verifier, which runs it inside a platform's own process; each supplies the ports.
export * from './failure-limiter.ts';
export * from './key-cache.ts';
export * from './meter.ts';
export * from './ports.ts';
export * from './ratelimit-fields.ts';
export * from './record.ts';
export * from './shared-values.ts';
export * from './usage-batch.ts';
export * from './verifier.ts';
