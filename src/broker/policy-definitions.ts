// Policies, operator policies and vhost limits in RabbitMQ's definitions format: policies in the
// `policies` list; operator policies and vhost limits as runtime `parameters` (components
// "operator_policy" and "vhost-limits", as RabbitMQ exports them).
import type { Broker } from './broker.js';
import { type PolicyJson, policyJson } from './policies.js';
import { parsePolicy, vhostLimitProblem } from './policy-validation.js';

export interface ParameterJson {
  vhost: string;
  component: string;
  name: string;
  value: unknown;
}

export interface PolicyDefinitions {
  policies?: PolicyJson[];
  parameters?: ParameterJson[];
  vhosts?: { name: string; limits?: unknown }[];
}

/** Applies the policies, operator policies and vhost limits of an import; throws on an invalid one. */
export function importPolicyDefinitions(broker: Broker, defs: PolicyDefinitions): void {
  const vhostOf = (name: string) => broker.vhost(name) ?? broker.addVhost(name);
  for (const p of defs.policies ?? []) {
    const v = vhostOf(p.vhost);
    broker.setPolicy(v, 'policy', p.name, parsePolicy(v.name, p.name, p as unknown as Record<string, unknown>, false));
  }
  const limits = (vhost: string, value: unknown) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
    for (const [k, n] of Object.entries(value)) {
      const problem = vhostLimitProblem(k, n);
      if (problem !== null) throw new Error(`vhost limits of '${vhost}': ${problem.trim()}`);
    }
    const v = vhostOf(vhost);
    broker.setVhostLimits(v, { ...(value as Record<string, number>) });
  };
  for (const v of defs.vhosts ?? []) if (v.limits !== undefined) limits(v.name, v.limits);
  for (const p of defs.parameters ?? []) {
    if (p.component === 'operator_policy') {
      const v = vhostOf(p.vhost);
      broker.setPolicy(v, 'operator_policy', p.name, parsePolicy(v.name, p.name, p.value as Record<string, unknown>, true));
    } else if (p.component === 'vhost-limits') {
      limits(p.vhost, p.value);
    }
  }
}

/** The `policies` and policy-related `parameters` of an export. */
export function exportPolicyDefinitions(broker: Broker): { policies: PolicyJson[]; parameters: ParameterJson[] } {
  const policies: PolicyJson[] = [];
  const parameters: ParameterJson[] = [];
  for (const v of broker.vhosts.values()) {
    for (const p of v.policies.values()) policies.push(policyJson(p));
    for (const p of v.operatorPolicies.values()) {
      const { pattern, definition, priority } = p;
      parameters.push({ vhost: v.name, component: 'operator_policy', name: p.name, value: { pattern, definition, priority, 'apply-to': p.applyTo } });
    }
    if (Object.keys(v.limits).length !== 0) parameters.push({ vhost: v.name, component: 'vhost-limits', name: 'limits', value: v.limits });
  }
  return { policies, parameters };
}
