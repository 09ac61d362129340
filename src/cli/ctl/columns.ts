// rabbitmqctl's column names for each kind of object, their defaults, and where each one is in
// the management API's JSON (mostly the same name; the rest mapped here). A column the API
// does not report prints empty rather than failing: Warren and RabbitMQ versions differ in
// which statistics they keep.
import { usageError } from './errors.js';
import type { Row } from './output.js';

type Json = Record<string, unknown>;
/** A dotted path into the API object, or a function of it. */
type Getter = string | ((o: Json) => unknown);

export interface ObjectKind {
  /** Plural noun for messages ("queues"). */
  what: string;
  /** Every column rabbitmqctl accepts, in its help order. */
  columns: string[];
  defaults: string[];
  /** Columns whose API field has another name. */
  fields?: Record<string, Getter>;
}

function pick(o: unknown, path: string): unknown {
  let v = o;
  for (const k of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Json)[k];
  }
  return v;
}

export const QUEUES: ObjectKind = {
  what: 'queues',
  columns: ['name', 'messages', 'messages_ready', 'messages_unacknowledged', 'consumers', 'durable', 'auto_delete',
    'exclusive', 'arguments', 'policy', 'state', 'type', 'memory', 'message_bytes', 'message_bytes_ready',
    'message_bytes_unacknowledged', 'message_bytes_ram', 'message_bytes_persistent', 'messages_persistent', 'messages_ram',
    'messages_ready_ram', 'messages_unacknowledged_ram', 'consumer_utilisation', 'consumer_capacity', 'exclusive_consumer_tag',
    'exclusive_consumer_pid', 'head_message_timestamp', 'disk_reads', 'disk_writes', 'owner_pid', 'pid', 'leader', 'members',
    'online', 'slave_pids', 'synchronised_slave_pids', 'vhost', 'messages_delayed'],
  defaults: ['name', 'messages'],
  fields: {
    owner_pid: 'owner_pid_details.name',
    exclusive_consumer_pid: 'exclusive_consumer_details.channel_details.name',
    pid: 'node',
    leader: 'node',
    members: (q) => (q.members ?? (q.node === undefined ? undefined : [q.node])),
    online: (q) => (q.online ?? (q.node === undefined ? undefined : [q.node])),
  },
};

export const EXCHANGES: ObjectKind = {
  what: 'exchanges',
  columns: ['name', 'type', 'durable', 'auto_delete', 'internal', 'arguments', 'policy', 'vhost', 'messages_delayed', 'next_due_at'],
  defaults: ['name', 'type'],
};

export const BINDINGS: ObjectKind = {
  what: 'bindings',
  columns: ['source_name', 'source_kind', 'destination_name', 'destination_kind', 'routing_key', 'arguments', 'properties_key', 'vhost'],
  defaults: ['source_name', 'source_kind', 'destination_name', 'destination_kind', 'routing_key', 'arguments'],
  fields: { source_name: 'source', source_kind: () => 'exchange', destination_name: 'destination', destination_kind: 'destination_type' },
};

export const CONNECTIONS: ObjectKind = {
  what: 'connections',
  columns: ['name', 'user', 'peer_host', 'peer_port', 'state', 'vhost', 'host', 'port', 'channels', 'protocol', 'auth_mechanism',
    'ssl', 'ssl_protocol', 'ssl_key_exchange', 'ssl_cipher', 'ssl_hash', 'peer_cert_subject', 'peer_cert_issuer', 'peer_cert_validity',
    'frame_max', 'channel_max', 'timeout', 'client_properties', 'connected_at', 'recv_oct', 'recv_cnt', 'send_oct', 'send_cnt',
    'send_pend', 'pid'],
  defaults: ['user', 'peer_host', 'peer_port', 'state'],
  fields: { pid: 'name' },
};

export const CHANNELS: ObjectKind = {
  what: 'channels',
  columns: ['pid', 'user', 'consumer_count', 'messages_unacknowledged', 'name', 'number', 'vhost', 'connection', 'confirm',
    'transactional', 'prefetch_count', 'global_prefetch_count', 'messages_unconfirmed', 'messages_uncommitted', 'acks_uncommitted'],
  defaults: ['pid', 'user', 'consumer_count', 'messages_unacknowledged'],
  fields: { pid: 'name', connection: 'connection_details.name' },
};

