// The GraphQL server's room: Yoga with its plugins and context, and the schema it serves. The
// only place outside schema/ that imports @keygate/schema; tests and tools reach it from here.
export { printKeygateSchema, schema } from '@keygate/schema';
export { LIMITS } from './plugins/abuse-limits.ts';
export { measure, measureOperation } from './plugins/query-cost.ts';
export { type AppOptions, createApp } from './yoga.ts';
