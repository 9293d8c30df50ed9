// The merchant dashboard (web/dist, built by `pnpm build`), served at / as static files:
// the build's files, listed at start-up, cached for good and gzipped once in memory; the
// app's own page addresses answered with index.html (the app routes itself). Plus its two endpoints: the settings it needs
// before sign-in, and, in development on a loopback server only, "sign in as" a merchant.
import { type Dirent, readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { signDevToken } from '../auth/dev-token.ts';
import type { AuthConfig } from '../config.ts';
import { readBody, sendJson } from './json.ts';

export interface DashboardOptions {
  /** web/dist: index.html and assets/. */
  dir: string;
  /** Origins that may frame the dashboard and hand it a token by postMessage. */
  embedOrigins: string[];
  /** Your API's address and key header, for the integration snippets on a key's page. */
  integration?: { apiUrl: string; keyHeader: string };
  auth: AuthConfig;
  /** The address the server listens on: "sign in as" is offered on loopback only. */
  host: string;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);
const MERCHANT_ID = /^[\x21-\x7e]{1,128}$/;
const FORWARDING = ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'forwarded', 'via'];

/** The Host header when it names a loopback address (127.0.0.1, [::1] or localhost, with a port); else null. */
function loopbackHost(host: string | undefined): string | null {
  if (host === undefined) return null;
  const match = /^(127\.0\.0\.1|\[::1\]|localhost)(:\d{1,5})?$/i.exec(host);
  return match ? host.toLowerCase() : null;
}

interface File {
  body: Buffer;
  gzipped: Buffer | null;
  type: string;
}

/** The app's own page addresses (web/src/app.tsx): anything else is not the dashboard's to answer. */
const PAGE =
  /^\/(?:(?:applications|audit|webhooks|roles|identities|policy)\/?|(?:applications|keys|identities)\/[^/]+\/?)?$/;

/** The files of a build, by URL path, read once when first asked for; found by listing dist, never by a path a client sent. */
function listBuild(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (folder: string, prefix: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path, `${prefix}${entry.name}/`);
      else if (entry.isFile()) found.set(`/${prefix}${entry.name}`, path);
    }
  };
  walk(dir, '');
  return found;
}