export const CONSUMERS: ObjectKind = {
  what: 'consumers',
  columns: ['queue_name', 'channel_pid', 'consumer_tag', 'ack_required', 'prefetch_count', 'active', 'activity_status', 'arguments'],
  defaults: ['queue_name', 'channel_pid', 'consumer_tag', 'ack_required', 'prefetch_count', 'active', 'activity_status', 'arguments'],
  fields: { queue_name: 'queue.name', channel_pid: 'channel_details.name' },
};

export const VHOSTS: ObjectKind = {
  what: 'vhosts',
  columns: ['name', 'description', 'tags', 'default_queue_type', 'tracing', 'cluster_state', 'messages', 'messages_ready', 'messages_unacknowledged'],
  defaults: ['name'],
};

export const USERS: ObjectKind = {
  what: 'users',
  columns: ['user', 'tags'],
  defaults: ['user', 'tags'],
  fields: { user: 'name' },
};

export const PERMISSIONS: ObjectKind = { what: 'permissions', columns: ['user', 'configure', 'write', 'read'], defaults: ['user', 'configure', 'write', 'read'] };
export const USER_PERMISSIONS: ObjectKind = { what: 'permissions', columns: ['vhost', 'configure', 'write', 'read'], defaults: ['vhost', 'configure', 'write', 'read'] };
export const USER_TOPIC_PERMISSIONS: ObjectKind = { what: 'topic permissions', columns: ['vhost', 'exchange', 'write', 'read'], defaults: ['vhost', 'exchange', 'write', 'read'] };
export const TOPIC_PERMISSIONS: ObjectKind = { what: 'topic permissions', columns: ['user', 'exchange', 'write', 'read'], defaults: ['user', 'exchange', 'write', 'read'] };

export const POLICIES: ObjectKind = {
  what: 'policies',
  columns: ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'],
  defaults: ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'],
};

export const VHOST_LIMITS: ObjectKind = { what: 'limits', columns: ['vhost', 'limits'], defaults: ['vhost', 'limits'], fields: { limits: 'value' } };
export const USER_LIMITS: ObjectKind = { what: 'limits', columns: ['user', 'limits'], defaults: ['user', 'limits'], fields: { limits: 'value' } };

export const DELAYED: ObjectKind = {
  what: 'delayed messages',
  columns: ['id', 'due', 'due_at', 'delay', 'routing_key', 'payload_bytes', 'payload', 'payload_encoding', 'properties', 'published_at'],
  defaults: ['id', 'due', 'delay', 'routing_key', 'payload_bytes'],
  fields: { due: (m) => (typeof m.due_at === 'number' ? new Date(m.due_at).toISOString() : undefined) },
};

/** The columns asked for (space- or comma-separated, as rabbitmqctl takes them), checked. */
export function chooseColumns(kind: ObjectKind, args: string[]): string[] {
  const asked = args.flatMap((a) => a.split(',')).map((a) => a.trim()).filter(Boolean);
  if (asked.length === 0) return kind.defaults;
  const bad = asked.filter((c) => !kind.columns.includes(c));
  if (bad.length > 0) {
    throw usageError(`invalid column${bad.length > 1 ? 's' : ''} for ${kind.what}: ${bad.join(', ')}. Valid columns: ${kind.columns.join(', ')}`);
  }
  return asked;
}

/** API objects turned into rows keyed by the chosen rabbitmqctl column names. */
export function toRows(kind: ObjectKind, columns: string[], objects: Json[]): Row[] {
  return objects.map((o) => {
    const row: Row = {};
    for (const c of columns) {
      const g = kind.fields?.[c] ?? c;
      row[c] = typeof g === 'function' ? g(o) : pick(o, g);
    }
    return row;
  });
}

/** The help text listing a kind's columns and defaults. */
export function columnsHelp(kind: ObjectKind): string {
  return `\nColumns (space- or comma-separated; default: ${kind.defaults.join(' ')}):\n  ${kind.columns.join(' ')}`;
}
