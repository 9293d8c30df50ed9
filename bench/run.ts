// `pnpm bench`: Keygate's performance figures, measured in one run on this
// machine, printed as a table and written to bench/results/latest.json.
// Figures, not tests: nothing here fails on a slow machine.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { generateKey, hashKey, parseKey, parsePermissions } from '@keygate/core';
import { openDatabase } from '@keygate/server';
import {
  createKeyLoader,
  createMeterStore,
  KeyCache,
  Meter,
  UsageBatch,
  UsageRecorder,
  Verifier,
} from '@keygate/server/verification';
import { signToken } from '@keygate/test/support/auth';
import { seedMerchant } from '@keygate/test/support/merchant-seed';
import { startNginx } from '@keygate/test/support/nginx';
import { freePort, startCluster } from '@keygate/test/support/postgres-cluster';
import { graphql, type KeygateProcess, repoRoot, startKeygate } from '@keygate/test/support/process';
import lighthouse from 'lighthouse';
import pg from 'pg';
import { type Figure, scaleOutFigures } from './scale-out.ts';
import { seedMillionKeys } from './seed.ts';
import { cpuTicks, ensureWrk, type LoadResult, type LoadSettings, load, type Target } from './wrk.ts';

const figures: Figure[] = [];
const record = (figure: Figure) => {
  figures.push(figure);
  console.log(
    `  ${figure.met ? 'ok  ' : 'MISS'} ${figure.name}: ${round(figure.value)} ${figure.unit} (target ${figure.target}) — ${figure.detail}`,
  );
};
const round = (n: number) => (Math.abs(n) >= 100 ? Math.round(n) : Math.round(n * 1000) / 1000);
const median = (values: number[]) => percentile(values, 50);
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const SECRET = 'bench-secret-bench-secret-bench-secret-0123';
// Per-request log lines would be measured too (and collected by this process, on the same
// cores): the servers under test log warnings only.
const QUIET = 'warn';
const signer = new TextEncoder().encode(SECRET);
const merchantToken = () => signToken(signer, { merchant_id: 'bench' }, { expiresIn: '2h' });
const verifierToken = () => signToken(signer, { keygate_role: 'verifier' }, { expiresIn: '2h' });

/** Credits and two rate limits, ample enough that none refuses while measured. */
const AMPLE_METERING = {
  creditsRemaining: 1_000_000_000,
  rateLimits: [
    { name: 'per-second', limit: 1_000_000_000, windowSeconds: 1 },
    { name: 'per-day', limit: 1_000_000_000, windowSeconds: 86_400 },
  ],
};

/** The bench merchant with `count` keys of its own in a new application; their secrets. */
async function seedKeys(
  prisma: Awaited<ReturnType<typeof openDatabase>>['prisma'],
  count: number,
  metering: Record<string, unknown> = {},
) {
  await prisma.merchant.create({ data: { id: 'bench' } });
  return seedKeysForApp(
    prisma,
    count,
    Array.from({ length: count }, () => metering),
    'bench',
  );
}

/** Median time per call over batches, awaiting the calls that return a promise (a reservation). */
async function microsPerCallAsync(fn: () => unknown, calls = 20_000, batches = 40): Promise<number> {
  for (let i = 0; i < calls; i++) {
    const result = fn();
    if (result instanceof Promise) await result;
  }
  const perCall: number[] = [];
  for (let b = 0; b < batches; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) {
      const result = fn();
      if (result instanceof Promise) await result;
    }
    perCall.push(Number(process.hrtime.bigint() - start) / 1000 / calls);
  }
  return median(perCall);
}

/** Median time per call, over batches of synchronous calls. */
function microsPerCall(fn: () => void, calls = 20_000, batches = 40): number {
  for (let i = 0; i < calls; i++) fn();
  const perCall: number[] = [];
  for (let b = 0; b < batches; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) fn();
    perCall.push(Number(process.hrtime.bigint() - start) / 1000 / calls);
  }
  return median(perCall);
}

async function inProcess(): Promise<void> {
  console.log('in-process verification (embedded database)');
  const db = await openDatabase({ kind: 'pglite' });
  await db.migrate();
  const [secret] = await seedKeys(db.prisma, 1);
  const usage = new UsageRecorder(db.prisma, { intervalMs: 3_600_000, retentionDays: 90 });
  const verifier = new Verifier(
    createKeyLoader(db.prisma, db.pool),
    new KeyCache({ maxKeys: 100_000, maxMisses: 10_000, ttlMs: 300_000 }),
    usage,
  );
  const warm = await verifier.verify({ key: secret! });
  if (warm.code !== 'VALID') throw new Error(`bench key did not verify: ${warm.code}`);
  const hit = microsPerCall(() => {
    const outcome = verifier.verify({ key: secret!, ip: '198.51.100.1', requiredAccess: 'READ_ONLY' });
    if (outcome instanceof Promise) throw new Error('cache hit expected');
  });
  const map = new Map([[hashKey(secret!), true]]);
  const bare = microsPerCall(() => {
    if (parseKey(secret!) === null || !map.get(hashKey(secret!))) throw new Error('unreachable');
  });
  record({
    name: 'verify, cache hit (in-process)',
    value: hit,
    unit: 'µs median',
    target: '≤ 5 µs',
    met: hit <= 5,
    detail: `bare checksum + SHA-256 + Map lookup: ${round(bare)} µs`,
  });

  // Observed use (least privilege, anomalies): what each verification needed and its network,
  // recorded beside the counts, against counts only; clients from 200 addresses of 20 networks.
  {
    const observing = new UsageBatch();
    const countsOnly = new UsageBatch({ observe: false });
    const cache = () => new KeyCache({ maxKeys: 100_000, maxMisses: 10_000, ttlMs: 300_000 });
    const withObservations = new Verifier(createKeyLoader(db.prisma, db.pool), cache(), observing);
    const without = new Verifier(createKeyLoader(db.prisma, db.pool), cache(), countsOnly);
    await withObservations.verify({ key: secret! });
    await without.verify({ key: secret! });
    const addresses = Array.from({ length: 200 }, (_, i) => `198.51.${100 + (i % 20)}.${i}`);
    const requests = addresses.map((ip, i) => ({
      key: secret!,
      ip,
      requiredAccess: i % 10 === 0 ? ('FULL_ACCESS' as const) : ('READ_ONLY' as const),
      requiredScopes: ['orders:read'],
    }));
    let n = 0;
    const observed: number[] = [];
    const counted: number[] = [];
    for (let round = 0; round < 11; round++) {
      observed.push(microsPerCall(() => void withObservations.verify(requests[n++ % 200]!), 10_000, 20));
      counted.push(microsPerCall(() => void without.verify(requests[n++ % 200]!), 10_000, 20));
      // A flush every round, as the server's would: the batch does not grow without bound.
      observing.take();
      countsOnly.take();
    }
    const cost = median(observed) - median(counted);
    record({
      name: 'recording observed use (access, scopes, network), added to a cache hit (in-process)',
      value: cost,
      unit: 'µs',
      target: '≤ 0.2 µs',
      met: cost <= 0.2,
      detail: `${round(median(counted))} µs counts only, ${round(median(observed))} µs with observations (11 interleaved rounds, medians); still one statement per flush`,
    });
  }

  // A permission expression of 5 terms against a key with scopes, beside the same verification
  // without one: parsed once where a route declares it, and looked up by text per call (verifyKey).
  const [scoped] = await seedKeysForApp(
    db.prisma,
    1,
    [{ scopes: ['catalog:read', 'orders:*', 'refunds:read', 'reports:export', 'webhooks:manage'] }],
    'scoped',
  );
  const expressionText =
    'admin OR (orders:read AND (refunds:write OR refunds:read) AND catalog:read AND reports:export)';
  const parsedExpression = parsePermissions(expressionText);
  if (!parsedExpression.ok) throw new Error('bench expression did not parse');
  // Both requests have the same fields (the GraphQL and verifier paths always set the field).
  const scopedRequest = {
    key: scoped!,
    ip: '198.51.100.1',
    requiredAccess: 'READ_ONLY' as const,
    requiredPermissions: null as typeof parsedExpression.value | null,
  };
  const withExpression = {
    key: scoped!,
    ip: '198.51.100.1',
    requiredAccess: 'READ_ONLY' as const,
    requiredPermissions: parsedExpression.value as typeof parsedExpression.value | null,
  };
  const expressionCheck = await verifier.verify(withExpression);
  if (expressionCheck.code !== 'VALID') throw new Error(`expression bench key refused: ${expressionCheck.code}`);
  const plainScoped: number[] = [];
  const expressed: number[] = [];
  const byText: number[] = [];
  for (let round = 0; round < 11; round++) {
    plainScoped.push(microsPerCall(() => void verifier.verify(scopedRequest), 10_000, 20));
    expressed.push(microsPerCall(() => void verifier.verify(withExpression), 10_000, 20));
    byText.push(
      microsPerCall(
        () => {
          const parsed = parsePermissions(expressionText);
          void verifier.verify({
            key: scoped!,
            ip: '198.51.100.1',
            requiredAccess: 'READ_ONLY',
            requiredPermissions: parsed.ok ? parsed.value : null,
          });
        },
        10_000,
        20,
      ),
    );
  }
  const added = median(expressed) - median(plainScoped);
  record({
    name: 'permission expression of 5 terms, added to a cache hit (in-process)',
    value: added,
    unit: 'µs',
    target: '≤ 0.3 µs',
    met: added <= 0.3,
    detail: `${round(median(plainScoped))} µs without, ${round(median(expressed))} µs with it (11 interleaved rounds, medians); looked up by its text on every call as verifyKey does: ${round(median(byText))} µs`,
  });

  // The same with metering: a key with credits and two rate limits, reservations included.
  await db.prisma.$executeRaw`TRUNCATE merchants CASCADE`;
  const [metered] = await seedKeys(db.prisma, 1, AMPLE_METERING);
  const meter = new Meter(createMeterStore(db.prisma), usage);
  const meteredVerifier = new Verifier(
    createKeyLoader(db.prisma, db.pool),
    new KeyCache({ maxKeys: 100_000, maxMisses: 10_000, ttlMs: 300_000 }),
    usage,
    null,
    Date.now,
    meter,
  );
  const first = await meteredVerifier.verify({ key: metered! });
  if (first.code !== 'VALID' || first.rateLimits?.length !== 2) throw new Error('metered bench key did not verify');
  const statementsBefore = meter.statements;
  let count = 0;
  const meteredHit = await microsPerCallAsync(() => {
    count++;
    return meteredVerifier.verify({ key: metered!, ip: '198.51.100.1', requiredAccess: 'READ_ONLY' });
  });
  record({
    name: 'verify, cache hit, credits + two rate limits (in-process)',
    value: meteredHit,
    unit: 'µs median',
    target: '≤ 3 µs',
    met: meteredHit <= 3,
    detail: `unmetered ${round(hit)} µs; ${meter.statements - statementsBefore} reservations over ${count} verifications, included`,
  });

  // A key with its own credits and limits whose identity has shared ones too: both pools, all or
  // nothing, on every verification.
  const owner = await db.prisma.identity.create({
    data: { merchantId: 'bench', externalId: 'cus_bench', ...AMPLE_METERING },
  });
  const [sharing] = await seedKeysForApp(db.prisma, 1, [{ ...AMPLE_METERING, identityId: owner.id }], 'identity');
  const both = await meteredVerifier.verify({ key: sharing! });
  if (both.code !== 'VALID' || both.rateLimits?.length !== 4) throw new Error('identity bench key did not verify');
  // Side by side in one run: the key metered alone, and with its identity's pools as well.
  const alone: number[] = [];
  const shared: number[] = [];
  for (let round = 0; round < 5; round++) {
    alone.push(
      await microsPerCallAsync(
        () => meteredVerifier.verify({ key: metered!, ip: '198.51.100.1', requiredAccess: 'READ_ONLY' }),
        10_000,
        10,
      ),
    );
    shared.push(
      await microsPerCallAsync(
        () => meteredVerifier.verify({ key: sharing!, ip: '198.51.100.1', requiredAccess: 'READ_ONLY' }),
        10_000,
        10,
      ),
    );
  }
  record({
    name: 'verify, cache hit, own and identity’s credits + rate limits (in-process)',
    value: median(shared),
    unit: 'µs median',
    target: '≤ 3.5 µs',
    met: median(shared) <= 3.5,
    detail: `the key's own metering alone: ${round(median(alone))} µs (5 interleaved rounds, medians); 4 limits and 2 credit pools per verification, reservations included`,
  });
  await meter.stop();
  await db.close();
}

