// Code blocks of the docs, run as written: a snippet is taken from its page by the text that
// precedes it, its placeholders swapped for the test's values, and imported as a module from
// inside test/ (so its imports, e.g. `jose`, resolve as in a platform's backend).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './process.ts';

/** The first ```lang block after `after` in docs/<page>, unindented; throws when there is none. */
export function docSnippet(page: string, after: string, lang: string): string {
  const text = readFileSync(join(repoRoot, 'docs', page), 'utf8');
  const start = text.indexOf(after);
  if (start < 0) throw new Error(`docs/${page} no longer says "${after}"`);
  const block = new RegExp(`^( *)\`\`\`${lang}\\n([\\s\\S]*?)^\\1\`\`\``, 'm').exec(text.slice(start));
  if (!block) throw new Error(`docs/${page} has no ${lang} block after "${after}"`);
  const indent = block[1]!;
  return block[2]!.replace(new RegExp(`^${indent}`, 'gm'), '');
}

/** Imports `source` as an ES module; the file is removed once imported. */
export async function importSnippet<T>(source: string): Promise<T> {
  const dir = mkdtempSync(join(repoRoot, 'test', '.snippet-'));
  const file = join(dir, 'snippet.mjs');
  writeFileSync(file, source);
  try {
    return (await import(pathToFileURL(file).href)) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
