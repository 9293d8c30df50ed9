// Runs GraphQL operations against the real Keygate app (Yoga, auth, resolvers,
// database) through yoga.fetch, as a client would, without opening a port.

import { randomBytes } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type AuthConfig, createAuthenticator, type Logger } from '@keygate/server';
import { createApp } from '@keygate/server/graphql';
import { noKeyChanges } from '@keygate/services';
import { print } from 'graphql';
import { signToken } from './auth.ts';
import { openTestDatabase, type TestDatabase } from './database.ts';

/** A typed document (its variables and result typed), or a string a test crafts on purpose. */
export type Document<R = unknown, V = Record<string, unknown>> = TypedDocumentNode<R, V> | string;

/** What a document's data is: typed for a typed document; for a crafted string, whatever came. */
export type ResultOf<D> = D extends TypedDocumentNode<infer R, infer _V> ? R : any;
export type VariablesOf<D> = D extends TypedDocumentNode<infer _R, infer V> ? V : Record<string, unknown>;

export interface GraphQLResponse<T = any> {
  status: number;
  headers: Headers;
  data: T;
  errors?: { message: string; extensions?: { code?: string } }[];
  raw: string;
}

export interface HarnessOptions {
  maxKeysPerApplication?: number;
  maxPageSize?: number;
  issuer?: string;
  audience?: string;
  /** Where the app logs (refused credentials, requests); silent when absent. */
  logger?: Logger;
  /** With the test fixture: empty the tables before each test (the default), or keep what a file seeded once. */
  fresh?: boolean;
}

export type Harness = Awaited<ReturnType<typeof createHarness>>;

export async function createHarness(options: HarnessOptions = {}) {
  const db: TestDatabase = await openTestDatabase();
  const secret = randomBytes(32);
  const auth: AuthConfig = {
    key: { kind: 'secret', secret, origin: 'environment' },
    issuer: options.issuer,
    audience: options.audience,
    merchantClaim: 'merchant_id',
  };
  const app = createApp({
    keyChanges: noKeyChanges,
    prisma: db.prisma,
    authenticate: createAuthenticator(auth),
    logger: options.logger,
    settings: { maxKeysPerApplication: options.maxKeysPerApplication ?? 100, maxPageSize: options.maxPageSize ?? 100 },
  });

  const token = (merchantId: string, claims: Record<string, unknown> = {}, key: Uint8Array = secret) =>
    signToken(key, { merchant_id: merchantId, ...claims }, { subject: `user-of-${merchantId}`, ...options });

  /**
   * Sends a document: one of the SDK's typed documents (or a test-only one,
   * test/operations), whose variables are typed; a string only where a test
   * crafts a document on purpose (malformed, oversized, hostile).
   */
  async function request<D extends Document<unknown, never>>(
    document: D,
    variables: VariablesOf<D> | Record<string, never> = {},
    headers: Record<string, string> = {},
  ): Promise<GraphQLResponse<ResultOf<D>>> {
    const query = typeof document === 'string' ? document : print(document);
    const response = await app.fetch('http://keygate/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
    });
    const raw = await response.text();
    const body = JSON.parse(raw);
    return { status: response.status, headers: response.headers, data: body.data, errors: body.errors, raw };
  }

  /** A client acting for one merchant. `gql` fails the test on any GraphQL error. */
  async function as(merchantId: string) {
    const headers = { authorization: `Bearer ${await token(merchantId)}` };
    return {
      merchantId,
      request: <D extends Document<unknown, never>>(document: D, variables?: VariablesOf<D>) =>
        request(document, variables, headers),
      async gql<D extends Document<unknown, never>>(document: D, variables?: VariablesOf<D>): Promise<ResultOf<D>> {
        const result = await request(document, variables, headers);
        if (result.errors) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
        return result.data;
      },
    };
  }

  return { db, app, secret, token, request, as, close: () => db.close() };
}
