// A real Keygate server (HTTP on a free loopback port, the full wiring of
// `pnpm start`) on a fresh test database, for tests of the verification path.
import { randomBytes } from 'node:crypto';
import { type Config, createLogger, loadConfig, startServer } from '@keygate/server';
import { print } from 'graphql';
import { signToken } from './auth.ts';
import { openTestDatabase, type TestDatabase } from './database.ts';
import type { Document, ResultOf, VariablesOf } from './harness.ts';

export type TestServer = Awaited<ReturnType<typeof startTestServer>>;

export async function startTestServer(
  env: Record<string, string> = {},
  database?: TestDatabase,
  options: { clock?: () => number } = {},
) {
  const db = database ?? (await openTestDatabase());
  const secret = randomBytes(32).toString('base64url');
  const config: Config = loadConfig({
    KEYGATE_JWT_SECRET: secret,
    PORT: '0',
    HOST: '127.0.0.1',
    // Tests make deliberate wrong guesses by the dozen; the limiter has its own tests.
    KEYGATE_FAILED_VERIFICATIONS: '0',
    ...(db.storage.kind === 'postgres' ? { DATABASE_URL: db.storage.url } : {}),
    ...env,
  });
  const logs: string[] = [];
  const server = await startServer(config, {
    database: db,
    ...(options.clock ? { clock: options.clock } : {}),
    // The production logger (its redaction included), writing into memory.
    logger: createLogger('info', { write: (line: string) => void logs.push(line) }),
  });
  const key = new TextEncoder().encode(secret);
  const sign = (claims: Record<string, unknown>) => signToken(key, claims);

  return {
    db,
    server,
    url: server.url,
    logs,
    merchantToken: (merchantId: string) => sign({ merchant_id: merchantId, sub: `user-of-${merchantId}` }),
    verifierToken: (subject = 'gateway') => sign({ keygate_role: 'verifier', sub: subject }),
    /** A typed document of the SDK (variables checked), or a string a test crafts on purpose. */
    async graphql<D extends Document<unknown, never>>(token: string | null, document: D, variables?: VariablesOf<D>) {
      const query = typeof document === 'string' ? document : print(document);
      const response = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables: variables ?? {} }),
      });
      return {
        status: response.status,
        ...((await response.json()) as { data: ResultOf<D>; errors?: { message: string; extensions?: any }[] }),
      };
    },
    /** GET /v1/auth, as a gateway would; `query` is the auth URL's requirements (e.g. "cost=3"). */
    async forwardAuth(headers: Record<string, string>, query = '') {
      const response = await fetch(`${server.url}/v1/auth${query ? `?${query}` : ''}`, { headers });
      const text = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        /** X-Keygate-Code: every answer carries it (a 200 has no body). */
        code: response.headers.get('x-keygate-code'),
        /** A refusal's JSON body; null for a 200, which has none. */
        body: (text === '' ? null : JSON.parse(text)) as { valid: boolean; code: string; message?: string } | null,
      };
    },
    async close() {
      await server.close();
      if (!database) await db.close();
    },
  };
}
