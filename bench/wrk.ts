// Load generation with wrk (Debian's package): a C program in its own process,
// so the load generator does not compete with the server for a JavaScript thread.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LoadSettings {
  threads: number;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

export function ensureWrk(): void {
  if (spawnSync('wrk', ['--version']).error === undefined) return;
  if (process.getuid?.() === 0) {
    console.error('installing wrk (Debian package) for the load tests…');
    const install = spawnSync(
      'sh',
      ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk'],
      { stdio: 'ignore' },
    );
    if (install.status === 0) return;
  }
  throw new Error('wrk is needed for the HTTP benchmarks: apt-get install -y wrk');
}

export interface Target {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export async function load(target: Target, settings: LoadSettings): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-wrk-'));
  const script = join(dir, 'request.lua');
  const lines = [`wrk.method = ${JSON.stringify(target.method ?? 'GET')}`];
  for (const [name, value] of Object.entries(target.headers ?? {}))
    lines.push(`wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
  if (target.body !== undefined) lines.push(`wrk.body = ${JSON.stringify(target.body)}`);
  writeFileSync(script, `${lines.join('\n')}\n`);
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn('wrk', [
        `-t${settings.threads}`,
        `-c${settings.connections}`,
        `-d${settings.seconds}s`,
        '--latency',
        '-s',
        script,
        target.url,
      ]);
      let text = '';
      child.stdout.on('data', (chunk) => (text += chunk));
      child.stderr.on('data', (chunk) => (text += chunk));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk failed:\n${text}`))));
    });
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
    if (!rps) throw new Error(`unexpected wrk output:\n${output}`);
    const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(output);
    const scale = { us: 0.001, ms: 1, s: 1000 } as const;
    const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
    const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
    return {
      requestsPerSecond: Number(rps[1]),
      p99Ms: p99 ? Number(p99[1]) * scale[p99[2] as keyof typeof scale] : Number.NaN,
      non2xx: non2xx ? Number(non2xx[1]) : 0,
      errors: errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
