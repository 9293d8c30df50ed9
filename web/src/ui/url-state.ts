// A screen's filters and page kept in its address (?action=…&after=…), so that a reload, a
// bookmark or a shared link shows the same list. Changing a filter goes back to the first page.
import { useEffect, useState } from 'react';
import { useLocation, useSearch } from 'wouter';
import { PAGE_SIZE, type PageCursor, pageVariables } from './pager.tsx';

const PAGE_PARAMS = ['after', 'before'];

/** The address's parameters, and a setter that replaces some of them (empty removes one). */
export function useUrlParams(): [URLSearchParams, (changes: Record<string, string | null>) => void] {
  const search = useSearch();
  const [location, navigate] = useLocation();
  const params = new URLSearchParams(search);
  const set = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(window.location.search);
    for (const [name, value] of Object.entries(changes)) {
      if (value === null || value === '') next.delete(name);
      else next.set(name, value);
    }
    // Another filter is another list: its first page.
    if (Object.keys(changes).some((name) => !PAGE_PARAMS.includes(name))) {
      for (const name of PAGE_PARAMS) next.delete(name);
    }
    const query = next.toString();
    navigate(`${location}${query ? `?${query}` : ''}`, { replace: true });
  };
  return [params, set];
}

/** Cursor pages whose cursor is in the address. */
export function useUrlPages(size = PAGE_SIZE) {
  const [params, set] = useUrlParams();
  const after = params.get('after');
  const before = params.get('before');
  const cursor: PageCursor = after ? { after } : before ? { before } : null;
  return {
    variables: pageVariables(cursor, size),
    setCursor: (next: PageCursor) =>
      set(
        next === null
          ? { after: null, before: null }
          : 'after' in next
            ? { after: next.after, before: null }
            : { before: next.before, after: null },
      ),
  };
}

/**
 * A search box kept in the address under `name`: what is typed shows at once, and reaches the
 * address (and so the query) once typing pauses.
 */
export function useUrlSearch(name: string, delayMs = 250) {
  const [params, set] = useUrlParams();
  const value = params.get(name) ?? '';
  const [input, setInput] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => {
      if (input.trim() !== value) set({ [name]: input.trim() || null });
    }, delayMs);
    return () => clearTimeout(timer);
  }, [input, value, delayMs]);
  return { input, setInput, value };
}
