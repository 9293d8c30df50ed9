// Lists that change without the user (last-used times, deliveries) are fetched again when the
// tab comes back into view and every so often while it is visible; searches wait for a pause.
import { useEffect, useState } from 'react';

export function useRefresh(refetch: (options: { requestPolicy: 'network-only' }) => void, everyMs = 15_000) {
  useEffect(() => {
    const again = () => {
      if (document.visibilityState === 'visible') refetch({ requestPolicy: 'network-only' });
    };
    const timer = setInterval(again, everyMs);
    document.addEventListener('visibilitychange', again);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', again);
    };
  }, [refetch, everyMs]);
}

/** A search box's text, and the same text once typing pauses (what is sent to the server). */
export function useDebounced(delayMs = 250) {
  const [input, setInput] = useState('');
  const [value, setValue] = useState('');
  useEffect(() => {
    const timer = setTimeout(() => setValue(input.trim()), delayMs);
    return () => clearTimeout(timer);
  }, [input, delayMs]);
  return { input, setInput, value };
}
