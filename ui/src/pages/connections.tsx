// Connections and channels: lists with state, rates, client properties, prefetch, unacked and
// confirm mode; a connection's page with its channels and close-with-reason.
import { useState } from 'preact/hooks';
import { api, enc } from '../api';
import { Args, Empty, ErrorNote, Facts, Field, Loading, Section, Table, useAction, type Column } from '../components';
import { ServerList } from '../list';
import { bytes, clock, fromNow, num, rate } from '../format';
import { usePoll } from '../poll';
import { go, href } from '../router';
import { useSession } from '../session';
import { statRate, type MessageStats } from '../stats';

interface Connection {
  name: string; vhost: string; user: string; state?: string; protocol?: string; node?: string;
  peer_host?: string; peer_port?: number; host?: string; port?: number; ssl?: boolean; auth_mechanism?: string;
  channels?: number; channel_max?: number; frame_max?: number; timeout?: number; connected_at?: number;
  client_properties?: Record<string, unknown> & { product?: string; version?: string; platform?: string; connection_name?: string; capabilities?: Record<string, unknown> };
  recv_oct?: number; send_oct?: number; recv_oct_details?: { rate: number }; send_oct_details?: { rate: number };
}
interface Channel {
  name: string; number: number; vhost: string; user: string; state?: string;
  connection_details?: { name: string; peer_host?: string; peer_port?: number };
  prefetch_count?: number; global_prefetch_count?: number; messages_unacknowledged?: number; messages_unconfirmed?: number;
  confirm?: boolean; transactional?: boolean; consumer_count?: number; message_stats?: MessageStats;
}

function client(c: Connection): string {
  const p = c.client_properties ?? {};
  return [p.product, p.version].filter(Boolean).join(' ') || '–';
}

export function ConnectionsPage() {
  const s = useSession();
  const cols: Column<Connection>[] = [
    ...(s.vhost ? [] : [{ key: 'vhost', label: 'Vhost', sort: 'vhost', cell: (c: Connection) => c.vhost }]),
    { key: 'name', label: 'Name', sort: 'name', cell: (c) => <><a href={href('connections', c.name)}>{c.name}</a>{c.client_properties?.connection_name ? <div class="small muted">{String(c.client_properties.connection_name)}</div> : null}</> },
    { key: 'user', label: 'User', sort: 'user', cell: (c) => c.user },
    { key: 'state', label: 'State', sort: 'state', cell: (c) => <span class={c.state === 'blocked' || c.state === 'blocking' ? 'bad' : undefined}>{c.state ?? '–'}</span> },
    { key: 'client', label: 'Client', cell: client },
    { key: 'proto', label: 'Protocol', cell: (c) => `${c.protocol ?? 'AMQP 0-9-1'}${c.ssl ? ' TLS' : ''}` },
    { key: 'channels', label: 'Channels', sort: 'channels', num: true, cell: (c) => num(c.channels) },
    { key: 'from', label: 'From client', sort: 'recv_oct_details.rate', num: true, cell: (c) => `${bytes(c.recv_oct_details?.rate ?? 0)}/s` },
    { key: 'to', label: 'To client', sort: 'send_oct_details.rate', num: true, cell: (c) => `${bytes(c.send_oct_details?.rate ?? 0)}/s` },
  ];
  return (
    <>
      <div class="page-head"><h1>Connections</h1>{s.vhost && <span class="muted">in vhost {s.vhost}</span>}</div>
      <ServerList path="/connections" what="connections" cols={cols} rowKey={(c) => c.name} none="No client is connected. Connect one to the AMQP port (5672 by default) and it shows up here." />
    </>
  );
}

