// GraphiQL at GET /graphql (for browsers asking for HTML), with the walkthrough for this server.
// On by default in development, off in production unless KEYGATE_GRAPHIQL=1. Its page is 9 MB
// of inline script and style: rendered once when first asked for, gzipped off the event loop,
// and served under a Content Security Policy that allows exactly that script (by its hash) and
// GraphiQL's web workers, and no framing.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { graphiqlWalkthrough } from './graphiql-walkthrough.ts';

const gzipAsync = promisify(gzip);

interface Page {
  html: Buffer;
  gzipped: Buffer;
  csp: string;
}

/** Whether a request is a browser opening the page (what Yoga would answer with GraphiQL). */
export function asksForGraphiql(req: IncomingMessage): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && /text\/html/.test(req.headers.accept ?? '');
}

export function createGraphiqlHandler(enabled: boolean, serverUrl: () => string) {
  let page: Promise<Page> | null = null;

  const render = async (): Promise<Page> => {
    const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
    // Served from this server, not a CDN: no third-party script on a key-management page, and it works offline.
    const text = renderGraphiQL({
      title: 'Keygate',
      endpoint: '/graphql',
      defaultQuery: graphiqlWalkthrough(serverUrl()),
    });
    const hashes = [...text.matchAll(/<script(?:\s[^>]*)?>([\s\S]*?)<\/script>/g)].map(
      ([, script]) => `'sha256-${createHash('sha256').update(script!).digest('base64')}'`,
    );
    const csp = [
      "default-src 'none'",
      `script-src ${hashes.join(' ')}`,
      // GraphiQL styles itself inline, and runs its editor's language services in blob: workers.
      "style-src 'unsafe-inline'",
      'worker-src blob:',
      "img-src 'self' data:",
      "font-src 'self' data:",
      "connect-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; ');
    const html = Buffer.from(text);
    return { html, gzipped: await gzipAsync(html), csp };
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    if (!enabled) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('GraphiQL is off in production (set KEYGATE_GRAPHIQL=1 to serve it). The API is POST /graphql.\n');
      return;
    }
    page ??= render();
    page.then(
      ({ html, gzipped, csp }) => {
        const gzipped_ = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
        const body = gzipped_ ? gzipped : html;
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'content-length': body.length,
          ...(gzipped_ ? { 'content-encoding': 'gzip' } : {}),
          vary: 'accept-encoding',
          'cache-control': 'no-cache',
          'content-security-policy': csp,
          'referrer-policy': 'no-referrer',
          'x-content-type-options': 'nosniff',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => {
        page = null;
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('GraphiQL could not be rendered\n');
      },
    );
  };
}
