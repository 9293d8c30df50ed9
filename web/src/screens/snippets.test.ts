// The integration snippets: the configured header, Bearer for Authorization, the prefix in place of
// the secret, and the platform's URL quoted so that no character of it breaks the snippet.
import { describe, expect, it } from 'vitest';
import { snippets } from './snippets.tsx';

describe('integration snippets', () => {
  it('sends the key the way the API reads it', () => {
    const bearer = snippets('https://api.shop.example/v1/orders', 'Authorization', 'kg_live_Ab3x');
    expect(bearer.curl).toBe(
      "curl 'https://api.shop.example/v1/orders' \\\n  -H 'Authorization: Bearer kg_live_Ab3x…'",
    );
    expect(bearer.node).toContain('headers: { "Authorization": "Bearer kg_live_Ab3x…" }');
    expect(bearer.python).toContain('headers={"Authorization": "Bearer kg_live_Ab3x…"}');
    const header = snippets('https://api.shop.example/', 'X-Api-Key', 'kg_test_Zz9q');
    expect(header.curl).toContain("-H 'X-Api-Key: kg_test_Zz9q…'");
    expect(header.node).toContain('{ "X-Api-Key": "kg_test_Zz9q…" }');
  });

  it('quotes the URL for each language, whatever it holds', () => {
    const odd = snippets('https://api.example.com/it\'s?q="x"', 'Authorization', 'kg_live_Ab3x');
    expect(odd.curl.split('\n')[0]).toBe(`curl 'https://api.example.com/it'\\''s?q="x"' \\`);
    expect(odd.node).toContain('fetch("https://api.example.com/it\'s?q=\\"x\\"", {');
    expect(odd.python).toContain('"https://api.example.com/it\'s?q=\\"x\\"",');
  });
});
