import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver, RESPONSE_KEPT, signature } from './deliver.ts';

let server: Server;
let base = '';
let drip: TcpServer;
let dripBase = '';
const open = { allowInsecure: true, allowPrivate: true, timeoutMs: 2_000 };

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/redirect') {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' });
      return res.end();
    }
    if (req.url === '/large') {
      res.writeHead(200);
      return res.end('x'.repeat(5 * RESPONSE_KEPT));
    }
    if (req.url === '/silent') return; // never answers
    res.writeHead(200);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A receiver that answers one byte of its headers every 50 ms, forever (or a huge header at once).
  drip = createTcpServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (request) => {
      if (request.toString().startsWith('POST /huge')) {
        socket.write(`HTTP/1.1 200 OK\r\nx-big: ${'b'.repeat(64 * 1024)}\r\n\r\n`);
        return;
      }
      socket.write('HTTP/1.1 200 OK\r\n');
      const timer = setInterval(() => socket.write('x'), 50);
      socket.on('close', () => clearInterval(timer));
    });
  });
  await new Promise<void>((resolve) => drip.listen(0, '127.0.0.1', resolve));
  dripBase = `http://127.0.0.1:${(drip.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
  drip.close();
});

describe('deliver', () => {
  it('does not follow redirects', async () => {
    expect(await deliver(`${base}/redirect`, {}, '{}', open)).toEqual({
      statusCode: 302,
      error: 'answered 302: redirects are not followed',
      response: '',
    });
  });

  it('keeps at most 1 KiB of the answer', async () => {
    const attempt = await deliver(`${base}/large`, {}, '{}', open);
    expect(attempt.error).toBeNull();
    expect(attempt.response).toHaveLength(RESPONSE_KEPT);
  });

  it('gives up on a receiver that does not answer in time', async () => {
    const started = Date.now();
    const attempt = await deliver(`${base}/silent`, {}, '{}', { ...open, timeoutMs: 100 });
    expect(attempt).toEqual({ statusCode: null, error: 'no complete answer within 100 ms', response: null });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('cuts off a receiver that drips its answer, at the deadline of the whole attempt', async () => {
    const started = Date.now();
    const attempt = await deliver(`${dripBase}/drip`, {}, '{}', { ...open, timeoutMs: 300 });
    expect(attempt).toEqual({ statusCode: null, error: 'no complete answer within 300 ms', response: null });
    // Bytes kept arriving every 50 ms: an idle timeout would never have fired.
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('refuses an answer whose headers are too large', async () => {
    const attempt = await deliver(`${dripBase}/huge`, {}, '{}', open);
    expect(attempt.statusCode).toBeNull();
    expect(attempt.error).toMatch(/header/i);
  });

  it('refuses private targets and plain http unless allowed, before connecting', async () => {
    expect((await deliver(`${base}/`, {}, '{}', { ...open, allowPrivate: false })).error).toBe(
      'refused: 127.0.0.1 resolves to an address that is not public (loopback, private, link-local or reserved)',
    );
    expect((await deliver(`${base}/`, {}, '{}', { ...open, allowInsecure: false })).error).toBe(
      'refused: only https:// URLs are allowed',
    );
    expect((await deliver(`${base}/`, {}, '{}', open)).statusCode).toBe(200);
  });

  it('signs as Standard Webhooks describes', () => {
    // The example of the Standard Webhooks specification's reference implementation.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
    const body = '{"test": 2432232314}';
    expect(signature(secret, id, 1614265330, body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });
});
