// Polling that asks only for what is on screen and stops while the tab is hidden.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

const REFRESH_KEY = 'warren.refresh';
export const REFRESH_CHOICES = [2000, 5000, 10000, 30000, 0];
export function refreshMs(): number {
  const v = Number(localStorage.getItem(REFRESH_KEY) ?? 5000);
  return REFRESH_CHOICES.includes(v) ? v : 5000;
}
const listeners = new Set<() => void>();
export function setRefreshMs(ms: number): void {
  localStorage.setItem(REFRESH_KEY, String(ms));
  for (const l of listeners) l();
}

export interface Polled<T> { data: T | undefined; error: Error | undefined; loading: boolean; reload: () => void }

/** Calls `load` now, whenever `deps` change, every refresh interval while visible, and on reload(). */
export function usePoll<T>(load: () => Promise<T>, deps: unknown[], live = true): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => { setData(undefined); setLoading(true); }, deps);
  useEffect(() => {
    const mine = ++seq.current;
    loadRef.current().then(
      (d) => { if (mine === seq.current) { setData(d); setError(undefined); setLoading(false); } },
      (e: Error) => { if (mine === seq.current) { setError(e); setLoading(false); } },
    );
  }, [...deps, tick]);
  useEffect(() => {
    if (!live) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      const ms = refreshMs();
      if (ms > 0 && !document.hidden) timer = setTimeout(() => { reload(); arm(); }, ms);
    };
    const onVisible = () => { if (!document.hidden) reload(); arm(); };
    document.addEventListener('visibilitychange', onVisible);
    listeners.add(arm);
    arm();
    return () => { clearTimeout(timer); document.removeEventListener('visibilitychange', onVisible); listeners.delete(arm); };
  }, [...deps, live]);
  return { data, error, loading, reload };
}
