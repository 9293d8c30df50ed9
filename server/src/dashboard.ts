// The merchant dashboard (web/dist, built by `pnpm build`), served at / as static files:
// hashed assets cached for good and gzipped once in memory, any other page path answered
// with index.html (the app routes itself). Plus its two endpoints: the settings it needs
// before sign-in, and, in development on a loopback server only, "sign in as" a merchant.
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { signDevToken } from './auth/dev-token.ts';
import type { AuthConfig } from './config.ts';
import { readBody, sendJson } from './http-json.ts';

export interface DashboardOptions {
  /** web/dist: index.html and assets/. */
  dir: string;
  /** Origins that may frame the dashboard and hand it a token by postMessage. */
  embedOrigins: string[];
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

interface File {
  body: Buffer;
  gzipped: Buffer | null;
  type: string;
}

export function createDashboardHandler(options: DashboardOptions) {
  const files = new Map<string, File | null>();
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

  function load(relative: string): File | null {
    if (files.has(relative)) return files.get(relative)!;
    const path = normalize(join(options.dir, relative));
    let file: File | null = null;
    if (path.startsWith(options.dir + sep) && statSync(path, { throwIfNoEntry: false })?.isFile()) {
      const body = readFileSync(path);
      const type = TYPES[extname(path)] ?? 'application/octet-stream';
      const compressible = /^(text|application\/json|image\/svg)/.test(type) && body.length > 1024;
      file = { body, gzipped: compressible ? gzipSync(body, { level: 9 }) : null, type };
    }
    // index.html is re-read when missing, so a build finished after start-up is served.
    if (file || relative !== 'index.html') files.set(relative, file);
    return file;
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
    // Another site open in the same browser may not mint tokens from here.
    const origin = req.headers.origin;
    if (req.method !== 'POST' || (origin !== undefined && origin !== `http://${req.headers.host}`)) {
      return sendJson(res, 403, { error: 'POST it from the dashboard itself' });
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
  return (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    if (path === '/dashboard/sign-in-as') {
      void signInAs(req, res).catch(() => sendJson(res, 500, { error: 'the token could not be signed' }));
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (path === '/dashboard/config.json') {
      sendJson(res, 200, { devSignIn: devSignIn && onLoopback, embedOrigins: options.embedOrigins });
      return true;
    }
    if (path.startsWith('/assets/') || /^\/[\w-]+\.(svg|ico|png|txt)$/.test(path)) {
      let file: File | null = null;
      try {
        file = load(decodeURIComponent(path.slice(1)));
      } catch {}
      if (file === null) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      } else {
        const immutable = path.startsWith('/assets/');
        send(req, res, file, {
          'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'public, max-age=3600',
          'x-content-type-options': 'nosniff',
        });
      }
      return true;
    }
    const index = load('index.html');
    if (index === null) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('The dashboard is not built: run `pnpm build` (pnpm install does it). GraphQL is at /graphql.\n');
      return true;
    }
    send(req, res, index, htmlHeaders);
    return true;
  };
}
