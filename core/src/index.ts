export * from './api-key.ts';
export * from './events.ts';
export * from './global-id.ts';
export * from './ip-rules.ts';
export * from './key-status.ts';
export * from './metering.ts';
export * from './names.ts';
export * from './verification.ts';
