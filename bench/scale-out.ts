// `pnpm bench scale-out`: Keygate on PostgreSQL's own replication, measured. A primary with
// 1,000,000 keys, one streaming replica made from it (pg_basebackup), PgBouncer in front of the
// primary, and three instances of the built server — first reading their cache misses from the
// replica (KEYGATE_REPLICA_DATABASE_URLS), then, as three new processes, from the primary only.
// Each phase: verifications per second of keys in memory and of a miss-heavy mix (wrk, one per
// instance, at once), one miss at a time (latency by source), and the CPU the primary (and the
// replica) spent per 1,000 misses. With the replica: revocation reaching the other instances
// while they are under load.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '@keygate/server';
import { signToken } from '@keygate/test/support/auth';
import { startPgBouncer } from '@keygate/test/support/pgbouncer';
import { type Cluster, freePort, startCluster, startReplica } from '@keygate/test/support/postgres-cluster';
import { graphql, type KeygateProcess, repoRoot, startKeygate } from '@keygate/test/support/process';
import { seedMillionKeys } from './seed.ts';
import { cpuTicks, ensureWrk } from './wrk.ts';

/** One measured figure, as `pnpm bench` prints and records it (also run.ts's). */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  target: string;
  met: boolean;
  detail: string;
}

interface Tools {
  record(figure: Figure): void;
  percentile(values: number[], p: number): number;
  round(n: number): number;
  secret: string;
  quiet: string;
}

const METRICS = 'bench-metrics-token-0123456789';
const SECONDS = 8;

/** CPU ticks (1/100 s) of a PostgreSQL server: its postmaster and every process it started. */
function clusterTicks(cluster: Cluster): number {
  const postmaster = Number(readFileSync(join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let ticks = cpuTicks(postmaster);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended meanwhile.
    }
  }
  return ticks;
}

