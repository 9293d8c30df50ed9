// `pnpm run import-keys <file.csv|file.jsonl> --merchant <id> --application <id or name>`:
// imports keys a platform issued before Keygate (by the SHA-256 of their secrets) through a
// running Keygate's API, 1,000 at a time, with progress and a summary. Through the API, so every
// instance hears of them, the audit trail has them, and a file imported twice imports nothing twice.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { createKeygateClient } from '@keygate/sdk';
import type { ImportKeyInput } from '@keygate/sdk/documents';
import { signDevToken } from '../auth/dev-token.ts';
import { loadAuth } from '../auth/secret.ts';
import { ConfigError, loadConfig } from '../config.ts';

const usage = `usage: pnpm run import-keys <file.csv|file.jsonl> --merchant <merchant-id> --application <id or name>
       [--url http://127.0.0.1:4000] [--register-prefix sk_live_]

Imports keys issued elsewhere into an application, by the SHA-256 of each secret (never the secret).
  CSV: a header line, then one key per line. Columns: hash, prefix, name (required); hash_algorithm
       (SHA256_HEX, the default, or SHA256_BASE64), access, scopes (separated by spaces), environment,
       expires_at, external_id, website_url, metadata (JSON). Fields may be quoted ("…", "" inside).
  JSONL: one JSON object per line with importKeys' fields (hash, prefix, name, hashAlgorithm, …).
  --register-prefix   registers the visible start of the keys first (once is enough)
  --url               the running Keygate (default http://127.0.0.1:$PORT, PORT=4000)
Acts as the merchant with a token signed by KEYGATE_JWT_SECRET (or the development secret of
KEYGATE_DATA_DIR), or with KEYGATE_TOKEN when set. Imported again, a file imports nothing twice.`;

const BATCH = 1000;

type Row = ImportKeyInput & { line: number };

try {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      merchant: { type: 'string' },
      application: { type: 'string' },
      url: { type: 'string' },
      'register-prefix': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const file = positionals[0];
  if (positionals.length !== 1 || !file || !values.merchant || !values.application) throw new ConfigError(usage);
  const rows = readRows(file);
  const config = loadConfig();
  const url = values.url ?? `http://127.0.0.1:${config.port === 0 ? 4000 : config.port}`;
  const token = process.env.KEYGATE_TOKEN ?? (await merchantToken(config, values.merchant));
  const keygate = createKeygateClient({ url: `${url.replace(/\/$/, '')}/graphql`, token });

  for (const prefix of values['register-prefix'] ?? []) {
    const registered = await keygate.keys.registerImportPrefix(prefix);
    if (!registered.ok) throw new ConfigError(`--register-prefix ${prefix}: ${registered.error.message}`);
  }
  const applicationId = await findApplication(keygate, values.application);

  let imported = 0;
  let skipped = 0;
  const started = Date.now();
  for (let start = 0; start < rows.length; start += BATCH) {
    const batch = rows.slice(start, start + BATCH);
    const result = await keygate.keys.import({ applicationId, keys: batch.map(({ line: _line, ...key }) => key) });
    if (!result.ok) {
      const error = result.error;
      const issues = 'issues' in error && Array.isArray(error.issues) ? error.issues : [];
      const shown = issues.slice(0, 10).map((issue: { path: string[]; message: string }) => {
        const index = Number(issue.path[2]);
        const at = Number.isInteger(index) ? `line ${batch[index]!.line}` : 'the batch';
        return `  ${at}${issue.path[3] ? `, ${issue.path[3]}` : ''}: ${issue.message}`;
      });
      console.error(
        `keygate import-keys: lines ${batch[0]!.line}-${batch.at(-1)!.line} were not imported: ${error.message}` +
          (shown.length > 0 ? `\n${shown.join('\n')}` : '') +
          (issues.length > shown.length ? `\n  … and ${issues.length - shown.length} more` : '') +
          `\n${imported + skipped} keys before them are in (${imported} new). Fix the file and run it again: what is in is skipped.`,
      );
      process.exit(1);
    }
    imported += result.value.imported;
    skipped += result.value.skipped;
    console.error(`  ${(start + batch.length).toLocaleString('en-US')} of ${rows.length.toLocaleString('en-US')}`);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `imported ${imported.toLocaleString('en-US')} keys, skipped ${skipped.toLocaleString('en-US')} already there, in ${seconds} s`,
  );
} catch (error) {
  console.error(`keygate import-keys: ${(error as Error).message}`);
  process.exit(2);
}

