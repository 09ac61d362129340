// Who is logged in and which vhost the lists are narrowed to, shared by every page.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Me } from './api';

export interface Session {
  me: Me;
  vhosts: string[];
  /** '' for all vhosts. */
  vhost: string;
  setVhost: (v: string) => void;
  has: (tag: 'administrator' | 'monitoring' | 'policymaker' | 'management') => boolean;
}

export const SessionContext = createContext<Session>(null as unknown as Session);
export function useSession(): Session { return useContext(SessionContext); }

const IMPLIES: Record<string, string[]> = {
  administrator: ['administrator', 'monitoring', 'policymaker', 'management'],
  monitoring: ['monitoring', 'management'],
  policymaker: ['policymaker', 'management'],
  management: ['management'],
};
export function tagSet(tags: string[] | string): Set<string> {
  const list = Array.isArray(tags) ? tags : tags.split(',').map((t) => t.trim());
  return new Set(list.flatMap((t) => IMPLIES[t] ?? []));
}
