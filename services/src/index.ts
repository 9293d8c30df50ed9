// What every consumer of the services needs: the request context they act in, and the typed
// errors they answer with. The operations themselves are imported by module
// (`@keygate/services/keys`, `@keygate/services/webhooks`, …) and the Prisma client from
// `@keygate/services/prisma`.
export * from './context.ts';
export * from './errors.ts';
