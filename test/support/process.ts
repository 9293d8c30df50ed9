// Runs Keygate's real entry points as child processes, as a user would.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { print } from 'graphql';
import type { Document, ResultOf, VariablesOf } from './harness.ts';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const serverDir = `${repoRoot}server`;

/**
 * Node running TypeScript sources as the workspace does: tsx, and the "@keygate/source" export
 * condition, so a package such as the SDK resolves to its sources, not a build that a fresh clone
 * has not made yet.
 */
export const tsxNode = [process.execPath, '--conditions=@keygate/source', '--import', 'tsx'] as const;

/** The environment a fresh shell would have: none of Keygate's own settings. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(KEYGATE_|OTEL_|DATABASE_URL$|PORT$|HOST$|INIT_CWD$)/.test(k)),
  );
  return { ...base, ...env };
}

export interface KeygateProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `src/main.ts` (or the given command) and waits until it listens. */
export function startKeygate(
  env: Record<string, string>,
  command: string[] = [...tsxNode, 'src/main.ts'],
  cwd = serverDir,
  /** Called with everything printed so far, on each new chunk (before and after readiness). */
  onOutput?: (output: string) => void,
): Promise<KeygateProcess> {
  const child = spawn(command[0]!, command.slice(1), {
    cwd,
    env: cleanEnv({ PORT: '0', HOST: '127.0.0.1', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      // Never leave a half-started server behind.
      process.kill(-child.pid!, 'SIGKILL');
      reject(new Error(`Keygate did not start:\n${output}`));
    }, 60_000);
    const ready = (url: string) => {
      clearTimeout(timer);
      resolve({
        url,
        child,
        output: () => output,
        stop: async (signal = 'SIGTERM') => {
          // Stopping one that has exited already (a test stopped it) only answers how it ended.
          if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, signal);
          return exited;
        },
      });
    };
    // With a fixed port, readiness is /healthz (the start-up line may be below LOG_LEVEL).
    const port = env.PORT && env.PORT !== '0' ? env.PORT : null;
    if (port) {
      const poll = async () => {
        const url = `http://127.0.0.1:${port}`;
        const ok = await fetch(`${url}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) ready(url);
        else if (child.exitCode === null) setTimeout(poll, 50);
      };
      void poll();
    }
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      onOutput?.(output);
      const match = /listening on (http:\/\/\S+)\/graphql/.exec(output);
      if (match && !port) ready(match[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`Keygate exited with ${code} before listening:\n${output}`));
    });
  });
}

/** Runs a command-line tool of the server package to completion. */
export function runCli(script: string, args: string[], env: Record<string, string>) {
  const [node, ...flags] = tsxNode;
  const result = spawnSync(node!, [...flags, script, ...args], {
    cwd: serverDir,
    env: cleanEnv(env),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

/** Runs a shell command line from the repository's root, as a user types it. */
export function runShell(command: string, env: Record<string, string>) {
  const result = spawnSync('bash', ['-c', command], {
    cwd: repoRoot,
    env: cleanEnv(env),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** POST /graphql: a typed document of the SDK (variables checked), or a string crafted on purpose. */
export async function graphql<D extends Document<unknown, never>>(
  url: string,
  token: string | null,
  document: D,
  variables?: VariablesOf<D>,
) {
  const query = typeof document === 'string' ? document : print(document);
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables: variables ?? {} }),
  });
  return {
    status: response.status,
    body: (await response.json()) as {
      data: ResultOf<D>;
      errors?: { message: string; extensions?: { code?: string } }[];
    },
  };
}

/** Fresh data directories for a test file, removed by the returned cleanup. */
export function tempDirs(prefix = 'keygate-e2e-') {
  const dirs: string[] = [];
  return {
    make() {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    removeAll() {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
