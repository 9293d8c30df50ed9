import { describe, expect, it } from 'vitest';
import { urlProblem } from './webhooks.ts';

const strict = { allowInsecure: false, allowPrivate: false };

describe('webhook URLs', () => {
  it('need https unless insecure URLs are allowed, and no credentials', async () => {
    expect(await urlProblem('http://203.0.113.10/hooks', strict)).toBe('must be an https:// URL');
    expect(await urlProblem('ftp://203.0.113.10/hooks', { ...strict, allowInsecure: true })).toBe(
      'must be an http:// or https:// URL',
    );
    expect(await urlProblem('http://203.0.113.10/hooks', { allowInsecure: true, allowPrivate: true })).toBeNull();
    expect(await urlProblem('https://user:pw@203.0.113.10/', strict)).toBe('must not carry a user name or password');
    expect(await urlProblem('not a url', strict)).toBe('must be an absolute https:// URL');
  });

  it('refuse hosts that are not public addresses, as literals in any notation', async () => {
    for (const host of [
      '127.0.0.1',
      '10.0.0.8',
      '172.16.5.4',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
    ]) {
      expect(await urlProblem(`https://${host}/`, strict), host).toBe(`its host ${host} is not a public address`);
    }
    // IPv4-compatible and other IPv6 forms of internal addresses, and everything outside 2000::/3.
    for (const host of [
      '::1',
      'fe80::1',
      'fc00::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::7f00:1',
      '::a9fe:a9fe',
      '64:ff9b::7f00:1',
      '2002:7f00:1::',
      '5f00::1',
      '2001:db8::1',
    ]) {
      expect(await urlProblem(`https://[${host}]/`, strict), host).toMatch(/is not a public address$/);
    }
    expect(await urlProblem('https://203.0.113.10/', strict)).toMatch(/not a public address/); // documentation range
    expect(await urlProblem('https://8.8.8.8/hooks', strict)).toBeNull();
    expect(await urlProblem('https://[2606:4700::1111]/', strict)).toBeNull();
    expect(await urlProblem('https://127.0.0.1/', { ...strict, allowPrivate: true })).toBeNull();
  });

  it('never say which internal address a name resolves to', async () => {
    const problem = await urlProblem('https://localhost/hooks', strict);
    expect(problem).toMatch(/^its host localhost resolves to an address that is not public/);
    expect(problem).not.toMatch(/127\.0\.0\.1|::1/);
  });
});