function channelCols(withConnection: boolean): Column<Channel>[] {
  return [
    { key: 'name', label: 'Channel', sort: 'name', cell: (c) => (withConnection && c.connection_details ? <a href={href('connections', c.connection_details.name)}>{c.name}</a> : c.name) },
    { key: 'user', label: 'User', sort: 'user', cell: (c) => c.user },
    { key: 'mode', label: 'Mode', cell: (c) => <span class="chips">{c.confirm && <abbr class="badge" title="publisher confirms">C</abbr>}{c.transactional && <abbr class="badge" title="transactional">T</abbr>}</span> },
    { key: 'state', label: 'State', sort: 'state', cell: (c) => c.state ?? '–' },
    { key: 'prefetch', label: 'Prefetch', num: true, cell: (c) => (c.prefetch_count ? num(c.prefetch_count) : c.global_prefetch_count ? `${num(c.global_prefetch_count)} (global)` : 'unlimited') },
    { key: 'consumers', label: 'Consumers', sort: 'consumer_count', num: true, cell: (c) => num(c.consumer_count) },
    { key: 'unacked', label: 'Unacked', sort: 'messages_unacknowledged', num: true, cell: (c) => num(c.messages_unacknowledged) },
    { key: 'unconfirmed', label: 'Unconfirmed', sort: 'messages_unconfirmed', num: true, cell: (c) => num(c.messages_unconfirmed) },
    { key: 'pub', label: 'Publish', sort: 'message_stats.publish_details.rate', num: true, cell: (c) => rate(statRate(c.message_stats, 'publish')) },
    { key: 'del', label: 'Deliver / get', sort: 'message_stats.deliver_get_details.rate', num: true, cell: (c) => rate(statRate(c.message_stats, 'deliver_get')) },
    { key: 'ack', label: 'Ack', sort: 'message_stats.ack_details.rate', num: true, cell: (c) => rate(statRate(c.message_stats, 'ack')) },
  ];
}

export function ChannelsPage() {
  const s = useSession();
  return (
    <>
      <div class="page-head"><h1>Channels</h1>{s.vhost && <span class="muted">in vhost {s.vhost}</span>}</div>
      <ServerList path="/channels" what="channels" cols={channelCols(true)} rowKey={(c) => c.name} none="No open channels." />
    </>
  );
}

export function ConnectionPage({ name }: { name: string }) {
  const path = `/connections/${enc(name)}`;
  const c = usePoll(() => api<Connection>('GET', path), [path]);
  const ch = usePoll(() => api<Channel[]>('GET', `${path}/channels`), [path]);
  const d = c.data;
  const { capabilities, ...props } = d?.client_properties ?? {};
  return (
    <>
      <div class="page-head"><h1>Connection {name}</h1><span class="crumbs"><a href={href('connections')}>Connections</a></span></div>
      <ErrorNote error={c.error} what="Could not load the connection (it may have closed)" />
      {!d && !c.error && <Loading />}
      {d && (
        <>
          <Facts items={[
            ['Vhost', d.vhost], ['User', d.user], ['State', d.state ?? '–'], ['Protocol', `${d.protocol ?? 'AMQP 0-9-1'}${d.ssl ? ' over TLS' : ''}`],
            ['Client address', `${d.peer_host}:${d.peer_port}`], ['Connected', d.connected_at ? <span title={clock(d.connected_at)}>{fromNow(d.connected_at)}</span> : '–'],
            ['Heartbeat', d.timeout ? `${d.timeout} s` : 'off'], ['Frame max', bytes(d.frame_max)], ['Channel max', num(d.channel_max)],
            ['Received', `${bytes(d.recv_oct)} (${bytes(d.recv_oct_details?.rate ?? 0)}/s)`], ['Sent', `${bytes(d.send_oct)} (${bytes(d.send_oct_details?.rate ?? 0)}/s)`],
            ['Auth mechanism', d.auth_mechanism ?? '–'],
          ]} />
          <Section title="Client properties" open={false}>
            <Args args={props} />
            {capabilities && <p class="small">Capabilities <Args args={capabilities as Record<string, unknown>} /></p>}
          </Section>
        </>
      )}
      <Section title="Channels">
        <ErrorNote error={ch.error} />
        {ch.data && (ch.data.length === 0 ? <Empty>This connection has no open channels.</Empty> : <Table rows={ch.data} cols={channelCols(false)} rowKey={(x) => x.name} caption="Channels" />)}
      </Section>
      {d && <CloseConnection path={path} />}
    </>
  );
}

function CloseConnection({ path }: { path: string }) {
  const [reason, setReason] = useState('Closed via management UI');
  const [run, note] = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    // RabbitMQ takes the reason from the X-Reason header; it reaches the client in connection.close.
    if (await run(async () => {
      await api('DELETE', path, undefined, { headers: { 'x-reason': reason } });
    })) go('connections');
  };
  return (
    <Section title="Close this connection" open={false}>
      <form class="row" onSubmit={submit}>
        <Field label="Reason (sent to the client)"><input value={reason} onInput={(e) => setReason(e.currentTarget.value)} style="min-width:18rem" /></Field>
        <button class="danger" type="submit">Force close</button>
      </form>
      {note}
    </Section>
  );
}
