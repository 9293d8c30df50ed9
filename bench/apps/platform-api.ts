// The platform's API of `pnpm bench integration`, in one of its shapes (argv[2]):
//   node            node:http answering "ok"
//   node-verifier   the same, verifying the request's key with @keygate/verifier first
//   express         Express answering "ok"
//   express-verifier the same behind @keygate/verifier/express's middleware
//   verifykey       node:http asking Keygate's verifyKey (GraphQL, the SDK) on every request
// With a verifier, /bare answers "ok" without verifying, in the same process: the API alone, with
// the same process, code, memory and placement on the machine, for a like-for-like comparison.
// node-verifier also serves /bare-with-headers (the API alone sending three header fields the size
// of a metered key's) and /api/orders-quiet (the adapter with meteringHeaders: 'refusals').
// KEYGATE_URL and KEYGATE_TOKEN (a service token) as the README says. Prints its port.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createKeygateClient } from '@keygate/sdk';
import { createVerifier } from '@keygate/verifier';
import { keygate } from '@keygate/verifier/express';
import express from 'express';

const mode = process.argv[2] ?? 'node';
const url = process.env.KEYGATE_URL ?? '';
const token = process.env.KEYGATE_TOKEN ?? '';
const ok = (res: { writeHead(s: number, h: Record<string, string>): unknown; end(b: string): void }) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok');
};

const METERING_HEADERS = [
  ['ratelimit-policy', '"per-second";q=1000000000;w=1, "per-hour";q=1000000000;w=3600'],
  ['ratelimit', '"per-second";r=999981234;t=1, "per-hour";r=999123456;t=3512'],
  ['x-keygate-credits-remaining', '998877665'],
] as const;

let listen: (port: number, done: (port: number) => void) => void;
if (mode === 'express' || mode === 'express-verifier') {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  const handler = (_req: express.Request, res: express.Response) => {
    res.type('text/plain').send('ok');
  };
  if (mode === 'express-verifier') {
    const verifier = createVerifier({ url, token });
    await verifier.ready();
    app.get('/bare', handler);
    app.use(keygate(verifier));
  }
  app.get('/api/orders', handler);
  listen = (port, done) => {
    const server = app.listen(port, '127.0.0.1', () => done((server.address() as AddressInfo).port));
    server.keepAliveTimeout = 65_000;
  };
} else {
  let handle: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void;
  if (mode === 'node-verifier') {
    // The Express adapter on plain node:http, as docs/verification.md shows it.
    const verifier = createVerifier({ url, token });
    await verifier.ready();
    const check = keygate(verifier);
    const quiet = keygate(verifier, { meteringHeaders: 'refusals' });
    handle = (req, res) => {
      if (req.url === '/bare') ok(res);
      else if (req.url === '/bare-with-headers') {
        // The API alone answering with three header fields the size of a metered key's.
        for (const [name, value] of METERING_HEADERS) res.setHeader(name, value);
        ok(res);
      } else if (req.url === '/api/orders-quiet') quiet(req, res, () => ok(res));
      else check(req, res, () => ok(res));
    };
  } else if (mode === 'verifykey') {
    const sdk = createKeygateClient({ url: `${url}/graphql`, token });
    handle = (req, res) => {
      void sdk.keys.verify({ key: String(req.headers['x-api-key'] ?? '') }).then((r) => {
        if (r.ok && r.value.valid) ok(res);
        else {
          res.writeHead(401);
          res.end();
        }
      });
    };
  } else {
    handle = (_req, res) => ok(res);
  }
  const server = createServer(handle);
  server.keepAliveTimeout = 65_000;
  listen = (port, done) => server.listen(port, '127.0.0.1', () => done((server.address() as AddressInfo).port));
}
process.on('SIGINT', () => process.exit(0));
listen(0, (port) => console.log(port));
