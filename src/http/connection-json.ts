// Connections, channels and consumers as the management API shows them, in RabbitMQ's names.
import type { Consumer } from '../broker/consumer.js';
import { Channel } from '../server/channel.js';
import type { Connection } from '../server/connection.js';
import { plainAddress } from '../server/listen.js';
import { distinguishedName } from '../server/tls.js';
import { TLSSocket } from 'node:tls';
import type { ManagementContext } from './context.js';
import { idleSince, tableToJson } from './json-values.js';
import type { BuildOptions } from './object-json.js';
import { withDetails } from './rates.js';
import { CONNECTION_STATS, counterValue, MESSAGE_STATS } from './stats-sampler.js';

type Json = Record<string, unknown>;

const names = new WeakMap<Connection, string>();

/** "peer:port -> local:port", fixed at first use (the socket forgets its ports once closed). */
export function connectionName(c: Connection): string {
  let n = names.get(c);
  if (n === undefined) {
    n = `${c.remote} -> ${plainAddress(c.socket.localAddress)}:${c.socket.localPort}`;
    names.set(c, n);
  }
  return n;
}

function peer(c: Connection): { host: string; port: number } {
  const i = c.remote.lastIndexOf(':');
  return { host: c.remote.slice(0, i), port: Number(c.remote.slice(i + 1)) };
}

export const channelName = (ch: Channel) => `${connectionName(ch.conn)} (${ch.id})`;

/** RabbitMQ's ssl_* and peer_cert_* fields of a TLS connection (cipher names are OpenSSL's, not Erlang's). */
function tlsJson(socket: TLSSocket): Json {
  // Null once the socket is gone (a connection closing while listed).
  const cipher = socket.getCipher() as ReturnType<TLSSocket['getCipher']> | null;
  const out: Json = {
    ssl: true,
    ssl_protocol: (socket.getProtocol() ?? '').toLowerCase(),
    ssl_cipher: cipher?.name ?? '',
    ssl_hash: '',
    ssl_key_exchange: '',
  };
  const cert = socket.getPeerX509Certificate();
  if (cert !== undefined) {
    const iso = (d: string) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
    out.peer_cert_subject = distinguishedName(cert.subject);
    out.peer_cert_issuer = distinguishedName(cert.issuer);
    out.peer_cert_validity = `${iso(cert.validFrom)} - ${iso(cert.validTo)}`;
  }
  return out;
}

export function connectionJson(c: Connection, o: BuildOptions): Json {
  const p = peer(c);
  const out: Json = {
    auth_mechanism: c.authMechanism,
    channel_max: c.channelMax,
    channels: c.channels.size,
    client_properties: tableToJson(c.clientProperties),
    connected_at: c.connectedAt,
    frame_max: c.frameMax,
    host: plainAddress(c.socket.localAddress),
    name: connectionName(c),
    node: o.ctx.node,
    peer_cert_issuer: '',
    peer_cert_subject: '',
    peer_cert_validity: '',
    peer_host: p.host,
    peer_port: p.port,
    port: c.socket.localPort,
    protocol: 'AMQP 0-9-1',
    ssl: false,
    ssl_cipher: '',
    ssl_hash: '',
    ssl_key_exchange: '',
    ssl_protocol: '',
    state: c.blockedState,
    timeout: c.heartbeat,
    type: 'network',
    user: c.userName,
    user_who_performed_action: c.userName,
    vhost: c.vhost?.name ?? '',
  };
  if (c.socket instanceof TLSSocket) Object.assign(out, tlsJson(c.socket));
  const provided = c.clientProperties.connection_name;
  if (typeof provided === 'string') out.user_provided_name = provided;
  if (o.stats) {
    withDetails(out, CONNECTION_STATS, [c.recvOct, c.sendOct], o.sampler.connections.get(c), o.sampler.clock, o.history.dataRates);
  } else {
    out.recv_oct = c.recvOct;
    out.send_oct = c.sendOct;
  }
  return out;
}

export function channelJson(ch: Channel, o: BuildOptions): Json {
  const c = ch.conn;
  const p = peer(c);
  const track = o.sampler.channels.get(ch);
  const tx = ch.tx;
  const out: Json = {
    acks_uncommitted: tx === null ? 0 : tx.acks.length + tx.rejects.length,
    confirm: ch.confirms !== null,
    connection_details: { name: connectionName(c), peer_host: p.host, peer_port: p.port },
    consumer_count: ch.consumers.size,
    global_prefetch_count: ch.globalPrefetchCount,
    messages_unacknowledged: ch.unacked.size,
    messages_uncommitted: tx === null ? 0 : tx.publishes.length,
    messages_unconfirmed: ch.confirms?.unconfirmed ?? 0,
    name: channelName(ch),
    node: o.ctx.node,
    number: ch.id,
    prefetch_count: ch.prefetchCount,
    state: ch.closing ? 'closing' : !ch.flowing || c.blockedState === 'flow' ? 'flow' : 'running',
    transactional: tx !== null,
    user: c.userName,
    user_who_performed_action: c.userName,
    vhost: c.vhost?.name ?? '',
  };
  // Not sampled yet: a channel opened since the last tick has been idle since about now.
  if (ch.consumers.size === 0) out.idle_since = idleSince(track?.changedAt ?? Date.now());
  if (o.stats) {
    const stats: Json = {};
    const values = MESSAGE_STATS.map((_, i) => counterValue(ch.stats, i));
    withDetails(stats, MESSAGE_STATS, values, track, o.sampler.clock, o.history.msgRates);
    out.message_stats = stats;
  }
  return out;
}

/** The channel a consumer belongs to: its delivery sink, for consumers made by a channel. */
export function channelOf(c: Consumer): Channel | undefined {
  return c.sink instanceof Channel ? c.sink : undefined;
}

export function consumerJson(ctx: ManagementContext, c: Consumer, ch: Channel): Json {
  const conn = ch.conn;
  const p = peer(conn);
  const q = c.queue;
  // With single active consumer only the first one receives; the others wait.
  const active = !q.singleActive || q.consumers[0] === c;
  return {
    arguments: tableToJson(c.args),
    ack_required: !c.noAck,
    active,
    activity_status: active ? 'up' : 'waiting',
    channel_details: {
      connection_name: connectionName(conn), name: channelName(ch), node: ctx.node, number: ch.id,
      peer_host: p.host, peer_port: p.port, user: conn.userName,
    },
    // The effective ack timeout of its deliveries, ms (0: none).
    consumer_timeout: Math.max(0, ch.timeoutFor(c, q)),
    consumer_tag: c.tag,
    exclusive: c.exclusive,
    prefetch_count: c.prefetch,
    queue: { name: q.name, vhost: q.vhost },
  };
}
