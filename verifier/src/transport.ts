// Requests to Keygate's /v1/verifier endpoints over kept-alive connections. Only hashes, ids
// and counts ever go out; the service token is the one credential sent.
import http from 'node:http';
import https from 'node:https';

export class KeygateUnavailable extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number | null = null,
    /** The HTTP status Keygate answered with; null when no answer came. */
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'KeygateUnavailable';
  }
}

export class Transport {
  readonly base: URL;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly authorization: string;

  constructor(
    url: string,
    token: string,
    private readonly timeoutMs: number,
  ) {
    let base: URL;
    try {
      base = new URL(url);
    } catch {
      throw new TypeError(`createVerifier: url is not a URL: ${JSON.stringify(url)}`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new TypeError(`createVerifier: url must be http: or https:, not ${base.protocol}`);
    }
    if (typeof token !== 'string' || !/^[A-Za-z0-9_.~+/=-]+$/.test(token)) {
      throw new TypeError('createVerifier: token must be a service token (a JWT with keygate_role: verifier)');
    }
    this.base = base;
    const secure = base.protocol === 'https:';
    this.request = secure ? https.request : http.request;
    this.agent = new (secure ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: 64 });
    this.authorization = `Bearer ${token}`;
  }

  url(path: string): URL {
    return new URL(path.replace(/^\//, ''), this.base.href.endsWith('/') ? this.base : `${this.base.href}/`);
  }

  /**
   * A JSON request (its body a value, or already JSON text); resolves to the parsed body of a 2xx
   * answer. `timeoutMs` replaces the verifier's for requests no verification waits on.
   */
  json<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    options: { text?: string; timeoutMs?: number } = {},
  ): Promise<T> {
    const { text, timeoutMs = this.timeoutMs } = options;
    const payload =
      text !== undefined ? Buffer.from(text) : body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = this.request(
        this.url(path),
        {
          method,
          agent: this.agent,
          headers: {
            authorization: this.authorization,
            accept: 'application/json',
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              try {
                resolve(JSON.parse(text) as T);
              } catch {
                reject(new KeygateUnavailable(`Keygate answered ${method} ${path} with something not JSON`));
              }
              return;
            }
            let message = text.slice(0, 300);
            try {
              message = (JSON.parse(text) as { error?: string }).error ?? message;
            } catch {}
            const retry = Number(res.headers['retry-after']);
            const error = new KeygateUnavailable(
              `Keygate answered ${method} ${path.split('?')[0]} with ${status}: ${message}`,
              Number.isFinite(retry) && retry > 0 ? retry : null,
              status,
            );
            if (status === 401 || status === 403) error.name = 'KeygateRefusedToken';
            reject(error);
          });
        },
      );
      req.on('timeout', () => req.destroy(new KeygateUnavailable(`Keygate did not answer within ${timeoutMs} ms`)));
      req.on('error', (error) =>
        reject(
          error instanceof KeygateUnavailable
            ? error
            : new KeygateUnavailable(`Keygate cannot be reached: ${error.message}`),
        ),
      );
      req.end(payload);
    });
  }

  /** A streamed GET (the change feed); the caller reads and ends it. */
  stream(path: string, headers: Record<string, string>): http.ClientRequest {
    return this.request(this.url(path), {
      method: 'GET',
      // Its own connection: the feed stays open for good and must not hold a pooled socket.
      agent: false,
      headers: { authorization: this.authorization, accept: 'text/event-stream', ...headers },
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
