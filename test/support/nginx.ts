// A real nginx (Debian's package) on loopback, configured as a gateway that
// asks Keygate about every request with auth_request.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './postgres-cluster.ts';

export interface Nginx {
  url: string;
  stop(): Promise<void>;
}

function nginxBinary(): string {
  for (const candidate of ['/usr/sbin/nginx', 'nginx']) {
    if (spawnSync(candidate, ['-v']).status === 0) return candidate;
  }
  throw new Error('nginx not found. Install it (Debian: apt-get install -y nginx); .ci/run does.');
}

export async function startNginx(keygatePort: number, upstreamPort: number): Promise<Nginx> {
  const binary = nginxBinary();
  const dir = mkdtempSync(join(tmpdir(), 'keygate-nginx-'));
  // Workers run as an unprivileged user when nginx starts as root; they need their temp folders.
  chmodSync(dir, 0o777);
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub), { mode: 0o777 });
  const port = await freePort();
  const identity = ['key-id', 'application-id', 'merchant-id', 'environment', 'access', 'scopes'];
  const config = `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream keygate { server 127.0.0.1:${keygatePort}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location = /_keygate {
      internal;
      proxy_pass http://keygate/v1/auth;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
    location / {
      auth_request /_keygate;
${identity.map((h) => `      auth_request_set $kg_${h.replace('-', '_')} $upstream_http_x_keygate_${h.replace('-', '_')};\n      proxy_set_header X-Keygate-${h} $kg_${h.replace('-', '_')};`).join('\n')}
      proxy_set_header X-Api-Key "";
      proxy_set_header Authorization "";
      proxy_pass http://127.0.0.1:${upstreamPort};
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), config);
  const child: ChildProcess = spawn(binary, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = readFileSync(join(dir, 'error.log'), 'utf8');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGQUIT');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
