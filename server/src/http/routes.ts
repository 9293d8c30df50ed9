// The HTTP route table: which handler answers which path. The verification path is matched
// first, with no allocation; everything else by its path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReplicaStatus } from '../db/replicas.ts';
import { asksForGraphiql } from './graphiql.ts';
import { sendJson } from './json.ts';

export interface Readiness {
  status: 'ready' | 'degraded' | 'unavailable';
  /** Each read replica's state, in the order configured (no addresses: anyone may ask). */
  replicas?: Pick<ReplicaStatus, 'up' | 'fresh' | 'lagBytes' | 'lagSeconds'>[];
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Routes {
  /** GET /v1/auth (any query string): forward authentication for gateways. */
  forwardAuth: Handler;
  /**
   * GET /readyz: 200 when ready, or degraded (serving, with a read replica down); 503 otherwise.
   * The body says which, and each replica's state when there are any.
   */
  ready: () => Promise<Readiness>;
  /** GET /metrics, or null while metrics are off. */
  metrics: Handler | null;
  /** POST /v1/leaks, or null while leak reports are not configured. */
  leaks: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | null;
  /** GraphiQL, for browsers asking /graphql for a page. */
  graphiql: Handler;
  /** The dashboard's pages and files: true when it answered. */
  dashboard: ((req: IncomingMessage, res: ServerResponse, path: string) => boolean) | null;
  /** GraphQL (Yoga) at /graphql, and the 404 for everything nothing else answered. */
  graphql: Handler;
  /** /v1/verifier/…: what embedded verifiers speak to. */
  verifierApi: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;
  /** Told about a verifier endpoint that failed unexpectedly. */
  onVerifierError: (error: unknown) => void;
  /** Told about a leak report that failed unexpectedly. */
  onLeakError: (error: unknown) => void;
}

export function createRouter(routes: Routes) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    if (url === '/v1/auth' || url.startsWith('/v1/auth?')) return routes.forwardAuth(req, res);
    const path = url.split('?', 1)[0]!;
    switch (path) {
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz':
        return void routes
          .ready()
          .then((readiness) => sendJson(res, readiness.status === 'unavailable' ? 503 : 200, readiness));
      case '/metrics':
        if (routes.metrics) return routes.metrics(req, res);
        res.writeHead(404, { 'content-type': 'text/plain' });
        return void res.end('metrics are off: set KEYGATE_METRICS_TOKEN to serve them to bearers of that token\n');
      case '/v1/leaks':
        if (!routes.leaks) {
          return sendJson(res, 404, { error: 'leak reports are not configured (KEYGATE_LEAK_REPORT_KEYS)' });
        }
        return void routes.leaks(req, res).catch((error) => {
          routes.onLeakError(error);
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end('{"error":"the report could not be handled; send it again"}');
        });
      case '/graphql':
        return asksForGraphiql(req) ? routes.graphiql(req, res) : routes.graphql(req, res);
    }
    if (path.startsWith('/v1/verifier/')) {
      return void routes.verifierApi(req, res, path).catch((error) => {
        routes.onVerifierError(error);
        if (!res.headersSent) res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"error":"Keygate could not answer; try again","code":"UNAVAILABLE"}');
      });
    }
    // Nothing else lives under /v1/: a gateway pointed at a mistyped auth URL gets a 404, never a 200.
    const head = path.slice(0, 4).toLowerCase();
    if (head === '/v1' || head === '/v1/') {
      return sendJson(res, 404, {
        error: 'no such endpoint: the gateway endpoint is /v1/auth, embedded verifiers use /v1/verifier/',
      });
    }
    if (routes.dashboard?.(req, res, path)) return;
    return routes.graphql(req, res);
  };
}
