// How application names compare: case-insensitively, after Unicode
// normalisation, ignoring surrounding white space ("Staging" = " staging ").
export function normalizeName(name: string): string {
  return name.normalize('NFKC').trim().toLocaleLowerCase('en-US');
}