/** A counter or gauge of an instance's /metrics, summed over its label sets when `labels` is omitted. */
async function metric(server: KeygateProcess, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } })).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels} `) || (!labels && line.startsWith(`${name}{`))) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

/** wrk against /v1/auth of one instance, each request presenting a key picked at random from a file. */
function wrkRandomKeys(url: string, keysFile: string, seconds: number, connections: number) {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-wrk-'));
  const script = join(dir, 'keys.lua');
  writeFileSync(
    script,
    `local keys = {}
for line in io.lines(${JSON.stringify(keysFile)}) do keys[#keys + 1] = line end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  return wrk.format("GET", "/v1/auth", { ["X-Api-Key"] = keys[math.random(#keys)] })
end
`,
  );
  return new Promise<{ rps: number; non2xx: number }>((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '-s', script, url]);
    let text = '';
    child.stdout.on('data', (chunk) => (text += chunk));
    child.stderr.on('data', (chunk) => (text += chunk));
    child.on('error', reject);
    child.on('exit', () => {
      rmSync(dir, { recursive: true, force: true });
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
      if (!rps) return reject(new Error(`unexpected wrk output:\n${text}`));
      const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
      resolve({ rps: Number(rps[1]), non2xx: non2xx ? Number(non2xx[1]) : 0 });
    });
  });
}

const auth = (server: KeygateProcess, key: string) =>
  fetch(`${server.url}/v1/auth`, { headers: { 'x-api-key': key } }).then(async (r) => {
    await r.arrayBuffer();
    return r.status;
  });

export async function scaleOutFigures(tools: Tools): Promise<void> {
  const { record, percentile, round } = tools;
  const median = (values: number[]) => percentile(values, 50);
  console.log(
    `scale-out: a primary with 1,000,000 keys, a streaming replica, PgBouncer, three instances (${cpus().length} cores shared by all of them and wrk)`,
  );
  ensureWrk();
  const dir = mkdtempSync(join(tmpdir(), 'keygate-scale-out-'));
  const primary = await startCluster();
  let replica: Cluster | null = null;
  let bouncer: Awaited<ReturnType<typeof startPgBouncer>> | null = null;
  const running: KeygateProcess[] = [];
  try {
    const seeding = Date.now();
    const db = await openDatabase({ kind: 'postgres', url: primary.url, poolSize: 4 });
    await db.migrate();
    const secrets = await seedMillionKeys(db.prisma);
    await db.close();
    console.log(`  seeded 1,000,000 keys in ${Math.round((Date.now() - seeding) / 1000)} s`);
    const copying = Date.now();
    replica = await startReplica(primary);
    console.log(`  replica made with pg_basebackup in ${Math.round((Date.now() - copying) / 1000)} s`);
    bouncer = await startPgBouncer(primary.url, 8);

    // Key pools: what wrk presents (files), and fresh keys for one-at-a-time misses per phase.
    const hot = secrets.slice(0, 1000);
    const mix = secrets.slice(1000, 61_000);
    const single = { replica: secrets.slice(61_000, 63_000), primary: secrets.slice(63_000, 65_000) };
    const hotFile = join(dir, 'hot.txt');
    const mixFile = join(dir, 'mix.txt');
    writeFileSync(hotFile, `${hot.join('\n')}\n`);
    writeFileSync(mixFile, `${mix.join('\n')}\n`);
    const signer = new TextEncoder().encode(tools.secret);

    const phase = async (withReplica: boolean) => {
      const env: Record<string, string> = {
        DATABASE_URL: bouncer!.url,
        KEYGATE_LISTEN_DATABASE_URL: primary.url,
        KEYGATE_DB_POOL_SIZE: '8',
        KEYGATE_METRICS_TOKEN: METRICS,
        KEYGATE_JWT_SECRET: tools.secret,
        LOG_LEVEL: tools.quiet,
        KEYGATE_DATA_DIR: mkdtempSync(join(dir, 'data-')),
        ...(withReplica ? { KEYGATE_REPLICA_DATABASE_URLS: replica!.url } : {}),
      };
      const instances: KeygateProcess[] = [];
      for (let i = 0; i < 3; i++) {
        // A fixed port: readiness is then /healthz (the start-up line is below the quiet log level).
        const server = await startKeygate(
          { ...env, PORT: String(await freePort()) },
          [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')],
          repoRoot,
        );
        instances.push(server);
        running.push(server);
      }
      if (withReplica) {
        for (const server of instances) {
          const deadline = Date.now() + 20_000;
          while (
            !((await (await fetch(`${server.url}/readyz`)).json()) as { replicas?: { fresh: boolean }[] }).replicas?.[0]
              ?.fresh
          ) {
            if (Date.now() > deadline) throw new Error('the replica never caught up');
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
      }
      // One miss at a time through the first instance, before any load: a miss's latency by where it is read.
      const latencies: number[] = [];
      for (const key of withReplica ? single.replica : single.primary) {
        const t0 = performance.now();
        if ((await auth(instances[0]!, key)) !== 200) throw new Error('a real key was refused');
        latencies.push(performance.now() - t0);
      }
      // Keys in memory: each instance verifies the hot keys once, then wrk at all three at once.
      for (const server of instances) for (const key of hot) await auth(server, key);
      const hits = await Promise.all(instances.map((server) => wrkRandomKeys(server.url, hotFile, SECONDS, 16)));

      // A miss-heavy mix: 60,000 keys none of the instances has seen, picked at random.
      const before = await Promise.all(
        instances.map(async (server) => ({
          misses: await metric(server, 'keygate_cache_misses_total'),
          hits: await metric(server, 'keygate_cache_hits_total'),
          replica: await metric(server, 'keygate_key_loads_total', '{source="replica"}'),
        })),
      );
      const primaryTicks = clusterTicks(primary);
      const replicaTicks = clusterTicks(replica!);
      const mixed = await Promise.all(instances.map((server) => wrkRandomKeys(server.url, mixFile, SECONDS, 16)));
      const primaryCpu = (clusterTicks(primary) - primaryTicks) * 10; // ms
      const replicaCpu = (clusterTicks(replica!) - replicaTicks) * 10;
      const after = await Promise.all(
        instances.map(async (server) => ({
          misses: await metric(server, 'keygate_cache_misses_total'),
          hits: await metric(server, 'keygate_cache_hits_total'),
          replica: await metric(server, 'keygate_key_loads_total', '{source="replica"}'),
        })),
      );
      const misses = after.reduce((sum, a, i) => sum + a.misses - before[i]!.misses, 0);
      const mixHits = after.reduce((sum, a, i) => sum + a.hits - before[i]!.hits, 0);
      const fromReplica = after.reduce((sum, a, i) => sum + a.replica - before[i]!.replica, 0);

      return {
        instances,
        hitsRps: hits.reduce((sum, r) => sum + r.rps, 0),
        hitErrors: hits.reduce((sum, r) => sum + r.non2xx, 0),
        mixRps: mixed.reduce((sum, r) => sum + r.rps, 0),
        mixErrors: mixed.reduce((sum, r) => sum + r.non2xx, 0),
        misses,
        mixHits,
        fromReplica,
        primaryCpuPer1000: (primaryCpu / Math.max(1, misses)) * 1000,
        replicaCpuPer1000: (replicaCpu / Math.max(1, misses)) * 1000,
        latencies,
      };
    };

    const withReplica = await phase(true);

    // Revocation under load: wrk keeps instances 2 and 3 busy with keys in memory while keys are
    // made, verified there, and revoked through instance 1; then each is asked once more.
    const [a, b, c] = withReplica.instances as [KeygateProcess, KeygateProcess, KeygateProcess];
    const token = await signToken(signer, { merchant_id: 'scale-out' }, { expiresIn: '1h' });
    const app = (
      await graphql(
        a.url,
        token,
        'mutation { createApplication(input: { name: "Revocations" }) { ... on ApplicationPayload { application { id } } } }',
      )
    ).body.data.createApplication.application.id as string;
    const load = Promise.all([b, c].map((server) => wrkRandomKeys(server.url, hotFile, 30, 16)));
    const mutationMs: number[] = [];
    let refused = 0;
    let trials = 0;
    const started = Date.now();
    while (Date.now() - started < 26_000 && trials < 100) {
      const created = (
        await graphql(
          a.url,
          token,
          'mutation($a: ID!) { createKey(input: { applicationId: $a, name: "k" }) { ... on CreateKeyPayload { secret key { id } } } }',
          { a: app },
        )
      ).body.data.createKey as { secret: string; key: { id: string } };
      await auth(b, created.secret);
      await auth(c, created.secret);
      const t0 = performance.now();
      await graphql(a.url, token, 'mutation($id: ID!) { revokeKey(input: { id: $id }) { __typename } }', {
        id: created.key.id,
      });
      mutationMs.push(performance.now() - t0);
      trials++;
      if ((await auth(b, created.secret)) === 401 && (await auth(c, created.secret)) === 401) refused++;
    }
    await load;
    for (const server of withReplica.instances) await server.stop();

    const primaryOnly = await phase(false);
    for (const server of primaryOnly.instances) await server.stop();

    const mixDetail = (p: typeof withReplica) =>
      `${round(p.mixRps)} req/s over the three; ${p.misses} misses and ${p.mixHits} hits (${round((100 * p.misses) / Math.max(1, p.misses + p.mixHits))} % misses)${p.mixErrors ? `; ${p.mixErrors} non-2xx` : ''}`;
    record({
      name: 'scale-out: verifications per second, keys in memory, three instances',
      value: withReplica.hitsRps,
      unit: 'req/s',
      target: 'a figure',
      met: withReplica.hitErrors === 0,
      detail: `wrk at each of three instances at once (1 thread, 16 connections, ${SECONDS} s), 1,000 keys in memory; ${round(primaryOnly.hitsRps)} req/s in the run without the replica (hits never read the database)`,
    });
    record({
      name: 'scale-out: verifications per second, miss-heavy, misses read from the replica',
      value: withReplica.mixRps,
      unit: 'req/s',
      target: 'a figure',
      met: withReplica.mixErrors === 0 && withReplica.fromReplica > 0,
      detail: `${mixDetail(withReplica)}; ${withReplica.fromReplica} read from the replica; against the primary only: ${mixDetail(primaryOnly)}`,
    });
    record({
      name: 'scale-out: a miss, one at a time, read from the replica vs the primary',
      value: percentile(withReplica.latencies, 99),
      unit: 'ms p99',
      target: '≤ 2 ms',
      met: percentile(withReplica.latencies, 99) <= 2,
      detail: `replica: median ${round(median(withReplica.latencies))} ms, p99 ${round(percentile(withReplica.latencies, 99))} ms; primary (through PgBouncer): median ${round(median(primaryOnly.latencies))} ms, p99 ${round(percentile(primaryOnly.latencies, 99))} ms; 2,000 keys each, GET /v1/auth end to end`,
    });
    record({
      name: "scale-out: the primary's CPU per 1,000 misses, with the replica vs without",
      value: withReplica.primaryCpuPer1000,
      unit: 'ms',
      target: 'a figure',
      met: true,
      detail: `with the replica ${round(withReplica.primaryCpuPer1000)} ms (the replica spent ${round(withReplica.replicaCpuPer1000)} ms per 1,000); without it ${round(primaryOnly.primaryCpuPer1000)} ms; all of PostgreSQL's processes, during the miss-heavy runs`,
    });
    const p99 = percentile(mutationMs, 99);
    record({
      name: 'scale-out: revocation under load reaching the other instances',
      value: refused,
      unit: `/ ${trials}`,
      target: 'every first request refused',
      met: refused === trials,
      detail: `instances 2 and 3 under wrk load (keys in memory) both refused the key on the first request after revokeKey returned on instance 1 in ${refused} of ${trials} trials; revokeKey p99 ${round(p99)} ms, median ${round(median(mutationMs))} ms`,
    });
  } finally {
    for (const server of running) await server.stop().catch(() => {});
    await bouncer?.stop();
    replica?.stop();
    primary.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
