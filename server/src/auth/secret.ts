// Where tokens are checked against: KEYGATE_JWT_SECRET, a JWKS URL, or in
// development a random secret kept in the data directory.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AuthConfig, type Config, ConfigError } from '../config.ts';

const DEV_SECRET_FILE = 'dev-jwt-secret';

/**
 * Settles where tokens are checked against. Without KEYGATE_JWT_SECRET or
 * KEYGATE_JWKS_URL, development mode keeps a random secret in the data
 * directory (created on first use), so there is never a fixed default.
 */
export function loadAuth(config: Config, onCreated: (path: string) => void = () => {}): AuthConfig {
  const { secret, jwksUrl, ...rest } = config.auth;
  if (secret && jwksUrl) throw new ConfigError('Set KEYGATE_JWT_SECRET or KEYGATE_JWKS_URL, not both');
  if (jwksUrl) {
    let url: URL;
    try {
      url = new URL(jwksUrl);
    } catch {
      throw new ConfigError('KEYGATE_JWKS_URL must be a URL');
    }
    return { ...rest, key: { kind: 'jwks', url } };
  }
  if (secret) {
    if (Buffer.byteLength(secret) < 32) throw new ConfigError('KEYGATE_JWT_SECRET must be at least 32 bytes long');
    return { ...rest, key: { kind: 'secret', secret: new TextEncoder().encode(secret), origin: 'environment' } };
  }
  if (config.production) {
    throw new ConfigError(
      'NODE_ENV=production needs KEYGATE_JWT_SECRET or KEYGATE_JWKS_URL; the development secret is refused',
    );
  }
  return {
    ...rest,
    key: {
      kind: 'secret',
      secret: new TextEncoder().encode(devSecret(config.dataDir, onCreated)),
      origin: 'development file',
    },
  };
}

export function devSecretPath(dataDir: string): string {
  return join(dataDir, DEV_SECRET_FILE);
}

function devSecret(dataDir: string, onCreated: (path: string) => void): string {
  const path = devSecretPath(dataDir);
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // 'wx' fails if another process created it first; then read theirs.
    try {
      writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
      chmodSync(path, 0o600);
      onCreated(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return readFileSync(path, 'utf8').trim();
}
