// `pnpm soak`: 60 seconds of mixed traffic against one Keygate process on
// loopback — gateway verifications (wrk), GraphQL verifyKey and a management
// workload (create, edit, set IP rules, list, revoke) — reporting requests
// served, errors, p99 latency and resident memory, on the embedded database
// and then on PostgreSQL. Not a test: a report, which exits 1 when a request
// failed or memory kept growing.
//
//   pnpm soak                     both storages, 60 s each
//   pnpm soak embedded 120        one storage, another duration
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { signToken } from '@keygate/test/support/auth';
import { freePort, startCluster } from '@keygate/test/support/postgres-cluster';
import { graphql, startKeygate } from '@keygate/test/support/process';
import { ensureWrk, load } from './wrk.ts';

const STORAGES = ['embedded', 'postgres'] as const;
type Storage = (typeof STORAGES)[number];
const named = STORAGES.filter((s) => process.argv.includes(s));
const wanted = named.length > 0 ? named : STORAGES;
const SECONDS = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 60);
/** Memory "stops growing" when the last third of the run is within this of the middle third, peak and mean. */
const FLAT = 0.05;

const SECRET = 'soak-secret-soak-secret-soak-secret-0123456';
const jwtKey = new TextEncoder().encode(SECRET);
const sign = (claims: Record<string, unknown>) => signToken(jwtKey, claims, { expiresIn: '2h' });

interface SoakResult {
  storage: Storage;
  seconds: number;
  requests: number;
  errors: number;
  requestsPerSecond: { gateway: number; verifyKey: number; management: number };
  p99Ms: { gateway: number; verifyKey: number; managementRequest: number };
  rssMiB: { start: number; peak: number; thirds: [number, number, number]; lastVsMiddle: number; flat: boolean };
}

async function soak(storage: Storage, databaseUrl?: string): Promise<SoakResult> {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-soak-'));
  const server = await startKeygate({
    KEYGATE_DATA_DIR: dir,
    KEYGATE_JWT_SECRET: SECRET,
    LOG_LEVEL: 'warn',
    PORT: String(await freePort()),
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const rss = () =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  try {
    const token = await sign({ merchant_id: `soak-${storage}` });
    const service = await sign({ keygate_role: 'verifier' });
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

    const start = rss();
    const samples: { t: number; mb: number }[] = [];
    const began = Date.now();
    const sampler = setInterval(() => samples.push({ t: (Date.now() - began) / 1000, mb: rss() }), 500);

    // Management: four clients in a loop, every request timed on its own.
    const latencies: number[] = [];
    let managementErrors = 0;
    let stop = false;
    const timed = async (query: string, variables: Record<string, unknown>) => {
      const begin = performance.now();
      const result = await graphql(server.url, token, query, variables);
      latencies.push(performance.now() - begin);
      if (result.status !== 200 || result.body.errors) throw new Error(JSON.stringify(result.body));
      return result.body.data;
    };
    const manager = async (id: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const { createKey } = await timed(
            'mutation($a: ID!, $n: String!) { createKey(input: { applicationId: $a, name: $n, access: FULL_ACCESS }) { ... on CreateKeyPayload { key { id } } ... on Error { code } } }',
            { a: app, n: `k${id}-${i}` },
          );
          if (!createKey.key) throw new Error(JSON.stringify(createKey));
          const keyId = createKey.key.id;
          await Promise.all([
            timed('mutation($id: ID!) { editKey(input: { id: $id, name: "renamed" }) { __typename } }', { id: keyId }),
            timed(
              'mutation($id: ID!) { setIpRules(input: { keyId: $id, rules: [{ cidr: "10.0.0.0/8", action: DENY }] }) { __typename } }',
              { id: keyId },
            ),
            timed('{ applications(first: 10) { totalCount edges { node { keys(first: 10) { totalCount } } } } }', {}),
          ]);
          await timed('mutation($id: ID!) { revokeKey(input: { id: $id }) { __typename } }', { id: keyId });
        } catch (error) {
          managementErrors++;
          if (managementErrors < 5) console.error('management error:', error);
        }
      }
    };
    const managers = Array.from({ length: 4 }, (_, i) => manager(i));

    // Verification at the same time: the gateway endpoint throughout, GraphQL verifyKey in the middle half.
    const half = Math.max(1, Math.floor(SECONDS / 2));
    const [gateway, verifyKey] = await Promise.all([
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
    const window = (from: number, to: number) => samples.filter((s) => s.t >= from && s.t < to).map((s) => s.mb);
    const third = SECONDS / 3;
    const [early, middle, late] = [window(0, third), window(third, 2 * third), window(2 * third, SECONDS + 1)];
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
    const lastVsMiddle = mean(late) / mean(middle) - 1;
    const flat = lastVsMiddle <= FLAT && Math.max(...late) <= Math.max(...middle) * (1 + FLAT);
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      storage,
      seconds: SECONDS,
      requests: Math.round(gateway.requestsPerSecond * SECONDS + verifyKey.requestsPerSecond * half) + latencies.length,
      errors: gateway.errors + gateway.non2xx + verifyKey.errors + verifyKey.non2xx + managementErrors,
      requestsPerSecond: {
        gateway: Math.round(gateway.requestsPerSecond),
        verifyKey: Math.round(verifyKey.requestsPerSecond),
        management: Math.round(latencies.length / SECONDS),
      },
      p99Ms: {
        gateway: gateway.p99Ms,
        verifyKey: verifyKey.p99Ms,
        managementRequest: round(sorted[Math.ceil(0.99 * sorted.length) - 1] ?? 0),
      },
      rssMiB: {
        start: Math.round(start),
        peak: Math.round(Math.max(...samples.map((s) => s.mb))),
        thirds: [Math.round(mean(early)), Math.round(mean(middle)), Math.round(mean(late))],
        lastVsMiddle: round(lastVsMiddle * 100),
        flat,
      },
    };
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

ensureWrk();
console.log(
  `Keygate soak — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
);
const results: SoakResult[] = [];
for (const storage of wanted) {
  const cluster = storage === 'postgres' ? await startCluster() : null;
  try {
    const r = await soak(storage, cluster?.url);
    results.push(r);
    console.log(`
${storage === 'embedded' ? 'Embedded database (PGlite)' : 'PostgreSQL'}: ${r.seconds} s on loopback
  requests served    ${r.requests.toLocaleString('en')} (gateway ${r.requestsPerSecond.gateway} req/s, verifyKey ${r.requestsPerSecond.verifyKey} req/s, management ${r.requestsPerSecond.management} req/s)
  errors             ${r.errors}
  p99 latency        gateway ${r.p99Ms.gateway} ms, verifyKey ${r.p99Ms.verifyKey} ms, management request ${r.p99Ms.managementRequest} ms
  resident memory    ${r.rssMiB.start} MiB before the load, peak ${r.rssMiB.peak} MiB; mean by thirds ${r.rssMiB.thirds.join(' → ')} MiB
  memory growth      ${r.rssMiB.lastVsMiddle} % last third vs middle third: ${r.rssMiB.flat ? 'stopped growing' : 'STILL GROWING'}`);
  } finally {
    cluster?.stop();
  }
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/soak.json', import.meta.url),
  `${JSON.stringify({ date: new Date().toISOString(), cpus: cpus().length, node: process.version, results }, null, 2)}\n`,
);
process.exitCode = results.every((r) => r.errors === 0 && r.rssMiB.flat) ? 0 : 1;
