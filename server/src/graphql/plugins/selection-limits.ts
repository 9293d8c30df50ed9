// A bound on the work validation does. graphql-js's OverlappingFieldsCanBeMerged rule
// compares every pair of fields that share a response name in one selection set (inline
// fragments and fragment spreads included): 2,000 tokens of `id id id …` took 0.8 s to
// validate, all of it on the event loop. This walk is linear in the document and refuses,
// before validation, any selection set in which one response name occurs too often.
import { type DocumentNode, type FragmentDefinitionNode, Kind, type SelectionSetNode } from 'graphql';

/** The most times one response name may occur in one selection set, fragments flattened. */
export const MAX_REPEATS = 20;

/** Why the document is refused, or null. */
export function repeatedSelection(document: DocumentNode, maxRepeats = MAX_REPEATS): string | null {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const flattened = new Map<string, Map<string, number>>();
  const open = new Set<string>();
  const cap = maxRepeats + 1;

  /** Response names of a selection set and how often each occurs, through its fragments. */
  const countsOf = (set: SelectionSetNode): Map<string, number> => {
    const counts = new Map<string, number>();
    const add = (name: string, times: number) => counts.set(name, Math.min(cap, (counts.get(name) ?? 0) + times));
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) add(selection.alias?.value ?? selection.name.value, 1);
      else if (selection.kind === Kind.INLINE_FRAGMENT) {
        for (const [name, times] of countsOf(selection.selectionSet)) add(name, times);
      } else {
        for (const [name, times] of fragmentCounts(selection.name.value)) add(name, times);
      }
    }
    return counts;
  };
  const fragmentCounts = (name: string): Map<string, number> => {
    const known = flattened.get(name);
    if (known) return known;
    const fragment = fragments.get(name);
    // Unknown or cyclic spreads are validation's to report; they add nothing here.
    if (!fragment || open.has(name)) return new Map();
    open.add(name);
    const counts = countsOf(fragment.selectionSet);
    open.delete(name);
    flattened.set(name, counts);
    return counts;
  };

  let problem: string | null = null;
  const check = (set: SelectionSetNode): void => {
    for (const [name, times] of countsOf(set)) {
      if (times > maxRepeats) {
        problem = `"${name.slice(0, 64)}" is selected more than ${maxRepeats} times in one selection set`;
        return;
      }
    }
    for (const selection of set.selections) {
      if (problem !== null) return;
      if (selection.kind !== Kind.FRAGMENT_SPREAD && selection.selectionSet) check(selection.selectionSet);
    }
  };
  for (const definition of document.definitions) {
    if (problem !== null) break;
    if (definition.kind === Kind.OPERATION_DEFINITION || definition.kind === Kind.FRAGMENT_DEFINITION) {
      check(definition.selectionSet);
    }
  }
  return problem;
}
