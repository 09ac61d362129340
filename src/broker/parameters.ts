// Runtime parameters (per vhost, by component) and global parameters, as RabbitMQ keeps them for
// its plugins (federation upstreams, shovels) and itself (cluster_name). Warren stores them
// durably and round-trips them through definitions; it runs no federation or shovel, so the
// values of those components have no effect here (the management API says so in a warning log).

export interface RuntimeParameter {
  component: string;
  vhost: string;
  name: string;
  value: unknown;
}

/**
 * Components RabbitMQ's bundled plugins register. RabbitMQ refuses a parameter of a component
 * no enabled plugin registered ("component X not found"); Warren accepts these so definitions
 * from a RabbitMQ with those plugins import, and refuses the rest the same way.
 */
export const KNOWN_COMPONENTS: ReadonlySet<string> = new Set([
  'federation-upstream', 'federation-upstream-set', 'shovel', 'mqtt-port-to-vhost-mapping',
]);

const key = (component: string, vhost: string, name: string) => `${component}\u0000${vhost}\u0000${name}`;

export class ParameterStore {
  private readonly vhostParams = new Map<string, RuntimeParameter>();
  readonly global = new Map<string, unknown>();

  list(): RuntimeParameter[] {
    return [...this.vhostParams.values()];
  }

  get(component: string, vhost: string, name: string): RuntimeParameter | undefined {
    return this.vhostParams.get(key(component, vhost, name));
  }

  /** Sets a parameter; returns whether it is new. */
  set(p: RuntimeParameter): boolean {
    const k = key(p.component, p.vhost, p.name);
    const existed = this.vhostParams.has(k);
    this.vhostParams.set(k, { component: p.component, vhost: p.vhost, name: p.name, value: p.value });
    return !existed;
  }

  delete(component: string, vhost: string, name: string): boolean {
    return this.vhostParams.delete(key(component, vhost, name));
  }

  /** Drops every parameter of a deleted vhost. */
  clearVhost(vhost: string): void {
    for (const [k, p] of this.vhostParams) if (p.vhost === vhost) this.vhostParams.delete(k);
  }
}
