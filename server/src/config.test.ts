// The variables table is the one place a setting is declared: everything the server reads from the
// environment is in it, everything in it is read, and its defaults and bounds are what start-up does.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, companionVariables, loadConfig, type Variable, variables } from './config.ts';
import { configurationReference } from './config-reference.ts';

const srcDir = fileURLToPath(new URL('.', import.meta.url));

/** The server's own source files (not tests), with their text. */
function sources(): { path: string; text: string }[] {
  const found: { path: string; text: string }[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) {
        if (entry !== 'generated') walk(path);
      } else if (path.endsWith('.ts') && !path.endsWith('.test.ts')) {
        found.push({ path, text: readFileSync(path, 'utf8') });
      }
    }
  };
  walk(srcDir);
  return found;
}

/** Names a user may meet in the source that are not Keygate's settings. */
const notSettings = new Set([
  'KEYGATE_TOKEN', // the shell variable the token CLI's help suggests: `KEYGATE_TOKEN=$(pnpm run token acme)`
]);

describe('the variables table', () => {
  it('lists every KEYGATE_* and OTEL_* variable the server reads, and every env.NAME it reads', () => {
    const declared = new Set<string>([...Object.keys(variables), ...companionVariables]);
    const read = new Set<string>();
    for (const { text } of sources()) {
      for (const match of text.matchAll(/\b((?:KEYGATE|OTEL)_[A-Z0-9_]+)\b/g)) read.add(match[1]!);
      for (const match of text.matchAll(/\benv\.([A-Z][A-Z0-9_]+)\b/g)) read.add(match[1]!);
    }
    read.delete('INIT_CWD'); // pnpm's, where the user ran the command: relative paths start there
    const undeclared = [...read].filter((name) => !declared.has(name) && !notSettings.has(name));
    expect(undeclared).toEqual([]);
  });

  it('has no variable that nothing reads', () => {
    const code = sources()
      .filter(({ path }) => !path.endsWith('config-reference.ts'))
      .map(({ path, text }) =>
        // config.ts: what reads, not the table's own keys.
        path.endsWith(`${join('src', 'config.ts')}`) ? text.slice(text.indexOf('export function loadConfig')) : text,
      )
      .join('\n');
    const unread = Object.keys(variables).filter((name) => !code.includes(name));
    expect(unread).toEqual([]);
  });

  it('gives whole numbers a default inside their bounds, and start-up uses exactly those', () => {
    const config = loadConfig({});
    expect(config.port).toBe(variables.PORT.fallback);
    expect(config.maxPageSize).toBe(variables.KEYGATE_MAX_PAGE_SIZE.fallback);
    expect(config.cache.ttlMs).toBe(variables.KEYGATE_CACHE_TTL_SECONDS.fallback * 1000);
    expect(config.webhooks.timeoutMs).toBe(variables.KEYGATE_WEBHOOK_TIMEOUT_SECONDS.fallback * 1000);
    for (const [name, variable] of Object.entries(variables) as [string, Variable][]) {
      if (variable.fallback === undefined) continue;
      expect([name, variable.min! <= variable.fallback && variable.fallback <= variable.max!]).toEqual([name, true]);
      // The bounds are enforced: one past either end stops start-up, naming the variable and its range.
      const storage = name.startsWith('KEYGATE_DB_')
        ? { DATABASE_URL: 'postgres://db/keygate' }
        : name.startsWith('KEYGATE_REPLICA_')
          ? { DATABASE_URL: 'postgres://db/keygate', KEYGATE_REPLICA_DATABASE_URLS: 'postgres://replica/keygate' }
          : {};
      for (const outside of [variable.min! - 1, variable.max! + 1]) {
        expect(() => loadConfig({ ...storage, [name]: String(outside) })).toThrow(
          new ConfigError(`${name} must be a whole number from ${variable.min} to ${variable.max} (got "${outside}")`),
        );
      }
      expect(() => loadConfig({ ...storage, [name]: String(variable.max) })).not.toThrow();
    }
  });
});

