// The verification path's parts, for the server's own wiring, benchmarks and
// tests that assemble a verifier without a server around it.
export { FailureLimiter } from './failure-limiter.ts';
export { KeyCache } from './key-cache.ts';
export { createKeyLoader } from './key-loader.ts';
export { LAPSE_MS, Meter } from './meter.ts';
export { createMeterStore } from './meter-store.ts';
export { UsageRecorder } from './usage.ts';
export { Verifier } from './verifier.ts';