async function postgresFigures(url: string): Promise<void> {
  console.log('PostgreSQL');
  const db = await openDatabase({ kind: 'postgres', url, poolSize: 4 }, [{ emit: 'event', level: 'query' }]);
  await db.migrate();
  const secrets = await seedKeys(db.prisma, 1000);
  const usage = new UsageRecorder(db.prisma, { intervalMs: 3_600_000, retentionDays: 90 });
  const verifier = new Verifier(
    createKeyLoader(db.prisma, db.pool),
    new KeyCache({ maxKeys: 100_000, maxMisses: 10_000, ttlMs: 300_000 }),
    usage,
  );
  for (const secret of secrets.slice(0, 50)) await verifier.verify({ key: secret });
  const misses: number[] = [];
  for (const secret of secrets.slice(50)) {
    const start = process.hrtime.bigint();
    const outcome = await verifier.verify({ key: secret });
    misses.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (outcome.code !== 'VALID') throw new Error(outcome.code);
  }
  record({
    name: 'verify, cache miss (PostgreSQL)',
    value: median(misses),
    unit: 'ms median',
    target: '≤ 2 ms',
    met: median(misses) <= 2,
    detail: `p99 ${round(percentile(misses, 99))} ms over ${misses.length} distinct keys, one round trip each`,
  });

  const statements: string[] = [];
  (db.prisma as unknown as { $on(e: 'query', f: (x: { query: string }) => void): void }).$on('query', (e) =>
    statements.push(e.query),
  );
  const key = secrets[0]!;
  for (let i = 0; i < 10_000; i++) {
    const outcome = verifier.verify({ key, ip: '198.51.100.1' });
    if (outcome instanceof Promise) await outcome;
  }
  await usage.flush();
  const writes = statements.filter((sql) => /^\s*(insert|update|delete|with)/i.test(sql)).length;
  record({
    name: 'database writes for 10,000 verifications of one key',
    value: writes,
    unit: 'writes',
    target: '≤ 1 per flush interval',
    met: writes <= 1,
    detail: `${statements.length} statements in all; last-used is written per flush (default every 5 s), here once`,
  });

  // Metered keys at saturation: every statement the meter sends, per 1,000 verifications.
  const meteredSecrets = await seedKeysForApp(db.prisma, 2, [
    AMPLE_METERING,
    {
      creditsRemaining: 1_000_000_000,
      rateLimits: [
        { name: 'per-second', limit: 100, windowSeconds: 1 },
        { name: 'per-day', limit: 1_000_000_000, windowSeconds: 86_400 },
      ],
    },
  ]);
  const meter = new Meter(createMeterStore(db.prisma), usage);
  const meteredVerifier = new Verifier(
    createKeyLoader(db.prisma, db.pool),
    new KeyCache({ maxKeys: 100_000, maxMisses: 10_000, ttlMs: 300_000 }),
    usage,
    null,
    Date.now,
    meter,
  );
  for (const [index, label] of ['ample credits and limits', '100 per second, used up'].entries()) {
    const secret = meteredSecrets[index]!;
    await meteredVerifier.verify({ key: secret });
    await usage.flush();
    statements.length = 0;
    const codes = new Map<string, number>();
    const started = Date.now();
    const total = 100_000;
    // 64 verifications in flight at a time, as a busy gateway would send them.
    for (let done = 0; done < total; done += 64) {
      const outcomes = await Promise.all(
        Array.from({ length: 64 }, () => meteredVerifier.verify({ key: secret, ip: '198.51.100.1' })),
      );
      for (const outcome of outcomes) codes.set(outcome.code, (codes.get(outcome.code) ?? 0) + 1);
    }
    await usage.flush();
    const seconds = (Date.now() - started) / 1000;
    const perThousand = (statements.length / total) * 1000;
    record({
      name: `database statements per 1,000 metered verifications (${label})`,
      value: perThousand,
      unit: 'statements',
      target: '≤ 20',
      met: perThousand <= 20,
      detail: `${statements.length} statements (reservations and the flush) for ${total} verifications in ${round(seconds)} s: ${[...codes].map(([c, n]) => `${n} ${c}`).join(', ')}`,
    });
  }
  await meter.stop();
  await db.close();
}

