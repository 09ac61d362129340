// Hash routes (#/queues/%2F/orders): no server-side routing needed, links work in new tabs.
import { useEffect, useState } from 'preact/hooks';

export function currentPath(): string[] {
  const h = location.hash.replace(/^#\/?/, '');
  const [path] = h.split('?');
  return path === '' ? [] : path.split('/').map((p) => decodeURIComponent(p));
}

export function href(...parts: string[]): string {
  return '#/' + parts.map((p) => encodeURIComponent(p)).join('/');
}

export function go(...parts: string[]): void { location.hash = href(...parts); }

export function useRoute(): string[] {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const on = () => setPath(currentPath());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return path;
}
