// Lists that change without the user (last-used times, deliveries) are fetched again when the
// tab comes back into view and every so often while it is visible.
import { useEffect } from 'react';

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
