// Policies, operator policies and vhost limits in the definitions store: written whenever a vhost's
// set changes, read back at boot before queues and exchanges are restored (so they are declared
// with their policies in effect).
import type { DefinitionRecord, DefinitionsStore, PolicyKind } from '../store/definitions-store.js';
import type { Broker } from './broker.js';
import { type Policy, policyJson } from './policies.js';
import { parsePolicy } from './policy-validation.js';

const key = (vhost: string, name: string) => `${vhost}\u0000${name}`;

/** Makes the stored policies, operator policies and limits of `vhost` equal to the broker's (none if it is gone). */
export function recordPolicies(store: DefinitionsStore, broker: Broker, vhost: string): void {
  const v = broker.vhost(vhost);
  const sync = (kind: PolicyKind, policies: Map<string, Policy> | undefined) => {
    const want = new Map<string, DefinitionRecord>();
    for (const p of policies?.values() ?? []) want.set(key(vhost, p.name), { ...policyJson(p) });
    const have = new Map<string, string>();
    for (const r of store.all(kind)) {
      if (r.vhost !== vhost) continue;
      const k = key(vhost, r.name as string);
      if (want.has(k)) have.set(k, JSON.stringify(r));
      else store.del(kind, k);
    }
    for (const [k, r] of want) if (have.get(k) !== JSON.stringify(r)) store.put(kind, k, r);
  };
  sync('policy', v?.policies);
  sync('operator_policy', v?.operatorPolicies);
  if (v === undefined || Object.keys(v.limits).length === 0) store.del('vhost_limits', vhost);
  else store.put('vhost_limits', vhost, { vhost, value: v.limits });
}

/** Boot: puts stored policies and limits back on their vhosts (before queues and exchanges exist). */
export function restorePolicies(broker: Broker, store: DefinitionsStore): void {
  for (const kind of ['policy', 'operator_policy'] as const) {
    for (const r of store.all(kind)) {
      const v = broker.vhost(r.vhost as string);
      if (v === undefined) continue;
      const p = parsePolicy(v.name, r.name as string, r, kind === 'operator_policy');
      (kind === 'policy' ? v.policies : v.operatorPolicies).set(p.name, p);
    }
  }
  for (const r of store.all('vhost_limits')) {
    const v = broker.vhost(r.vhost as string);
    if (v !== undefined) v.limits = { ...(r.value as Record<string, number>) };
  }
}