async function seedKeysForApp(
  prisma: Awaited<ReturnType<typeof openDatabase>>['prisma'],
  count: number,
  metering: Record<string, unknown>[],
  name = 'metered',
) {
  const app = await prisma.application.create({
    data: { merchantId: 'bench', name, normalizedName: name },
  });
  const keys = Array.from({ length: count }, () => generateKey('live'));
  await prisma.apiKey.createMany({
    data: keys.map((k, i) => ({
      merchantId: 'bench',
      applicationId: app.id,
      name: `m${i}`,
      prefix: k.prefix,
      hash: k.hash,
      access: 'FULL_ACCESS' as const,
      environment: 'LIVE' as const,
      ...metering[i],
    })),
  });
  return keys.map((k) => k.secret);
}

/** An application with one key, created through the API of a running server. */
async function seedThroughApi(url: string, name: string, withKey = true) {
  const token = await merchantToken();
  const created = await graphql(
    url,
    token,
    'mutation($n: String!) { createApplication(input: { name: $n }) { ... on ApplicationPayload { application { id } } } }',
    { n: name },
  );
  const app: string = created.body.data.createApplication.application.id;
  const key = withKey ? await createKeyThroughApi(url, token, app) : null;
  return { token, app, secret: key?.secret ?? '' };
}

async function createKeyThroughApi(url: string, token: string, app: string, extra: Record<string, unknown> = {}) {
  const { body } = await graphql(
    url,
    token,
    'mutation($input: CreateKeyInput!) { createKey(input: $input) { ... on CreateKeyPayload { secret key { id } } } }',
    { input: { applicationId: app, name: 'k', access: 'FULL_ACCESS', ...extra } },
  );
  return body.data.createKey as { secret: string; key: { id: string } };
}

function startBareServer(): Promise<{ url: string; stop(): void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "const s=require('http').createServer((q,r)=>{r.writeHead(200,{'content-type':'text/plain'});r.end('ok')});s.keepAliveTimeout=65000;s.listen(0,'127.0.0.1',()=>console.log(s.address().port))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve) => {
    child.stdout.once('data', (port) =>
      resolve({ url: `http://127.0.0.1:${String(port).trim()}`, stop: () => child.kill() }),
    );
  });
}

/**
 * Throughput of `subject` relative to `baseline`: interleaved rounds (baseline,
 * subject, baseline, …) so that both see the same machine, the median of the
 * per-round ratios, and the median throughputs for the record.
 */
async function compare(baseline: Target, subject: Target, rounds: number, settings: LoadSettings) {
  return (await compareMany(baseline, [subject], rounds, settings))[0]!;
}

/** As compare(), with several subjects measured in the same rounds (baseline, each subject, baseline, …). */
async function compareMany(baseline: Target, subjects: Target[], rounds: number, settings: LoadSettings) {
  for (const target of [baseline, ...subjects]) await load(target, { ...settings, seconds: 2 });
  const base: LoadResult[] = [];
  const sub: LoadResult[][] = subjects.map(() => []);
  const ratios: number[][] = subjects.map(() => []);
  for (let round = 0; round < rounds; round++) {
    const b = await load(baseline, settings);
    const results = [];
    for (const subject of subjects) results.push(await load(subject, settings));
    for (const result of [b, ...results]) {
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`errors under load: ${JSON.stringify(result)}`);
    }
    base.push(b);
    results.forEach((result, i) => {
      sub[i]!.push(result);
      ratios[i]!.push(result.requestsPerSecond / b.requestsPerSecond);
    });
  }
  const rps = (results: LoadResult[]) => Math.round(median(results.map((r) => r.requestsPerSecond)));
  const p99 = (results: LoadResult[]) => round(median(results.map((r) => r.p99Ms)));
  const cpu = (results: LoadResult[]) =>
    results.every((r) => r.cpuMicrosPerRequest !== null) ? median(results.map((r) => r.cpuMicrosPerRequest!)) : null;
  return subjects.map((_, i) => {
    const baseCpu = cpu(base);
    const subCpu = cpu(sub[i]!);
    // What the subject keeps of the baseline's throughput where its CPU, not the machine, is
    // the limit: the baseline's CPU time per request over the subject's, per round.
    const cpuRatios =
      baseCpu === null || subCpu === null
        ? null
        : base.map((b, round) => b.cpuMicrosPerRequest! / sub[i]![round]!.cpuMicrosPerRequest!);
    return {
      ratio: median(ratios[i]!),
      ratios: ratios[i]!,
      cpuRatio: cpuRatios === null ? null : median(cpuRatios),
      detail:
        `${rps(sub[i]!)} vs ${rps(base)} req/s (medians), p99 ${p99(sub[i]!)} vs ${p99(base)} ms; per-round ratios ${ratios[i]!.map((r) => r.toFixed(2)).join(' ')}` +
        (cpuRatios === null
          ? ''
          : `; CPU per request ${round(subCpu!)} vs ${round(baseCpu!)} µs (medians), per-round CPU ratios ${cpuRatios.map((r) => r.toFixed(2)).join(' ')}`),
      baselineRps: rps(base),
      subjectRps: rps(sub[i]!),
    };
  });
}

