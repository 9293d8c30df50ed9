// A real nginx (Debian's package) on loopback, configured as a gateway that
// asks Keygate about every request with auth_request.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, listening } from './postgres-cluster.ts';
import { repoRoot } from './process.ts';

export interface Nginx {
  url: string;
  /** nginx's error log so far. */
  errors(): string;
  stop(): Promise<void>;
}

function nginxBinary(): string {
  for (const candidate of ['/usr/sbin/nginx', 'nginx']) {
    if (spawnSync(candidate, ['-v']).status === 0) return candidate;
  }
  throw new Error('nginx not found. Install it (Debian: apt-get install -y nginx); .ci/run does.');
}

/** The first nginx file of a docs page, exactly as a user copies it. */
function documentedFile(page: string): string {
  const match = /```nginx\n([\s\S]*?)```/.exec(readFileSync(join(repoRoot, 'docs', page), 'utf8'));
  if (!match) throw new Error(`docs/${page} has no nginx snippet`);
  return match[1]!;
}

/** The file with its placeholders filled in; throws if one is left (the documented file changed). */
function withoutPlaceholders(snippet: string, placeholders: string[]): string {
  for (const placeholder of placeholders) {
    if (snippet.replace(/#.*$/gm, '').includes(placeholder))
      throw new Error(`the documented nginx file changed: ${placeholder} is left`);
  }
  return snippet;
}

/** The documented nginx file (http context, in docs/verification.md), exactly as a user copies it. */
export const documentedNginxSnippet = (): string => documentedFile('verification.md');

/**
 * Another route, as a user adds one: the documented `location /api/ { … }` block, copied with its own
 * path and its own `set $keygate_requirements` line.
 */
function routeLike(snippet: string, path: string, requirements: string): string {
  const block = /\n {2}location \/api\/ \{\n[\s\S]*?\n {2}\}\n/.exec(snippet)?.[0];
  if (!block) throw new Error('the documented nginx file has no `location /api/ { … }` block');
  const copy = block
    .replace('location /api/ {', `location ${path} {`)
    .replace(/set \$keygate_requirements "[^"]*";/, `set $keygate_requirements "${requirements}";`);
  return snippet.replace(block, `${block}${copy}`);
}

/**
 * nginx on loopback serving the documented file, with only its placeholders
 * filled in: Keygate's address, the API behind the gateway, and the port.
 */
export async function startNginx(
  keygatePort: number,
  upstreamPort: number,
  /** More routes by path, each with its requirements (e.g. { '/api/refunds/': 'scopes=refunds:write&cost=5' }). */
  routes: Record<string, string> = {},
  /** Locations of the caller's own, added to the server (the benchmark's plain proxy without Keygate). */
  extraLocations = '',
): Promise<Nginx> {
  const port = await freePort();
  let snippet = documentedNginxSnippet()
    .replace('server keygate:4000;', `server 127.0.0.1:${keygatePort};`)
    .replace('server your-api:8080;', `server 127.0.0.1:${upstreamPort};`)
    .replace('listen 80;', `listen 127.0.0.1:${port};${extraLocations ? `\n${extraLocations}` : ''}`);
  for (const [path, requirements] of Object.entries(routes)) snippet = routeLike(snippet, path, requirements);
  return runNginx(withoutPlaceholders(snippet, ['keygate:4000', 'your-api:8080', 'listen 80;']), port);
}

/** The documented nginx file for Keygate behind a reverse proxy (docs/operations.md), as a user copies it. */
export const documentedProxySnippet = (): string => documentedFile('operations.md');

/**
 * nginx on loopback serving the documented reverse-proxy file for Keygate, with only its
 * placeholders filled in (Keygate's address, the port); `edit` changes it as a user might.
 */
export async function startNginxProxy(
  keygatePort: number,
  edit: (snippet: string) => string = (x) => x,
): Promise<Nginx> {
  const port = await freePort();
  const snippet = edit(
    documentedProxySnippet()
      .replace('server keygate:4000;', `server 127.0.0.1:${keygatePort};`)
      .replace(/listen 80;.*$/m, `listen 127.0.0.1:${port};`),
  );
  return runNginx(withoutPlaceholders(snippet, ['keygate:4000', 'listen 80;']), port);
}

/** nginx in the foreground with this http-context file, listening on `port`. */
async function runNginx(snippet: string, port: number): Promise<Nginx> {
  const binary = nginxBinary();
  const dir = mkdtempSync(join(tmpdir(), 'keygate-nginx-'));
  // Workers run as an unprivileged user when nginx starts as root; they need their temp folders.
  chmodSync(dir, 0o777);
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub), { mode: 0o777 });
  const config = `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${snippet}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), config);
  const child: ChildProcess = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = readFileSync(join(dir, 'error.log'), 'utf8');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    errors: () => readFileSync(join(dir, 'error.log'), 'utf8'),
    async stop() {
      child.kill('SIGQUIT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
