// The verification path's parts, for the server's own wiring, benchmarks and
// tests that assemble a verifier without a server around it.

export { FailureLimiter, KeyCache, LAPSE_MS, Meter, UsageBatch, Verifier } from '@keygate/core/engine';
export { createKeyLoader } from './key-loader.ts';
export { createMeterStore } from './meter-store.ts';
export { UsageRecorder, writeUsage } from './usage.ts';