async function httpFigures(): Promise<void> {
  const settings: LoadSettings = { threads: 1, connections: 32, seconds: 4 };
  const rounds = 5;
  console.log(
    `HTTP throughput (wrk: ${settings.threads} thread, ${settings.connections} connections; ${rounds} interleaved rounds of ${settings.seconds} s; server and wrk share ${cpus().length} cores)`,
  );
  ensureWrk();
  // The production command (the built server), as operators run it; one more instance on the same
  // PostgreSQL with /metrics on, to measure what counting costs the hot path.
  const cluster = await startCluster();
  const dir = mkdtempSync(join(tmpdir(), 'keygate-bench-'));
  const env = { KEYGATE_DATA_DIR: dir, KEYGATE_JWT_SECRET: SECRET, LOG_LEVEL: QUIET, DATABASE_URL: cluster.url };
  const production = [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')];
  const keygate = await startKeygate({ ...env, PORT: String(await freePort()) }, production, repoRoot);
  const measured = await startKeygate(
    { ...env, PORT: String(await freePort()), KEYGATE_METRICS_TOKEN: 'bench-metrics-token-0123456789' },
    production,
    repoRoot,
  );
  const bare = await startBareServer();
  try {
    const { secret, app } = await seedThroughApi(keygate.url, 'bench');

    // The same request to all: only the server differs.
    const gatewayHeaders = { 'x-api-key': secret, 'x-original-method': 'POST' };
    const [forward, withMetrics] = await compareMany(
      { url: `${bare.url}/v1/auth`, headers: gatewayHeaders },
      [
        { url: `${keygate.url}/v1/auth`, headers: gatewayHeaders },
        { url: `${measured.url}/v1/auth`, headers: gatewayHeaders },
      ],
      rounds,
      settings,
    );
    record({
      name: 'forward-auth vs bare node:http',
      value: forward!.ratio,
      unit: '× bare',
      target: '≥ 0.85',
      met: forward!.ratio >= 0.85,
      detail: `${forward!.detail}; the built server on PostgreSQL`,
    });
    const cost = (forward!.ratio - withMetrics!.ratio) * 100;
    record({
      name: 'forward-auth with /metrics on: points lost',
      value: cost,
      unit: 'points',
      target: '≤ 3',
      met: cost <= 3,
      detail: `${withMetrics!.ratio.toFixed(2)}× bare with KEYGATE_METRICS_TOKEN set against ${forward!.ratio.toFixed(2)}× without, same rounds (${withMetrics!.detail})`,
    });

    const meteredKey = await createKeyThroughApi(keygate.url, await merchantToken(), app, {
      credits: { remaining: 1_000_000_000 },
      rateLimits: AMPLE_METERING.rateLimits,
    });
    const meteredHeaders = { 'x-api-key': meteredKey.secret, 'x-original-method': 'POST' };
    const metered = await compare(
      { url: `${bare.url}/v1/auth`, headers: meteredHeaders },
      { url: `${keygate.url}/v1/auth`, headers: meteredHeaders },
      rounds,
      settings,
    );
    record({
      name: 'forward-auth, credits + two rate limits, vs bare node:http',
      value: metered.ratio,
      unit: '× bare',
      target: '≥ 0.7',
      met: metered.ratio >= 0.7,
      detail: `${metered.detail}; RateLimit and credits fields on every answer`,
    });

    const post = (body: unknown, authorization?: string): Target => ({
      url: `${keygate.url}/graphql`,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
    });
    const verify = await compare(
      post({ query: '{ __typename }' }),
      post(
        {
          query:
            'mutation V($k: String!) { verifyKey(input: { key: $k, requiredAccess: FULL_ACCESS }) { ... on KeyVerification { valid code keyId } } }',
          variables: { k: secret },
        },
        `Bearer ${await verifierToken()}`,
      ),
      rounds,
      settings,
    );
    record({
      name: 'GraphQL verifyKey vs Yoga { __typename }',
      value: verify.ratio,
      unit: '× Yoga',
      target: '≥ 0.9',
      met: verify.ratio >= 0.9,
      detail: `${verify.detail}; Yoga { __typename } is ${round(forward!.baselineRps / verify.baselineRps)}× slower than bare node:http`,
    });
  } finally {
    bare.stop();
    await Promise.all([keygate.stop(), measured.stop()]);
    cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The documented nginx file (docs/verification.md) in front of a bare API: what a platform loses by asking Keygate at its
 * gateway. Three targets in the same rounds: the API alone, nginx proxying to it (a location of
 * the benchmark's own, without auth_request), and its /api/ location, which asks
 * Keygate's /v1/auth first. nginx (one worker), Keygate, the API and wrk share the machine.
 */
async function gatewayFigures(url: string): Promise<void> {
  const settings: LoadSettings = { threads: 1, connections: 32, seconds: 4 };
  const rounds = 5;
  console.log(
    `gateway (the documented nginx file; wrk: ${settings.threads} thread, ${settings.connections} connections; ${rounds} interleaved rounds of ${settings.seconds} s; ${cpus().length} cores shared)`,
  );
  ensureWrk();
  const dir = mkdtempSync(join(tmpdir(), 'keygate-bench-'));
  // KEYGATE_BENCH_PROFILE=<dir>: Keygate writes a CPU profile there when it stops (chrome://inspect).
  const profile = process.env.KEYGATE_BENCH_PROFILE;
  const production = [
    process.execPath,
    ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : []),
    join(repoRoot, 'server', 'dist', 'main.js'),
  ];
  const keygate = await startKeygate(
    {
      KEYGATE_DATA_DIR: dir,
      KEYGATE_JWT_SECRET: SECRET,
      LOG_LEVEL: QUIET,
      DATABASE_URL: url,
      PORT: String(await freePort()),
      KEYGATE_TRUSTED_PROXIES: '127.0.0.1',
      ...(process.env.KEYGATE_BENCH_PROFILE
        ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.KEYGATE_BENCH_PROFILE}` }
        : {}),
    },
    production,
    repoRoot,
  );
  const api = await startBareServer();
  const apiPort = Number(new URL(api.url).port);
  const plain = `    location /plain/ {
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass http://your_api;
    }`;
  const nginx = await startNginx(Number(new URL(keygate.url).port), apiPort, {}, plain);
  try {
    const { secret } = await seedThroughApi(keygate.url, 'gateway');
    const [alone, asked] = await compareMany(
      { url: `${api.url}/api/orders` },
      [{ url: `${nginx.url}/plain/orders` }, { url: `${nginx.url}/api/orders`, headers: { 'x-api-key': secret } }],
      rounds,
      settings,
    );
    record({
      name: 'gateway: nginx alone vs the API alone',
      value: alone!.ratio,
      unit: '× API',
      target: 'a reference',
      met: true,
      detail: alone!.detail,
    });
    record({
      name: 'gateway: nginx + Keygate (documented file) vs the API alone',
      value: asked!.ratio,
      unit: '× API',
      target: 'a reference',
      met: true,
      detail: asked!.detail,
    });
    // What nginx's forwarding headers cost Keygate itself: /v1/auth with and without them.
    const bareAuth = { url: `${keygate.url}/v1/auth?cost=1`, headers: { 'x-api-key': secret } };
    const [forwarded] = await compareMany(
      bareAuth,
      [{ ...bareAuth, headers: { ...bareAuth.headers, 'x-original-method': 'GET', 'x-forwarded-for': '203.0.113.7' } }],
      rounds,
      settings,
    );
    record({
      name: 'gateway: /v1/auth with nginx’s forwarding headers vs without',
      value: forwarded!.ratio,
      unit: '× without',
      target: '≥ 0.9',
      met: forwarded!.ratio >= 0.9,
      detail: `${forwarded!.detail}; X-Original-Method and X-Forwarded-For from a trusted proxy`,
    });
    const versusNginx = asked!.ratios.map((r, i) => r / alone!.ratios[i]!);
    const ratio = median(versusNginx);
    record({
      name: 'gateway: nginx + Keygate vs nginx alone',
      value: ratio,
      unit: '× nginx',
      target: '≥ 0.35',
      met: ratio >= 0.35,
      detail: `${asked!.subjectRps} vs ${alone!.subjectRps} req/s (medians); per-round ratios ${versusNginx.map((r) => r.toFixed(2)).join(' ')}`,
    });
  } finally {
    await nginx.stop();
    api.stop();
    await keygate.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Starts bench/apps/platform-api.ts in one of its shapes; resolves with its URL once it listens. */
function startPlatformApi(
  mode: string,
  env: Record<string, string>,
): Promise<{ url: string; pid: number; stop(): void }> {
  const child = spawn(
    process.execPath,
    [
      ...profiling,
      '--conditions=@keygate/source',
      '--import',
      'tsx',
      join(repoRoot, 'bench', 'apps', 'platform-api.ts'),
      mode,
    ],
    {
      cwd: join(repoRoot, 'bench'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the ${mode} API exited with ${code}`)));
    child.stdout.once('data', (port) =>
      // SIGINT: the app exits on it, so a CPU profile (KEYGATE_BENCH_PROFILE) is written.
      resolve({ url: `http://127.0.0.1:${String(port).trim()}`, pid: child.pid!, stop: () => child.kill('SIGINT') }),
    );
  });
}

/**
 * What a platform's own API keeps of its throughput with each way of checking keys, side by side
 * in the same rounds: the verifier in its process (node:http and Express), nginx with the
 * documented auth_request file, and verifyKey per request; then revocation reaching a verifier,
 * a cache miss through it, and its memory per cached key.
 */
