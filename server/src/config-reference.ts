// docs/configuration.md, printed from the variables table in config.ts: the page
// cannot drift from what start-up reads (`pnpm generate` writes it, a test and
// `pnpm check` fail on a stale copy).
import { sections, type Variable, variables } from './config.ts';

const cell = (text: string) => text.replaceAll('|', '\\|');

function defaultOf(variable: Variable): string {
  if (variable.fallback !== undefined) {
    const number = (n: number) => n.toLocaleString('en-US').replaceAll(',', ' ');
    return `\`${variable.fallback}\` (${number(variable.min!)} to ${number(variable.max!)})`;
  }
  return variable.default ?? '—';
}

/** The configuration reference, as Markdown. */
export function configurationReference(): string {
  const lines = [
    '<!-- Printed from server/src/config.ts by `pnpm generate`: edit the variables there, not this page. -->',
    '',
    '# Configuration',
    '',
    'Keygate reads its configuration from environment variables, once, at start-up. A value it',
    'cannot use (a number out of range, a malformed URL, CIDR or origin) stops start-up with one',
    'line naming the variable and what it accepts; nothing starts half-configured. Whole numbers',
    'show their accepted range beside the default.',
    '',
    'Without `KEYGATE_JWT_SECRET` or `KEYGATE_JWKS_URL`, Keygate is in development mode: tokens are',
    'signed with a random secret created in the data directory (mode 0600), never a fixed one, and',
    '`NODE_ENV=production` refuses to start that way.',
  ];
  for (const section of sections) {
    lines.push('', `## ${section}`, '', '| Variable | Default | Meaning |', '| --- | --- | --- |');
    for (const [name, variable] of Object.entries(variables) as [string, Variable][]) {
      if (variable.section !== section) continue;
      lines.push(`| \`${name}\` | ${cell(defaultOf(variable))} | ${cell(variable.meaning)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}
