// The generated Prisma client (built by `pnpm generate`), re-exported so every
// package imports it from one place.
export * from './generated/prisma/client.ts';