async function integrationFigures(url: string): Promise<void> {
  const settings: LoadSettings = { threads: 1, connections: 32, seconds: 4 };
  const rounds = 5;
  console.log(
    `integration (wrk: ${settings.threads} thread, ${settings.connections} connections; ${rounds} interleaved rounds of ${settings.seconds} s; ${cpus().length} cores shared by Keygate, the API, nginx and wrk)`,
  );
  ensureWrk();
  const dir = mkdtempSync(join(tmpdir(), 'keygate-bench-'));
  const keygate = await startKeygate(
    {
      KEYGATE_DATA_DIR: dir,
      KEYGATE_JWT_SECRET: SECRET,
      LOG_LEVEL: QUIET,
      DATABASE_URL: url,
      PORT: String(await freePort()),
      KEYGATE_METRICS_TOKEN: METRICS_TOKEN,
    },
    [process.execPath, ...profiling, join(repoRoot, 'server', 'dist', 'main.js')],
    repoRoot,
  );
  const token = await verifierToken();
  const appEnv = { KEYGATE_URL: keygate.url, KEYGATE_TOKEN: token };
  const started: { stop(): void }[] = [];
  const start = async (mode: string) => {
    const api = await startPlatformApi(mode, appEnv);
    started.push(api);
    return api;
  };
  try {
    const { secret, app, token: merchant } = await seedThroughApi(keygate.url, 'integration');
    const metered = await createKeyThroughApi(keygate.url, merchant, app, {
      credits: { remaining: 1_000_000_000 },
      rateLimits: [
        { name: 'per-second', limit: 1_000_000_000, windowSeconds: 1 },
        { name: 'per-hour', limit: 1_000_000_000, windowSeconds: 3600 },
      ],
    });
    const path = '/api/orders';
    // Like for like first, with no other API started: one process answering /bare (the API alone)
    // and the verified route in turns, the same request (key header included) to both. Two
    // processes of the same code differ here by more than the verifier costs (placement on this
    // VM's two shared cores), as the separate comparisons below show round to round.
    const sameProcess = async (mode: string, key: string, others: string[] = []) => {
      const api = await start(mode);
      const headers = { 'x-api-key': key };
      // Shorter rounds, twice as many: the two sides see closer moments of the machine.
      const [result, ...more] = await compareMany(
        { url: `${api.url}/bare`, headers, pids: [api.pid] },
        [path, ...others].map((route) => ({ url: `${api.url}${route}`, headers, pids: [api.pid] })),
        rounds * 2,
        { ...settings, seconds: settings.seconds / 2 },
      );
      return { api, result: result!, more };
    };
    const { api: nodeVerifier, result: plainSame } = await sameProcess('node-verifier', secret);
    // A process per kind of key, as an API serving one kind of client would be. Beside the route:
    // the same route answering allowed requests without the metering header fields, and the API
    // alone sending three fields of the same size (what the fields cost without any verification).
    const {
      api: nodeMetered,
      result: meteredSame,
      more: [meteredQuiet, headersOnly],
    } = await sameProcess('node-verifier', metered.secret, ['/api/orders-quiet', '/bare-with-headers']);
    const { api: expressVerifier, result: expressSame } = await sameProcess('express-verifier', secret);
    const [node, express, verifyKey] = [await start('node'), await start('express'), await start('verifykey')];
    const nginx = await startNginx(Number(new URL(keygate.url).port), Number(new URL(node!.url).port), {});
    started.push({ stop: () => void nginx.stop() });
    const [withVerifier, withMetered, behindNginx, askingVerifyKey] = await compareMany(
      { url: `${node!.url}${path}`, pids: [node!.pid] },
      [
        { url: `${nodeVerifier.url}${path}`, headers: { 'x-api-key': secret }, pids: [nodeVerifier.pid] },
        { url: `${nodeMetered.url}${path}`, headers: { 'x-api-key': metered.secret }, pids: [nodeMetered.pid] },
        { url: `${nginx.url}${path}`, headers: { 'x-api-key': secret } },
        { url: `${verifyKey!.url}${path}`, headers: { 'x-api-key': secret } },
      ],
      rounds,
      settings,
    );
    const [expressRatio] = await compareMany(
      { url: `${express!.url}${path}`, pids: [express!.pid] },
      [{ url: `${expressVerifier.url}${path}`, headers: { 'x-api-key': secret }, pids: [expressVerifier.pid] }],
      rounds,
      settings,
    );
    const separately = (result: { ratio: number; detail: string }) =>
      `; in separate processes (a process without the verifier as the baseline): ${round(result.ratio)}× — ${result.detail}`;
    record({
      name: 'integration: API + verifier (node:http) vs the API alone',
      value: plainSame.ratio,
      unit: '× API',
      target: '≥ 0.9',
      met: plainSame.ratio >= 0.9,
      detail: `same process: ${plainSame.detail}${separately(withVerifier!)}`,
    });
    record({
      name: 'integration: Express + middleware vs Express alone',
      value: expressSame.ratio,
      unit: '× Express',
      target: '≥ 0.9',
      met: expressSame.ratio >= 0.9,
      detail: `same process: ${expressSame.detail}${separately(expressRatio!)}`,
    });
    record({
      name: 'integration: metered key (credits + 2 rate limits) via the verifier vs the API alone',
      value: meteredSame.ratio,
      unit: '× API',
      target: '≥ 0.8',
      met: meteredSame.ratio >= 0.8,
      detail: `same process, RateLimit-Policy, RateLimit and X-Keygate-Credits-Remaining on every answer (the default): ${meteredSame.detail}; the API alone sending three such fields (no verification): ${round(headersOnly!.ratio)}× — ${headersOnly!.detail}${separately(withMetered!)}`,
    });
    record({
      name: "integration: metered key via the verifier, meteringHeaders: 'refusals', vs the API alone",
      value: meteredQuiet!.ratio,
      unit: '× API',
      target: '≥ 0.8',
      met: meteredQuiet!.ratio >= 0.8,
      detail: `same process, the same rounds as the line above; allowed answers without the three fields: ${meteredQuiet!.detail}`,
    });
    record({
      name: 'integration: behind nginx with the documented auth_request file vs the API alone',
      value: behindNginx!.ratio,
      unit: '× API',
      target: 'a reference',
      met: true,
      detail: behindNginx!.detail,
    });
    record({
      name: 'integration: calling verifyKey (GraphQL, the SDK) per request vs the API alone',
      value: askingVerifyKey!.ratio,
      unit: '× API',
      target: 'a reference',
      met: true,
      detail: askingVerifyKey!.detail,
    });

    // The platform APIs and nginx are done: what follows measures the verifier in this process.
    for (const api of started.splice(0)) api.stop();

    // Revocation: a verifier in this process; each key verified from memory, revoked, verified again.
    const { createVerifier } = await import('@keygate/verifier');
    const verifier = createVerifier({ url: keygate.url, token });
    await verifier.ready();
    const mutationMs: number[] = [];
    let refused = 0;
    for (let trial = 0; trial < 100; trial++) {
      const key = await createKeyThroughApi(keygate.url, merchant, app);
      await verifier.verify({ key: key.secret });
      const t0 = performance.now();
      await graphql(keygate.url, merchant, 'mutation($id: ID!) { revokeKey(input: { id: $id }) { __typename } }', {
        id: key.key.id,
      });
      mutationMs.push(performance.now() - t0);
      if ((await verifier.verify({ key: key.secret })).code === 'REVOKED') refused++;
    }
    const p99Mutation = percentile(mutationMs, 99);
    record({
      name: 'integration: revocation reaching a verifier (first request refused)',
      value: refused,
      unit: '/ 100',
      target: '100/100, p99 ≤ 50 ms',
      met: refused === 100 && p99Mutation <= 50,
      detail: `the first verification after revokeKey returned answered REVOKED in ${refused}/100 (the change was applied and acknowledged before it returned); revokeKey round trip including the acknowledgement p99 ${round(p99Mutation)} ms, median ${round(median(mutationMs))} ms — so the change reaches the verifier at most that long after the mutation starts, and 0 ms after it returns`,
    });

    // Cache misses and memory: 20,000 keys with a name, two scopes and metadata, made in SQL.
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const secrets: string[] = [];
    // The other floor: the lookup a miss makes (keygate_load_key, as Keygate sends it), alone.
    const queryMs: number[] = [];
    try {
      const [{ merchant_id }] = (
        await db.query('SELECT merchant_id FROM applications WHERE id = $1', [fromGlobalId(app)])
      ).rows;
      const made = Array.from({ length: 20_000 }, () => generateKey('live'));
      for (const k of made) secrets.push(k.secret);
      await db.query(
        `INSERT INTO api_keys (id, merchant_id, application_id, name, prefix, hash, access, environment, scopes, metadata, external_id, updated_at)
         SELECT gen_random_uuid(), $1, $2, 'Checkout backend for a long merchant name, production', p, h, 'FULL_ACCESS', 'LIVE',
           ARRAY['orders:write', 'refunds:*'], '{"plan":"gold","region":"eu-west-1","seats":25}', 'cus_' || substr(h, 1, 14), now()
         FROM unnest($3::text[], $4::text[]) AS t(p, h)`,
        [merchant_id, fromGlobalId(app), made.map((k) => k.prefix), made.map((k) => k.hash)],
      );
      // 2,000 lookups to warm the path (the JIT, PostgreSQL's plan and buffers), then 4,000 timed.
      for (const [i, { hash }] of made.slice(-6000).entries()) {
        const t0 = performance.now();
        await db.query({ name: 'load', text: 'SELECT * FROM keygate_load_key($1)', values: [hash] });
        if (i >= 2000) queryMs.push(performance.now() - t0);
      }
    } finally {
      await db.end();
    }
    // The floor under a miss on this machine: one request at a time to Keygate over the same kind
    // of kept-alive connection, answered without the database (/healthz).
    const hopAgent = new http.Agent({ keepAlive: true });
    const hopMs: number[] = [];
    for (let i = 0; i < 6000; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) =>
        http
          .get(`${keygate.url}/healthz`, { agent: hopAgent }, (res) => res.resume().on('end', resolve))
          .on('error', reject),
      );
      if (i >= 2000) hopMs.push(performance.now() - t0);
    }
    // The miss's request without the verifier: the same GET by hash, sent from this process to
    // Keygate (which reads PostgreSQL) for other keys. 2,000 untimed here; the timed ones are sent
    // one after each timed miss below, so both are measured side by side in the same seconds
    // (this host's steal moves between phases); what is left of the miss's time is the verifier's
    // own (hashing, its cache, the usage it records).
    const direct = (key: string) =>
      new Promise<void>((resolve, reject) =>
        http
          .get(
            `${keygate.url}/v1/verifier/keys/${hashKey(key)}`,
            { agent: hopAgent, headers: { authorization: `Bearer ${token}` } },
            (res) => {
              if (res.statusCode !== 200) reject(new Error(`GET by hash answered ${res.statusCode}`));
              res.resume().on('end', resolve);
            },
          )
          .on('error', reject),
      );
    for (const key of secrets.slice(8000, 10000)) await direct(key);
    const directMs: number[] = [];
    // A miss path fresh from start runs cold: the first few thousand requests through node:http
    // (client and server) include V8 compiling them, which alone puts a bare hop's p99 over 2 ms
    // here. So 4,000 misses of other keys come first and are reported apart (cold); the figure is
    // the next 4,000 distinct keys, each still a miss in the verifier and in Keygate.
    const coldMs: number[] = [];
    for (const key of secrets.slice(4000, 8000)) {
      const t0 = performance.now();
      await verifier.verify({ key });
      coldMs.push(performance.now() - t0);
    }
    const missMs: number[] = [];
    const gcBefore = await serverGcSeconds(keygate.url);
    const keygateTicks = cpuTicks(keygate.child.pid!);
    const machineBefore = machineTicks();
    const missStart = performance.now();
    for (const [i, key] of secrets.slice(0, 4000).entries()) {
      const t0 = performance.now();
      await verifier.verify({ key });
      const t1 = performance.now();
      missMs.push(t1 - t0);
      await direct(secrets[10_000 + i]!);
      directMs.push(performance.now() - t1);
    }
    hopAgent.destroy();
    const missSeconds = (performance.now() - missStart) / 1000;
    const keygateCpuMs = (cpuTicks(keygate.child.pid!) - keygateTicks) * 10;
    const machine = machineTicks();
    const stolen = (100 * (machine.steal - machineBefore.steal)) / Math.max(1, machine.total - machineBefore.total);
    const gcDuring = (await serverGcSeconds(keygate.url)) - gcBefore;
    const p99Miss = percentile(missMs, 99);
    const slow = missMs.flatMap((ms, i) => (ms > 2 ? [`#${i} ${round(ms)} ms`] : []));
    console.log(`  misses over 2 ms: ${slow.join(', ') || 'none'}`);
    record({
      name: 'integration: a cache miss answered through the verifier, p99',
      value: p99Miss,
      unit: 'ms',
      target: '≤ 2',
      met: p99Miss <= 2,
      detail: `4,000 keys verified once each, one at a time, after 4,000 others; median ${round(median(missMs))} ms (a GET by hash to Keygate, which reads PostgreSQL); ${slow.length} over 2 ms; the 4,000 before them, the first misses since start: p99 ${round(percentile(coldMs, 99))} ms, median ${round(median(coldMs))} ms, ${coldMs.filter((ms) => ms > 2).length} over 2 ms; the same GET by hash sent without the verifier, one after each miss (4,000 other keys, after 2,000 untimed): median ${round(median(directMs))} ms, p99 ${round(percentile(directMs, 99))} ms, ${directMs.filter((ms) => ms > 2).length} over 2 ms; one hop to Keygate answered from memory (/healthz, one at a time, just before, after 2,000 untimed): median ${round(median(hopMs))} ms, p99 ${round(percentile(hopMs, 99))} ms, ${hopMs.filter((ms) => ms > 2).length} of 4,000 over 2 ms; its database lookup alone (from this process, 4,000 other keys after 2,000 untimed): median ${round(median(queryMs))} ms, p99 ${round(percentile(queryMs, 99))} ms; Keygate's process used ${round(keygateCpuMs / (missMs.length + directMs.length))} ms of CPU per GET by hash, and its garbage collector paused ${round(gcDuring * 1000)} ms in these ${round(missSeconds)} s (misses and direct GETs); the hypervisor took ${round(stolen)} % of the machine's CPU time meanwhile (steal)`,
    });
    const gc = collector();
    const flushErrors: string[] = [];
    const fresh = createVerifier({
      url: keygate.url,
      token,
      maxKeys: 100_000,
      onError: (error) => flushErrors.push(error.message),
    });
    await fresh.ready();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < secrets.length; i += 64)
      await Promise.all(secrets.slice(i, i + 64).map((key) => fresh.verify({ key })));
    await fresh.flush(); // what usage holds until the next flush is not the cache
    gc();
    const perKey = (process.memoryUsage().heapUsed - before) / fresh.stats.keys;
    record({
      name: 'integration: verifier memory per cached key',
      value: perKey / 1024,
      unit: 'KB',
      target: '≤ 1',
      met: perKey <= 1024,
      detail: `${fresh.stats.keys} keys cached (each with a name, 2 scopes, metadata and an external id); heap after a full collection, ${flushErrors.length === 0 ? 'their usage written (not held)' : `their usage NOT written, so held and counted: ${flushErrors[0]}`}`,
    });
    await Promise.all([verifier.close(), fresh.close()]);
  } finally {
    for (const api of started) api.stop();
    await keygate.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The machine's CPU time so far, all cores, in ticks: all of it, and what the hypervisor took (steal). */
function machineTicks(): { total: number; steal: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { total: fields.slice(0, 8).reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
}

/** KEYGATE_BENCH_PROFILE=<dir>: Keygate and the platform APIs of `integration` write V8 CPU profiles there. */
const profiling = process.env.KEYGATE_BENCH_PROFILE
  ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KEYGATE_BENCH_PROFILE}`]
  : [];

const METRICS_TOKEN = 'bench-metrics-token-0123456789';

/** Seconds Keygate's process has spent in garbage collection (its /metrics, all kinds). */
async function serverGcSeconds(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  let sum = 0;
  for (const match of text.matchAll(/^nodejs_gc_duration_seconds_sum\{[^}]*\} ([\d.e+-]+)$/gm)) sum += Number(match[1]);
  return sum;
}

function fromGlobalId(id: string): string {
  return Buffer.from(id, 'base64url').toString('utf8').split(':')[1]!;
}

/** Resident memory of a process and its children (pnpm's wrappers included), in MB. */
function residentMb(pid: number): number {
  const own = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean)
    .map(Number);
  return own + children.reduce((sum, child) => sum + residentMb(child), 0);
}

/**
 * The production command against `pnpm start`: time from spawn to /readyz 200 on an existing
 * data directory (a second start), and resident memory after 10 s idle, on PostgreSQL and embedded.
 */
async function runtimeFigures(url: string): Promise<void> {
  console.log('runtime: the built server (node server/dist/main.js) against pnpm start, idle');
  const commands: [string, string[]][] = [
    ['node server/dist/main.js', [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')]],
    ['pnpm start', ['pnpm', 'start']],
  ];
  for (const storage of ['postgres', 'embedded'] as const) {
    for (const [label, command] of commands) {
      const env = {
        KEYGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'keygate-bench-')),
        KEYGATE_JWT_SECRET: SECRET,
        LOG_LEVEL: QUIET,
        ...(storage === 'postgres' ? { DATABASE_URL: url } : {}),
      };
      // The first start creates (and migrates) the data; the second is the one measured.
      const first = await startKeygate({ ...env, PORT: String(await freePort()) }, command, repoRoot);
      await first.stop();
      const port = await freePort();
      const spawned = Date.now();
      const server = await startKeygate({ ...env, PORT: String(port) }, command, repoRoot);
      while (
        (await fetch(`${server.url}/readyz`).then(
          (r) => r.status,
          () => 0,
        )) !== 200
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const ready = (Date.now() - spawned) / 1000;
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      const memory = residentMb(server.child.pid!);
      await server.stop();
      const built = label.startsWith('node');
      const memoryTarget = storage === 'postgres' ? 120 : 350;
      record({
        name: `idle resident memory after 10 s, ${storage}, ${label}`,
        value: memory,
        unit: 'MB',
        target: built ? `≤ ${memoryTarget} MB` : 'for comparison',
        met: !built || memory <= memoryTarget,
        detail: 'the process and its children (pnpm wrapper for pnpm start)',
      });
      record({
        name: `ready on an existing data directory, ${storage}, ${label}`,
        value: ready,
        unit: 's',
        target: built && storage === 'postgres' ? '≤ 1.0 s' : 'for comparison',
        met: !(built && storage === 'postgres') || ready <= 1,
        detail: 'from spawn to /readyz answering 200',
      });
    }
  }
}

/**
 * Lighthouse 12 (its default: a mid-range phone on a throttled 4G link, simulated) over the
 * dashboard as `node server/dist/main.js` serves it, with a merchant's realistic data: the
 * overview and an application's keys list, signed in by the `#token=` link a platform opens.
 */
async function dashboardFigures(url: string): Promise<void> {
  console.log('dashboard: Lighthouse on the overview and the keys list (built server, PostgreSQL)');
  const env = {
    KEYGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'keygate-bench-')),
    KEYGATE_JWT_SECRET: SECRET,
    DATABASE_URL: url,
    KEYGATE_USAGE_FLUSH_MS: '200',
    LOG_LEVEL: QUIET,
    PORT: String(await freePort()),
  };
  const server = await startKeygate(env, [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')], repoRoot);
  const chromeDir = mkdtempSync(join(tmpdir(), 'keygate-lighthouse-'));
  const port = await freePort();
  const chrome = spawn(
    process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      `--remote-debugging-port=${port}`,
      `--user-data-dir=${chromeDir}`,
    ],
    { stdio: 'ignore' },
  );
  try {
    const token = await signToken(
      signer,
      { merchant_id: 'northwind-trading' },
      { subject: 'dana@northwind-trading.example.com', expiresIn: '2h' },
    );
    const seeded = await seedMerchant(server.url, token, url);
    while (
      !(await fetch(`http://127.0.0.1:${port}/json/version`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const origin = server.url.replace('127.0.0.1', 'localhost');
    for (const [screen, path] of [
      ['overview', '/'],
      ['keys list', `/applications/${seeded.app}`],
    ] as const) {
      // Three runs, the median performance score reported (Lighthouse's own advice on noisy machines).
      const runs: { performance: number; accessibility: number; bestPractices: number; detail: string }[] = [];
      for (let i = 0; i < 3; i++) {
        const result = await lighthouse(`${origin}${path}#token=${token}`, {
          port,
          output: 'json',
          logLevel: 'error',
          onlyCategories: ['performance', 'accessibility', 'best-practices'],
        });
        if (!result) throw new Error('Lighthouse returned nothing');
        // KEYGATE_BENCH_LIGHTHOUSE=<dir>: each run's full report, to open in the Lighthouse viewer.
        const keep = process.env.KEYGATE_BENCH_LIGHTHOUSE;
        if (keep) {
          mkdirSync(keep, { recursive: true });
          writeFileSync(join(keep, `${screen.replace(/\W+/g, '-')}-${i + 1}.json`), result.report as string);
        }
        const { categories, audits } = result.lhr;
        const score = (id: string) => Math.round((categories[id]?.score ?? 0) * 100);
        const failing = (id: string) =>
          (categories[id]?.auditRefs ?? [])
            .filter((ref) => ref.weight > 0 && (audits[ref.id]?.score ?? 1) < 1)
            .map((ref) => ref.id);
        runs.push({
          performance: score('performance'),
          accessibility: score('accessibility'),
          bestPractices: score('best-practices'),
          detail: [
            `FCP ${audits['first-contentful-paint']?.displayValue}`,
            `LCP ${audits['largest-contentful-paint']?.displayValue}`,
            `TBT ${audits['total-blocking-time']?.displayValue}`,
            `CLS ${audits['cumulative-layout-shift']?.displayValue}`,
            ...['accessibility', 'best-practices'].flatMap((id) => failing(id).map((audit) => `${id} fails ${audit}`)),
          ].join(', '),
        });
      }
      runs.sort((a, b) => a.performance - b.performance);
      const mid = runs[1]!;
      record({
        name: `dashboard ${screen}: Lighthouse performance (mobile, simulated 4G)`,
        value: mid.performance,
        unit: '',
        target: '≥ 90',
        met: mid.performance >= 90,
        detail: `median of ${runs.map((r) => r.performance).join(', ')}; ${mid.detail}`,
      });
      for (const [name, value] of [
        ['accessibility', Math.min(...runs.map((r) => r.accessibility))],
        ['best practices', Math.min(...runs.map((r) => r.bestPractices))],
      ] as const) {
        record({
          name: `dashboard ${screen}: Lighthouse ${name}`,
          value,
          unit: '',
          target: '≥ 95',
          met: value >= 95,
          detail: 'the lowest of the three runs',
        });
      }
    }
  } finally {
    const exited = new Promise((resolve) => chrome.once('exit', resolve));
    chrome.kill();
    await Promise.all([exited, server.stop()]);
    rmSync(chromeDir, { recursive: true, force: true });
    rmSync(env.KEYGATE_DATA_DIR, { recursive: true, force: true });
  }
}

async function propagation(url: string): Promise<void> {
  console.log('revocation propagation (two server processes, one PostgreSQL)');
  const env = {
    DATABASE_URL: url,
    KEYGATE_JWT_SECRET: SECRET,
    LOG_LEVEL: QUIET,
    KEYGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'keygate-bench-')),
  };
  const a: KeygateProcess = await startKeygate({ ...env, PORT: String(await freePort()) });
  const b: KeygateProcess = await startKeygate({ ...env, PORT: String(await freePort()) });
  try {
    const { token, app } = await seedThroughApi(a.url, 'propagation', false);
    const times: number[] = [];
    let firstRefused = 0;
    for (let trial = 0; trial < 100; trial++) {
      const { secret, key } = await createKeyThroughApi(a.url, token, app);
      const ask = () => fetch(`${b.url}/v1/auth`, { headers: { 'x-api-key': secret } }).then((r) => r.status);
      if ((await ask()) !== 200) throw new Error('key did not verify on B');
      await graphql(a.url, token, 'mutation($id: ID!) { revokeKey(input: { id: $id }) { __typename } }', {
        id: key.id,
      });
      const returned = process.hrtime.bigint();
      let attempts = 1;
      while ((await ask()) !== 401) {
        attempts++;
        if (process.hrtime.bigint() - returned > 5_000_000_000n)
          throw new Error('revocation did not reach B within 5 s');
      }
      times.push(Number(process.hrtime.bigint() - returned) / 1e6);
      if (attempts === 1) firstRefused++;
    }
    const p99 = percentile(times, 99);
    record({
      name: 'revocation propagation A → B',
      value: p99,
      unit: 'ms p99',
      target: '≤ 50 ms',
      met: p99 <= 50,
      detail: `median ${round(median(times))} ms, max ${round(Math.max(...times))} ms over 100 trials, from revokeKey returning on A to B answering 401 (includes that request to B); B refused the very first request after revokeKey returned in ${firstRefused} of 100 trials`,
    });
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    rmSync(env.KEYGATE_DATA_DIR, { recursive: true, force: true });
  }
}

/**
 * The scale figure: 1,000,000 keys across 10,000 applications (100 merchants of 100 applications
 * of 100 keys) on PostgreSQL. Cache-miss verification p99, a page of 50 applications with 10 keys
 * each through GraphQL (the built server) p99, and memory per cached key at 100,000 cached keys.
 */
async function scaleFigures(url: string): Promise<void> {
  console.log('scale: 1,000,000 keys across 10,000 applications on PostgreSQL');
  const db = await openDatabase({ kind: 'postgres', url, poolSize: 8 });
  await db.migrate();
  const seeding = Date.now();
  // 900,000 keys made in SQL (hashes nobody holds the secret of), then 100,000 real keys, 10 per
  // application, whose secrets the benchmark keeps: every one of the 10,000 applications has 100.
  const secrets = await seedMillionKeys(db.prisma);
  const [counted] = await db.prisma.$queryRawUnsafe<{ count: bigint }[]>('SELECT count(*) FROM api_keys');
  console.log(`  seeded ${counted?.count} keys in ${Math.round((Date.now() - seeding) / 1000)} s`);

  // Cache misses: distinct keys, each read from the 1,000,000-key table (one round trip).
  const verifier = new Verifier(
    createKeyLoader(db.prisma, db.pool),
    new KeyCache({ maxKeys: 200_000, maxMisses: 10_000, ttlMs: 3_600_000 }),
    null,
  );
  const misses: number[] = [];
  for (const secret of secrets.slice(0, 3000)) {
    const start = process.hrtime.bigint();
    const outcome = await verifier.verify({ key: secret });
    misses.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (outcome.code !== 'VALID') throw new Error(outcome.code);
  }
  const missP99 = percentile(misses.slice(500), 99);
  record({
    name: 'scale: verify, cache miss, 1,000,000 keys',
    value: missP99,
    unit: 'ms p99',
    target: '≤ 2 ms',
    met: missP99 <= 2,
    detail: `median ${round(median(misses.slice(500)))} ms over 2,500 distinct keys (after 500 to warm up), one query each`,
  });

  // Memory per cached key: 100,000 keys in the cache, measured after a full collection each side.
  const fresh = new Verifier(
    createKeyLoader(db.prisma, db.pool),
    new KeyCache({ maxKeys: 200_000, maxMisses: 10_000, ttlMs: 3_600_000 }),
    null,
  );
  const gc = collector();
  gc();
  const before = { heap: process.memoryUsage().heapUsed, rss: process.memoryUsage().rss };
  const toCache = secrets.slice(0, 100_000);
  for (let i = 0; i < toCache.length; i += 64) {
    await Promise.all(toCache.slice(i, i + 64).map((key) => fresh.verify({ key })));
  }
  gc();
  const after = { heap: process.memoryUsage().heapUsed, rss: process.memoryUsage().rss };
  if (fresh.cacheSize().keys !== 100_000) throw new Error(`cached ${fresh.cacheSize().keys} keys`);
  const perKeyHeap = (after.heap - before.heap) / 100_000;
  const perKeyRss = (after.rss - before.rss) / 100_000;
  record({
    name: 'scale: memory per cached key, 100,000 cached',
    value: perKeyHeap,
    unit: 'bytes',
    target: '≤ 1 KB',
    met: perKeyHeap <= 1024,
    detail: `JavaScript heap after a full collection, per key; resident memory grew ${Math.round(perKeyRss)} bytes per key (it includes the heap's free room)`,
  });
  await db.close();

  // A page of 50 applications with 10 keys each, through GraphQL on the built server.
  const env = {
    KEYGATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'keygate-bench-')),
    KEYGATE_JWT_SECRET: SECRET,
    LOG_LEVEL: QUIET,
    DATABASE_URL: url,
    PORT: String(await freePort()),
  };
  const server = await startKeygate(env, [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')], repoRoot);
  try {
    const token = await signToken(signer, { merchant_id: 'scale-7' }, { expiresIn: '2h' });
    const query = `query Page($first: Int!, $keys: Int!) { applications(first: $first) { edges { node {
      id name enabled createdAt keys(first: $keys) { edges { node { id name prefix status access lastUsedAt createdAt } } } } } } }`;
    const times: number[] = [];
    for (let i = 0; i < 330; i++) {
      const start = process.hrtime.bigint();
      const result = await graphql(server.url, token, query, { first: 50, keys: 10 });
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      const edges = result.body.data?.applications?.edges;
      if (edges?.length !== 50 || edges.some((e: any) => e.node.keys.edges.length !== 10)) {
        throw new Error(`unexpected page: ${JSON.stringify(result.body).slice(0, 300)}`);
      }
    }
    const pageP99 = percentile(times.slice(30), 99);
    record({
      name: 'scale: a page of 50 applications with 10 keys each',
      value: pageP99,
      unit: 'ms p99',
      target: '≤ 20 ms',
      met: pageP99 <= 20,
      detail: `median ${round(median(times.slice(30)))} ms over 300 requests (after 30 to warm up), over HTTP, of a merchant with 100 applications of 100 keys; page sizes sent as variables`,
    });
  } finally {
    await server.stop();
    rmSync(env.KEYGATE_DATA_DIR, { recursive: true, force: true });
  }
}

/** A full garbage collection, made callable without starting Node with --expose-gc. */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

const started = new Date();
console.log(
  `Keygate benchmarks — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}\n`,
);
/**
 * Importing 100,000 keys issued elsewhere as an operator does: `pnpm run import-keys` with a CSV
 * file, through the built server on PostgreSQL (1,000 keys per importKeys call).
 */
async function importFigures(url: string): Promise<void> {
  console.log('Importing keys');
  const dir = mkdtempSync(join(tmpdir(), 'keygate-bench-import-'));
  const secret = 'bench-import-secret-0123456789abcdef0123456';
  const env = {
    DATABASE_URL: url,
    KEYGATE_JWT_SECRET: secret,
    KEYGATE_DATA_DIR: join(dir, 'data'),
    KEYGATE_MAX_KEYS_PER_APPLICATION: '100000',
  };
  const keygate = await startKeygate(env, [process.execPath, join(repoRoot, 'server', 'dist', 'main.js')], repoRoot);
  try {
    const token = await signToken(new TextEncoder().encode(secret), { merchant_id: 'legacy' }, { subject: 'bench' });
    await graphql(keygate.url, token, 'mutation { createApplication(input: { name: "Legacy" }) { __typename } }');
    const count = 100_000;
    const secrets: string[] = [];
    const lines = ['hash,prefix,name,external_id'];
    for (let i = 0; i < count; i++) {
      const key = `sk_live_${randomBytes(24).toString('base64url')}`;
      secrets.push(key);
      lines.push(`${hashKey(key)},${key.slice(0, 12)},Imported key ${i},cus_${i}`);
    }
    const file = join(dir, 'keys.csv');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const started = process.hrtime.bigint();
    const run = spawnSync(
      'pnpm',
      [
        '--silent',
        'run',
        'import-keys',
        file,
        '--merchant',
        'legacy',
        '--application',
        'Legacy',
        '--url',
        keygate.url,
        '--register-prefix',
        'sk_live_',
      ],
      { cwd: repoRoot, env: { ...process.env, ...env }, encoding: 'utf8' },
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (run.status !== 0) throw new Error(`import-keys failed: ${run.stderr}`);
    let verified = 0;
    for (const key of secrets.slice(0, 200)) {
      const answer = await fetch(`${keygate.url}/v1/auth`, { headers: { 'x-api-key': key } });
      if (answer.status === 200) verified++;
    }
    record({
      name: 'import 100,000 keys issued elsewhere (`pnpm run import-keys`, PostgreSQL)',
      value: seconds,
      unit: 's',
      target: '≤ 30 s',
      met: seconds <= 30 && verified === 200,
      detail: `${run.stdout.trim()}; ${verified} of 200 sampled secrets verify; the whole command, CSV parsing and process start included`,
    });
  } finally {
    await keygate.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `pnpm bench http` (or inprocess, postgres) runs one section, for quick iterations.
const only = process.argv[2];
const wanted = (section: string) => only === undefined || only === section;
/** Runs a section against a throwaway PostgreSQL cluster, stopped afterwards. */
async function withCluster(run: (url: string) => Promise<void>): Promise<void> {
  const cluster = await startCluster();
  try {
    await run(cluster.url);
  } finally {
    cluster.stop();
  }
}

if (wanted('inprocess')) await inProcess();
if (wanted('postgres')) {
  await withCluster(async (url) => {
    await postgresFigures(url);
    await propagation(url);
  });
}
if (wanted('http')) await httpFigures();
if (wanted('import')) await withCluster(importFigures);
if (wanted('gateway')) await withCluster(gatewayFigures);
if (wanted('scale')) await withCluster(scaleFigures);
if (wanted('runtime')) await withCluster(runtimeFigures);
if (wanted('integration')) await withCluster(integrationFigures);
if (wanted('dashboard')) await withCluster(dashboardFigures);
// Its own primary, replica and PgBouncer, and 1,000,000 keys: only when asked for by name.
if (only === 'scale-out') {
  await scaleOutFigures({ record, percentile, round, secret: SECRET, quiet: QUIET });
}

const report = {
  date: started.toISOString(),
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  figures,
};
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
if (only === undefined)
  writeFileSync(new URL('./results/latest.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);
console.log('\n| figure | value | target | met |\n| --- | --- | --- | --- |');
for (const f of figures)
  console.log(`| ${f.name} | ${round(f.value)} ${f.unit} | ${f.target} | ${f.met ? 'yes' : 'no'} |`);
if (only === undefined) console.log('\nwrote bench/results/latest.json');