describe('the dashboard integration snippets', () => {
  it("take the platform's API address and key header, and refuse what is not one", () => {
    expect(loadConfig({}).dashboard?.integration).toEqual({
      apiUrl: 'https://api.example.com',
      keyHeader: 'Authorization',
    });
    const set = loadConfig({
      KEYGATE_DASHBOARD_API_URL: 'https://api.shop.example/v1/orders',
      KEYGATE_DASHBOARD_KEY_HEADER: 'X-Api-Key',
    });
    expect(set.dashboard?.integration).toEqual({
      apiUrl: 'https://api.shop.example/v1/orders',
      keyHeader: 'X-Api-Key',
    });
    for (const url of ['ftp://api.example.com', 'not a url', 'https://user:pass@api.example.com']) {
      expect(() => loadConfig({ KEYGATE_DASHBOARD_API_URL: url })).toThrow(ConfigError);
    }
    for (const header of ['X Api Key', 'X-Api-Key: x', 'Ärger']) {
      expect(() => loadConfig({ KEYGATE_DASHBOARD_KEY_HEADER: header })).toThrow(/is not an HTTP header name/);
    }
  });
});

describe('KEYGATE_DEFAULT_KEY_POLICY', () => {
  it('takes a policy as setPolicy does, and names what is wrong with one that is not', () => {
    expect(loadConfig({}).defaultKeyPolicy).toBeNull();
    expect(
      loadConfig({
        KEYGATE_DEFAULT_KEY_POLICY: '{"maxLifetimeDays":{"live":90},"allowedScopes":["orders:*","orders:*"]}',
      }).defaultKeyPolicy,
    ).toEqual({ maxLifetimeDays: { live: 90 }, allowedScopes: ['orders:*'] });
    expect(() => loadConfig({ KEYGATE_DEFAULT_KEY_POLICY: '{maxLifetimeDays' })).toThrow(/must be JSON/);
    expect(() => loadConfig({ KEYGATE_DEFAULT_KEY_POLICY: '{"maxLifetimeDays":{"live":0}}' })).toThrow(
      'KEYGATE_DEFAULT_KEY_POLICY (maxLifetimeDays.live): must be at least 1',
    );
    expect(() => loadConfig({ KEYGATE_DEFAULT_KEY_POLICY: '{"maxLifetimeDay":{"live":9}}' })).toThrow(ConfigError);
  });
});

describe('KEYGATE_REPLICA_DATABASE_URLS', () => {
  const primary = 'postgres://keygate:pw@db:5432/keygate';
  it('takes replicas of a PostgreSQL primary, comma-separated, and refuses what cannot be one', () => {
    expect(loadConfig({ DATABASE_URL: primary }).replicas).toBeNull();
    expect(
      loadConfig({
        DATABASE_URL: primary,
        KEYGATE_REPLICA_DATABASE_URLS: ' postgres://r1:5432/keygate , postgresql://r2/keygate,',
      }).replicas,
    ).toEqual({ urls: ['postgres://r1:5432/keygate', 'postgresql://r2/keygate'], pollMs: 100 });
    expect(() => loadConfig({ KEYGATE_REPLICA_DATABASE_URLS: 'postgres://r1/keygate' })).toThrow(
      /DATABASE_URL is not: replicas are of a PostgreSQL primary/,
    );
    expect(() => loadConfig({ DATABASE_URL: primary, KEYGATE_REPLICA_DATABASE_URLS: 'mysql://r1/keygate' })).toThrow(
      /must be postgres:\/\/ or postgresql:\/\/ URLs/,
    );
    expect(() => loadConfig({ DATABASE_URL: primary, KEYGATE_REPLICA_DATABASE_URLS: primary })).toThrow(
      /lists DATABASE_URL itself/,
    );
    expect(() =>
      loadConfig({ DATABASE_URL: primary, KEYGATE_REPLICA_DATABASE_URLS: 'postgres://r1/k,postgres://r1/k' }),
    ).toThrow(/twice/);
    expect(() =>
      loadConfig({
        DATABASE_URL: primary,
        KEYGATE_REPLICA_DATABASE_URLS: 'postgres://r1/k',
        KEYGATE_REPLICA_POLL_MS: '1',
      }),
    ).toThrow(/KEYGATE_REPLICA_POLL_MS/);
  });
});

describe('docs/configuration.md', () => {
  it('lists every variable under its section, with its default and range', () => {
    const page = configurationReference();
    for (const name of Object.keys(variables)) expect(page).toContain(`| \`${name}\` |`);
    expect(page).toContain('| `PORT` | `4000` (0 to 65 535) |');
    expect(page).toContain('| `KEYGATE_LEAK_ACTION` | `revoke` |');
    expect(page.indexOf('## Storage')).toBeLessThan(page.indexOf('`DATABASE_URL`'));
  });
});
