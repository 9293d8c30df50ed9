export * from './api-key.ts';
export { crc32 } from './crc32.ts';
export * from './ip-rules.ts';
export * from './names.ts';
export * from './verification.ts';
