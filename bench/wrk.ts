// Load generation with wrk (Debian's package): a C program in its own process,
// so the load generator does not compete with the server for a JavaScript thread.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LoadSettings {
  threads: number;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  /**
   * CPU time (user + system, all threads) the target's processes spent per request, in µs, when
   * the target names them. Time the hypervisor steals from the VM is not in it, so it is steadier
   * than requests per second on a shared machine; null when no process was named.
   */
  cpuMicrosPerRequest: number | null;
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
  /** The processes that serve it (their CPU time per request is measured). */
  pids?: number[];
}

/** utime + stime of a process, all its threads, in clock ticks (USER_HZ, 100 on Linux). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), which ends at the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
const TICK_MICROS = 10_000;

export async function load(target: Target, settings: LoadSettings): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'keygate-wrk-'));
  const script = join(dir, 'request.lua');
  const lines = [`wrk.method = ${JSON.stringify(target.method ?? 'GET')}`];
  for (const [name, value] of Object.entries(target.headers ?? {}))
    lines.push(`wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
  if (target.body !== undefined) lines.push(`wrk.body = ${JSON.stringify(target.body)}`);
  writeFileSync(script, `${lines.join('\n')}\n`);
  const cpuBefore = target.pids?.reduce((sum, pid) => sum + cpuTicks(pid), 0);
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
    const cpuAfter = target.pids?.reduce((sum, pid) => sum + cpuTicks(pid), 0);
    const total = /(\d+) requests in/.exec(output);
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
    if (!rps) throw new Error(`unexpected wrk output:\n${output}`);
    const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(output);
    const scale = { us: 0.001, ms: 1, s: 1000 } as const;
    const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(output);
    const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
    return {
      requestsPerSecond: Number(rps[1]),
      cpuMicrosPerRequest:
        cpuBefore === undefined || cpuAfter === undefined || !total
          ? null
          : ((cpuAfter - cpuBefore) * TICK_MICROS) / Number(total[1]),
      p99Ms: p99 ? Number(p99[1]) * scale[p99[2] as keyof typeof scale] : Number.NaN,
      non2xx: non2xx ? Number(non2xx[1]) : 0,
      errors: errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