export function createDashboardHandler(options: DashboardOptions) {
  let build = listBuild(options.dir);
  let listedAt = Date.now();
  const files = new Map<string, File>();
  const devSignIn = options.auth.key.kind === 'secret' && options.auth.key.origin === 'development file';
  const onLoopback = LOOPBACK.has(options.host);
  const frameAncestors = ["'self'", ...options.embedOrigins].join(' ');
  const htmlHeaders = {
    'content-security-policy': [
      "default-src 'self'",
      "script-src 'self'",
      // React Aria and uPlot position popovers and charts with style attributes.
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      `frame-ancestors ${frameAncestors}`,
    ].join('; '),
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-cache',
  };

  /** A built file by its exact URL path; null for anything the build does not hold (never cached). */
  function load(urlPath: string): File | null {
    const known = files.get(urlPath);
    if (known) return known;
    const path = build.get(urlPath);
    if (path === undefined) return null;
    let body: Buffer;
    try {
      body = readFileSync(path);
    } catch {
      return null;
    }
    const type = TYPES[extname(path)] ?? 'application/octet-stream';
    const compressible = /^(text|application\/json|image\/svg)/.test(type) && body.length > 1024;
    const file = { body, gzipped: compressible ? gzipSync(body, { level: 9 }) : null, type };
    files.set(urlPath, file);
    return file;
  }

  /** index.html; while there is none (a build still running), the folder is listed again at most once a second. */
  function index(): File | null {
    const file = load('/index.html');
    if (file === null && Date.now() - listedAt > 1000) {
      build = listBuild(options.dir);
      listedAt = Date.now();
      return load('/index.html');
    }
    return file;
  }

  function notFound(res: ServerResponse): void {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end('not found\n');
  }

  function send(req: IncomingMessage, res: ServerResponse, file: File, headers: Record<string, string>) {
    const gzip = file.gzipped !== null && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
    const body = gzip ? file.gzipped! : file.body;
    res.writeHead(200, {
      'content-type': file.type,
      'content-length': body.length,
      vary: 'accept-encoding',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      ...headers,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async function signInAs(req: IncomingMessage, res: ServerResponse) {
    const peer = req.socket.remoteAddress ?? '';
    if (!devSignIn || !onLoopback || !LOOPBACK.has(peer)) {
      return sendJson(res, 404, {
        error:
          'signing in as a merchant is offered only in development mode (no KEYGATE_JWT_SECRET or KEYGATE_JWKS_URL) on a server listening on loopback',
      });
    }
    // Only this machine's own browser, on the dashboard's own page, may mint tokens: a page of
    // another site (its Origin), a name that merely resolves to 127.0.0.1 (DNS rebinding: its
    // Host), and anyone reaching in through a proxy on this machine (its forwarding headers) may not.
    const host = loopbackHost(req.headers.host);
    const forwarded = FORWARDING.some((name) => req.headers[name] !== undefined);
    if (req.method !== 'POST' || host === null || forwarded || req.headers.origin !== `http://${host}`) {
      return sendJson(res, 403, { error: 'POST it from the dashboard itself, opened at a loopback address' });
    }
    let merchantId: unknown;
    try {
      const body = await readBody(req, 4096);
      ({ merchantId } = JSON.parse(body?.toString('utf8') ?? '') as { merchantId?: unknown });
    } catch {
      return sendJson(res, 400, { error: 'send {"merchantId": "…"} as JSON' });
    }
    if (typeof merchantId !== 'string' || !MERCHANT_ID.test(merchantId)) {
      return sendJson(res, 400, {
        error: 'a merchant id is 1 to 128 visible ASCII characters, without spaces',
        field: 'merchantId',
      });
    }
    const token = await signDevToken(options.auth, { merchantId }, { expiresIn: '12h' });
    return sendJson(res, 200, { token });
  }

  /** Whether the request was the dashboard's; false leaves it to the GraphQL app. */
  const handle = (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    if (path === '/dashboard/sign-in-as') {
      void signInAs(req, res).catch(() => sendJson(res, 500, { error: 'the token could not be signed' }));
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (path === '/dashboard/config.json') {
      sendJson(res, 200, {
        devSignIn: devSignIn && onLoopback,
        embedOrigins: options.embedOrigins,
        integration: options.integration ?? { apiUrl: 'https://api.example.com', keyHeader: 'Authorization' },
      });
      return true;
    }
    if (path.startsWith('/assets/') || /^\/[\w-]+\.(svg|ico|png|txt)$/.test(path)) {
      // The exact path the build holds, undecoded: "..%2f" is no file of it.
      const file = path === '/index.html' ? null : load(path);
      if (file === null) notFound(res);
      else {
        const immutable = path.startsWith('/assets/');
        send(req, res, file, {
          'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=3600',
          'x-content-type-options': 'nosniff',
        });
      }
      return true;
    }
    // The app's pages, for a browser asking for a page. Anything else (a mistyped API path
    // such as /v1/auth/, a script asking for JSON) is a 404, never a 200 that looks like success.
    if (!PAGE.test(path)) return false;
    const accept = req.headers.accept;
    if (accept !== undefined && !/text\/html|\*\/\*/.test(accept)) return false;
    const page = index();
    if (page === null) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('The dashboard is not built: run `pnpm build` (pnpm install does it). GraphQL is at /graphql.\n');
      return true;
    }
    send(req, res, page, htmlHeaders);
    return true;
  };
  /** How many files are held in memory (at most the build's own). */
  return Object.assign(handle, { cachedFiles: () => files.size });
}