async function merchantToken(config: ReturnType<typeof loadConfig>, merchantId: string): Promise<string> {
  const auth = loadAuth(config, () => {
    throw new ConfigError(
      `no KEYGATE_JWT_SECRET and no development secret in ${config.dataDir}: set KEYGATE_TOKEN to a token of the merchant`,
    );
  });
  if (auth.key.kind !== 'secret') {
    throw new ConfigError(
      'KEYGATE_JWKS_URL is set: set KEYGATE_TOKEN to a token of the merchant from your identity provider',
    );
  }
  return signDevToken(auth, { merchantId }, { subject: 'import-keys', expiresIn: '1h' });
}

async function findApplication(keygate: ReturnType<typeof createKeygateClient>, wanted: string): Promise<string> {
  const byId = await keygate.applications.get(wanted).catch(() => null);
  if (byId) return byId.id;
  for await (const application of keygate.applications.all({ search: wanted })) {
    if (application.name.trim().toLowerCase() === wanted.trim().toLowerCase()) return application.id;
  }
  throw new ConfigError(`--application ${wanted}: the merchant has no application with this id or name`);
}

function readRows(file: string): Row[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  const lines = text.split(/\r?\n/);
  const rows: Row[] = [];
  if (extname(file).toLowerCase() === '.jsonl') {
    lines.forEach((line, index) => {
      if (line.trim() === '') return;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new ConfigError(`line ${index + 1}: not JSON (${(error as Error).message})`);
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new ConfigError(`line ${index + 1}: expected a JSON object`);
      }
      rows.push({ ...(value as ImportKeyInput), line: index + 1 });
    });
    return rows;
  }
  if (extname(file).toLowerCase() !== '.csv') throw new ConfigError(`${file}: expected a .csv or .jsonl file`);
  const header = csvFields(lines[0] ?? '', 1).map((name) => name.trim().toLowerCase());
  for (const required of ['hash', 'prefix', 'name']) {
    if (!header.includes(required)) throw new ConfigError(`line 1: the header has no ${required} column`);
  }
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index]!;
    if (line.trim() === '') continue;
    const fields = csvFields(line, index + 1);
    const get = (name: string) => {
      const at = header.indexOf(name);
      const value = at === -1 ? undefined : fields[at];
      return value === undefined || value === '' ? undefined : value;
    };
    const metadata = get('metadata');
    let parsed: unknown;
    if (metadata !== undefined) {
      try {
        parsed = JSON.parse(metadata);
      } catch {
        throw new ConfigError(`line ${index + 1}: metadata is not JSON`);
      }
    }
    rows.push({
      line: index + 1,
      hash: get('hash') ?? '',
      prefix: get('prefix') ?? '',
      name: get('name') ?? '',
      ...(get('hash_algorithm') ? { hashAlgorithm: get('hash_algorithm') as ImportKeyInput['hashAlgorithm'] } : {}),
      ...(get('access') ? { access: get('access') as ImportKeyInput['access'] } : {}),
      ...(get('scopes') ? { scopes: get('scopes')!.split(/\s+/) } : {}),
      ...(get('environment') ? { environment: get('environment') as ImportKeyInput['environment'] } : {}),
      ...(get('expires_at') ? { expiresAt: get('expires_at') } : {}),
      ...(get('external_id') ? { externalId: get('external_id') } : {}),
      ...(get('website_url') ? { websiteUrl: get('website_url') } : {}),
      ...(parsed !== undefined ? { metadata: parsed } : {}),
    });
  }
  return rows;
}

/** One CSV line's fields: commas separate, double quotes enclose, "" is a quote inside. */
function csvFields(line: string, number: number): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i]!;
    if (quoted) {
      if (char === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"' && field === '') quoted = true;
    else if (char === ',') {
      fields.push(field);
      field = '';
    } else field += char;
  }
  if (quoted) throw new ConfigError(`line ${number}: a quoted field is not closed`);
  fields.push(field);
  return fields;
}
