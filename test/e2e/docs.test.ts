// The documentation as a reader meets it: the README's first verified key, run step by step as
// written against a started server, and every link between the pages leading somewhere real.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, type KeygateProcess, repoRoot, runShell, startKeygate, tempDirs } from '../support/process.ts';

const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');

describe("the README's first verified key, as written", () => {
  const dirs = tempDirs('keygate-readme-');
  let server: KeygateProcess;
  let env: Record<string, string>;
  const section = readme.slice(readme.indexOf('## Your first verified key'), readme.indexOf('## Documentation'));
  /** The section's code blocks of one language, in order, with the list's indentation removed. */
  const blocks = (language: string) =>
    [...section.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) =>
      m[1]!.replace(/^ {3}/gm, ''),
    );

  beforeAll(async () => {
    env = { KEYGATE_DATA_DIR: dirs.make() };
    server = await startKeygate(env);
  });
  afterAll(async () => {
    await server?.stop();
    dirs.removeAll();
  });

  it('gets a token, creates an application and a key, verifies it in GraphQL and at /v1/auth, revokes it', async () => {
    // 1. The token, by the shell line the README gives for it.
    const tokenLine = blocks('sh')
      .flatMap((block) => block.split('\n'))
      .find((line) => line.startsWith('export KEYGATE_TOKEN='))!
      .replace(/\s+#.*$/, '');
    const captured = runShell(`${tokenLine} && printf "%s" "$KEYGATE_TOKEN"`, env);
    expect(captured.status).toBe(0);
    const token = captured.stdout;
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    // 3-5. The three documents, with only their placeholders filled in.
    const [createApplication, createKey, verifyKey] = blocks('graphql');
    expect([createApplication, createKey, verifyKey].every(Boolean)).toBe(true);
    const application = await graphql(server.url, token, createApplication!);
    expect(application.body.data.createApplication).toMatchObject({
      __typename: 'ApplicationPayload',
      application: { name: 'Production web store' },
    });
    const applicationId: string = application.body.data.createApplication.application.id;
    const key = await graphql(server.url, token, createKey!.replace('<id>', applicationId));
    expect(key.body.data.createKey).toMatchObject({ __typename: 'CreateKeyPayload', key: { status: 'ACTIVE' } });
    const { secret, key: created } = key.body.data.createKey as { secret: string; key: { id: string } };
    expect(secret).toMatch(/^kg_live_/);
    const verified = await graphql(server.url, token, verifyKey!.replace('<secret>', secret));
    expect(verified.body.data.verifyKey).toMatchObject({ valid: true, code: 'VALID', access: 'FULL_ACCESS' });

    // The gateway's view: the curl line, pointed at this server.
    const curl = blocks('sh')
      .flatMap((block) => block.split('\n'))
      .find((line) => line.startsWith('curl '))!
      .replace('<secret>', secret)
      .replace('http://127.0.0.1:4000', server.url);
    const answer = runShell(curl, env);
    expect(answer.status).toBe(0);
    expect(answer.stdout).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer.stdout.toLowerCase()).toContain('x-keygate-key-id: ');

    // Then revoke it, as the README's last step says, and verify again.
    const revoke = /`(revokeKey\(input: \{ id: "<key id>" \}\))`/.exec(section)?.[1];
    expect(revoke).toBeDefined();
    const revoked = await graphql(
      server.url,
      token,
      `mutation { ${revoke!.replace('<key id>', created.id)} { __typename } }`,
    );
    expect(revoked.body.data.revokeKey.__typename).toBe('ApiKeyPayload');
    const again = await graphql(server.url, token, verifyKey!.replace('<secret>', secret));
    expect(again.body.data.verifyKey).toMatchObject({ valid: false, code: 'REVOKED' });
  });
});

describe('links between the pages', () => {
  /** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
  const anchors = (markdown: string) =>
    new Set(
      [...markdown.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
        m[1]!
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/\s/g, '-'),
      ),
    );
  const pages = [
    'README.md',
    'CONTRIBUTING.md',
    ...readdirSync(join(repoRoot, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .map((name) => `docs/${name}`),
  ];

  it.each(pages)('%s: every relative link names a file that exists, and an anchor it has', (page) => {
    const text = readFileSync(join(repoRoot, page), 'utf8');
    const broken: string[] = [];
    for (const [, link] of text.replace(/```[\s\S]*?```/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:)/.test(link!)) continue;
      const [path, anchor] = link!.split('#') as [string, string | undefined];
      const target = path ? join(repoRoot, dirname(page), path) : join(repoRoot, page);
      if (!existsSync(target)) {
        broken.push(`${link} (no ${relative(repoRoot, target)})`);
        continue;
      }
      if (anchor && target.endsWith('.md') && !anchors(readFileSync(target, 'utf8')).has(anchor)) {
        broken.push(`${link} (no heading #${anchor})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the README stays a front door: at most about 200 lines', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(200);
  });
});
