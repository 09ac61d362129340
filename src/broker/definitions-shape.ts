// The shape of a definitions document, checked before anything is imported: the import applies
// lists one object at a time, so a wrong type found halfway would leave half a file applied (and
// a crash in place of RabbitMQ's 400). Fields a list's objects need, and the types of those they may have.
type FieldType = 'string' | 'boolean' | 'number' | 'object' | 'tags' | 'any';

interface ListShape {
  required: Record<string, FieldType>;
  optional: Record<string, FieldType>;
}

const ARGS = { arguments: 'object' } as const;
const SHAPES: Record<string, ListShape> = {
  users: { required: { name: 'string' }, optional: { password: 'string', password_hash: 'string', hashing_algorithm: 'string', tags: 'tags', limits: 'any' } },
  vhosts: { required: { name: 'string' }, optional: { description: 'string', tags: 'tags', default_queue_type: 'string', metadata: 'object', limits: 'any' } },
  permissions: { required: { user: 'string', vhost: 'string', configure: 'string', write: 'string', read: 'string' }, optional: {} },
  topic_permissions: { required: { user: 'string', vhost: 'string', exchange: 'string', write: 'string', read: 'string' }, optional: {} },
  parameters: { required: { component: 'string', name: 'string', value: 'any' }, optional: { vhost: 'string' } },
  global_parameters: { required: { name: 'string', value: 'any' }, optional: {} },
  policies: { required: { name: 'string', pattern: 'string', definition: 'object' }, optional: { vhost: 'string', 'apply-to': 'string', priority: 'number' } },
  exchanges: { required: { name: 'string', type: 'string' }, optional: { vhost: 'string', durable: 'boolean', auto_delete: 'boolean', internal: 'boolean', ...ARGS } },
  queues: { required: { name: 'string' }, optional: { vhost: 'string', durable: 'boolean', auto_delete: 'boolean', type: 'string', ...ARGS } },
  bindings: {
    required: { source: 'string', destination: 'string', destination_type: 'string' },
    optional: { vhost: 'string', routing_key: 'string', ...ARGS },
  },
};

function typeOk(v: unknown, t: FieldType): boolean {
  switch (t) {
    case 'any': return true;
    case 'object': return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'tags': return typeof v === 'string' || v === null || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    default: return typeof v === t;
  }
}

/** The first thing wrong with a definitions document's shape, or null. */
export function definitionsShapeError(defs: Record<string, unknown>): string | null {
  for (const [list, shape] of Object.entries(SHAPES)) {
    const items = defs[list];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) return `${list} must be a list`;
    for (let i = 0; i < items.length; i++) {
      const o = items[i] as Record<string, unknown>;
      if (o === null || typeof o !== 'object' || Array.isArray(o)) return `${list}[${i}] must be an object`;
      for (const [k, t] of Object.entries(shape.required)) {
        if (o[k] === undefined) return `${list}[${i}]: ${k} is missing`;
        if (!typeOk(o[k], t)) return `${list}[${i}]: ${k} must be of type ${t}`;
      }
      for (const [k, t] of Object.entries(shape.optional)) {
        if (o[k] !== undefined && o[k] !== null && !typeOk(o[k], t)) return `${list}[${i}]: ${k} must be of type ${t}`;
      }
    }
  }
  return null;
}
