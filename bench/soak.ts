// `pnpm soak`: 60 seconds of mixed traffic against one Keygate process on
// loopback — gateway verifications (wrk), GraphQL verifyKey and a management
// workload (create, edit, set IP rules, revoke, list) — reporting requests
// served, errors, p99 latency and resident memory. Not a test: a report.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { freePort } from '../test/support/postgres-cluster.ts';
import { graphql, startKeygate } from '../test/support/process.ts';
import { ensureWrk, load } from './wrk.ts';

const SECONDS = Number(process.argv[2] ?? 60);
const SECRET = 'soak-secret-soak-secret-soak-secret-0123456';
const key = new TextEncoder().encode(SECRET);
const sign = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('2h').sign(key);

ensureWrk();
const dir = mkdtempSync(join(tmpdir(), 'keygate-soak-'));
const server = await startKeygate({
  KEYGATE_DATA_DIR: dir,
  KEYGATE_JWT_SECRET: SECRET,
  LOG_LEVEL: 'warn',
  PORT: String(await freePort()),
});
const token = await sign({ merchant_id: 'soak' });
const service = await sign({ keygate_role: 'verifier' });
const rss = () =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

try {
  const app = (
    await graphql(
      server.url,
      token,
      'mutation { createApplication(input: { name: "Soak" }) { ... on ApplicationPayload { application { id } } } }',
    )
  ).body.data.createApplication.application.id;
  const create = async (name: string) =>
    (
      await graphql(
        server.url,
        token,
        'mutation($a: ID!, $n: String!) { createKey(input: { applicationId: $a, name: $n, access: FULL_ACCESS }) { ... on CreateKeyPayload { secret key { id } } ... on Error { code } } }',
        { a: app, n: name },
      )
    ).body.data.createKey;
  const { secret } = await create('gateway key');

  const samples: { t: number; mb: number }[] = [];
  const started = Date.now();
  const sampler = setInterval(() => samples.push({ t: (Date.now() - started) / 1000, mb: rss() }), 1000);

  // Management traffic: four clients in a loop, each request timed.
  const latencies: number[] = [];
  let managementErrors = 0;
  let stop = false;
  const manager = async (id: number) => {
    for (let i = 0; !stop; i++) {
      const begin = performance.now();
      try {
        const created = await create(`k${id}-${i}`);
        if (!created.key) throw new Error(JSON.stringify(created));
        const keyId = created.key.id;
        const steps = [
          graphql(
            server.url,
            token,
            'mutation($id: ID!) { editKey(input: { id: $id, name: "renamed" }) { __typename } }',
            { id: keyId },
          ),
          graphql(
            server.url,
            token,
            'mutation($id: ID!) { setIpRules(input: { keyId: $id, rules: [{ cidr: "10.0.0.0/8", action: DENY }] }) { __typename } }',
            { id: keyId },
          ),
          graphql(
            server.url,
            token,
            '{ applications(first: 10) { totalCount edges { node { keys(first: 10) { totalCount } } } } }',
          ),
          graphql(server.url, token, 'mutation($id: ID!) { revokeKey(input: { id: $id }) { __typename } }', {
            id: keyId,
          }),
        ];
        for (const step of await Promise.all(steps))
          if (step.status !== 200 || step.body.errors) throw new Error(JSON.stringify(step.body));
      } catch (error) {
        managementErrors++;
        if (managementErrors < 5) console.error('management error:', error);
      }
      latencies.push(performance.now() - begin);
    }
  };
  const managers = Array.from({ length: 4 }, (_, i) => manager(i));

  // Verification traffic, at the same time: the gateway endpoint and GraphQL verifyKey.
  const half = Math.max(1, Math.floor(SECONDS / 2));
  const [gateway, graphqlVerify] = await Promise.all([
    load(
      { url: `${server.url}/v1/auth`, headers: { 'x-api-key': secret } },
      { threads: 1, connections: 16, seconds: SECONDS },
    ),
    (async () => {
      await new Promise((resolve) => setTimeout(resolve, half * 500));
      return load(
        {
          url: `${server.url}/graphql`,
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${service}` },
          body: JSON.stringify({
            query: 'mutation($k: String!) { verifyKey(input: { key: $k }) { ... on KeyVerification { valid } } }',
            variables: { k: secret },
          }),
        },
        { threads: 1, connections: 4, seconds: half },
      );
    })(),
  ]);
  stop = true;
  await Promise.all(managers);
  clearInterval(sampler);

  const sorted = [...latencies].sort((a, b) => a - b);
  const p99 = sorted[Math.ceil(0.99 * sorted.length) - 1] ?? 0;
  const mean = (from: number, to: number) => {
    const window = samples.filter((s) => s.t >= from && s.t < to).map((s) => s.mb);
    return window.reduce((a, b) => a + b, 0) / Math.max(1, window.length);
  };
  const third = SECONDS / 3;
  const [early, middle, late] = [mean(0, third), mean(third, 2 * third), mean(2 * third, SECONDS + 1)];
  const served =
    Math.round(gateway.requestsPerSecond * SECONDS + graphqlVerify.requestsPerSecond * half) + latencies.length * 5;
  const errors = gateway.errors + gateway.non2xx + graphqlVerify.errors + graphqlVerify.non2xx + managementErrors;
  console.log(`
Keygate soak: ${SECONDS} s on loopback (embedded database)
  requests served        ${served.toLocaleString('en')} (gateway ${Math.round(gateway.requestsPerSecond)} req/s, verifyKey ${Math.round(graphqlVerify.requestsPerSecond)} req/s, ${latencies.length} management rounds of 5 requests)
  errors                 ${errors}
  p99 latency            gateway ${gateway.p99Ms} ms, verifyKey ${graphqlVerify.p99Ms} ms, management round ${p99.toFixed(1)} ms
  resident memory        peak ${Math.max(...samples.map((s) => s.mb)).toFixed(0)} MiB; mean by thirds ${early.toFixed(0)} → ${middle.toFixed(0)} → ${late.toFixed(0)} MiB
  memory growth          last third vs middle third: ${(((late - middle) / middle) * 100).toFixed(1)} %`);
  process.exitCode = errors === 0 ? 0 : 1;
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
