// Queues: the list (sorted, filtered and paged by the server, so it stays fast with 100k queues)
// and the form to add one, with helpers for the common x-arguments.
import { useState } from 'preact/hooks';
import { api, enc } from '../api';
import { ArgsEditor, argsToObject, Field, Section, useAction, type ArgRow, type Column } from '../components';
import { ServerList } from '../list';
import { num, rate } from '../format';
import { href } from '../router';
import { useSession } from '../session';
import { statRate, type MessageStats } from '../stats';

export interface Queue {
  name: string; vhost: string; type?: string; durable: boolean; auto_delete: boolean; exclusive?: boolean;
  arguments?: Record<string, unknown>; state?: string; policy?: string | null; operator_policy?: string | null;
  messages?: number; messages_ready?: number; messages_unacknowledged?: number; consumers?: number;
  message_stats?: MessageStats; message_bytes?: number; memory?: number;
}

const COLUMNS = 'name,vhost,type,durable,auto_delete,exclusive,arguments,state,policy,messages,messages_ready,messages_unacknowledged,consumers,message_stats.publish_details,message_stats.deliver_get_details,message_stats.ack_details';

export function Features({ o }: { o: { durable?: boolean; auto_delete?: boolean; exclusive?: boolean; internal?: boolean; arguments?: Record<string, unknown>; policy?: string | null } }) {
  return (
    <span class="chips">
      {o.durable && <abbr class="badge" title="durable">D</abbr>}
      {o.auto_delete && <abbr class="badge" title="auto-delete">AD</abbr>}
      {o.exclusive && <abbr class="badge" title="exclusive">Excl</abbr>}
      {o.internal && <abbr class="badge" title="internal">I</abbr>}
      {Object.keys(o.arguments ?? {}).length > 0 && <abbr class="badge" title={Object.entries(o.arguments ?? {}).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n')}>Args</abbr>}
      {o.policy && <span class="badge" title="policy">{o.policy}</span>}
    </span>
  );
}

export function QueuesPage() {
  const s = useSession();
  const cols: Column<Queue>[] = [
    ...(s.vhost ? [] : [{ key: 'vhost', label: 'Vhost', sort: 'vhost', cell: (q: Queue) => q.vhost }]),
    { key: 'name', label: 'Name', sort: 'name', cell: (q) => <a href={href('queues', q.vhost, q.name)}>{q.name === '' ? '(unnamed)' : q.name}</a> },
    { key: 'type', label: 'Type', sort: 'type', cell: (q) => q.type ?? 'classic' },
    { key: 'features', label: 'Features', cell: (q) => <Features o={q} /> },
    { key: 'state', label: 'State', sort: 'state', cell: (q) => <span class={q.state === 'running' || q.state === undefined ? undefined : 'bad'}>{q.state ?? 'running'}</span> },
    { key: 'ready', label: 'Ready', sort: 'messages_ready', num: true, cell: (q) => num(q.messages_ready) },
    { key: 'unacked', label: 'Unacked', sort: 'messages_unacknowledged', num: true, cell: (q) => num(q.messages_unacknowledged) },
    { key: 'total', label: 'Total', sort: 'messages', num: true, cell: (q) => num(q.messages) },
    { key: 'in', label: 'Incoming', sort: 'message_stats.publish_details.rate', num: true, cell: (q) => rate(statRate(q.message_stats, 'publish')) },
    { key: 'out', label: 'Deliver / get', sort: 'message_stats.deliver_get_details.rate', num: true, cell: (q) => rate(statRate(q.message_stats, 'deliver_get')) },
    { key: 'ack', label: 'Ack', sort: 'message_stats.ack_details.rate', num: true, cell: (q) => rate(statRate(q.message_stats, 'ack')) },
    { key: 'consumers', label: 'Consumers', sort: 'consumers', num: true, cell: (q) => num(q.consumers) },
  ];
  return (
    <>
      <div class="page-head"><h1>Queues</h1>{s.vhost && <span class="muted">in vhost {s.vhost}</span>}</div>
      <ServerList path="/queues" what="queues" cols={cols} rowKey={(q) => `${q.vhost}\u0000${q.name}`} columns={COLUMNS} none="No queues yet. Add one below, or declare one from a client." />
      {s.vhosts.length > 0 && <AddQueue />}
    </>
  );
}

/** The x-arguments users most often need, with their types, as one-click helpers. */
const QUEUE_ARGS: [string, ArgRow['type'], string][] = [
  ['x-message-ttl', 'number', 'Message TTL (ms)'],
  ['x-expires', 'number', 'Auto expire (ms)'],
  ['x-max-length', 'number', 'Max length'],
  ['x-max-length-bytes', 'number', 'Max length bytes'],
  ['x-overflow', 'string', 'Overflow (drop-head, reject-publish, reject-publish-dlx)'],
  ['x-dead-letter-exchange', 'string', 'Dead letter exchange'],
  ['x-dead-letter-routing-key', 'string', 'Dead letter routing key'],
  ['x-single-active-consumer', 'boolean', 'Single active consumer'],
  ['x-max-priority', 'number', 'Max priority'],
  ['x-delivery-limit', 'number', 'Delivery limit'],
  ['x-delayed-retry-type', 'string', 'Delayed retry: all, failed or returned'],
  ['x-delayed-retry-min', 'number', 'Delayed retry: first delay (ms)'],
  ['x-delayed-retry-max', 'number', 'Delayed retry: longest delay (ms)'],
  ['x-delayed-retry-multiplier', 'number', 'Delayed retry: multiplier'],
];

export function ArgHelpers({ helpers, rows, setRows }: { helpers: [string, ArgRow['type'], string][]; rows: ArgRow[]; setRows: (r: ArgRow[]) => void }) {
  return (
    <div class="helpers" aria-label="Add a common argument">
      {helpers.map(([k, type, title]) => (
        <button type="button" key={k} title={title} onClick={() => { if (!rows.some((r) => r.key === k)) setRows([...rows.filter((r) => r.key !== ''), { key: k, value: type === 'boolean' ? 'true' : '', type }]); }}>{k.replace(/^x-/, '')}</button>
      ))}
    </div>
  );
}

function AddQueue() {
  const s = useSession();
  const [vhost, setVhost] = useState(s.vhost || s.vhosts[0] || '/');
  const [name, setName] = useState('');
  const [type, setType] = useState('classic');
  const [durable, setDurable] = useState(true);
  const [autoDelete, setAutoDelete] = useState(false);
  const [args, setArgs] = useState<ArgRow[]>([]);
  const [run, note] = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await run(async () => {
      if (name.trim() === '') throw new Error('Give the queue a name.');
      const a = argsToObject(args);
      if (type !== 'classic') a['x-queue-type'] = type;
      await api('PUT', `/queues/${enc(vhost)}/${enc(name)}`, { durable, auto_delete: autoDelete, arguments: a });
    }, `Queue ${name} added.`);
    if (ok) { setName(''); setArgs([]); }
  };
  return (
    <Section title="Add a queue" open={false} id="add-queue">
      <form class="stack" onSubmit={submit}>
        <div class="row">
          <Field label="Vhost"><select value={vhost} onChange={(e) => setVhost(e.currentTarget.value)}>{s.vhosts.map((v) => <option key={v}>{v}</option>)}</select></Field>
          <Field label="Type"><select value={type} onChange={(e) => setType(e.currentTarget.value)}><option value="classic">Classic</option><option value="quorum">Quorum</option><option value="stream">Stream</option></select></Field>
          <Field label="Name"><input value={name} onInput={(e) => setName(e.currentTarget.value)} required /></Field>
        </div>
        <div class="row">
          <label class="check"><input type="checkbox" checked={durable} onChange={(e) => setDurable(e.currentTarget.checked)} /> Durable</label>
          <label class="check"><input type="checkbox" checked={autoDelete} onChange={(e) => setAutoDelete(e.currentTarget.checked)} /> Auto delete</label>
        </div>
        <ArgsEditor label="Arguments" rows={args} onChange={setArgs} />
        <ArgHelpers helpers={QUEUE_ARGS} rows={args} setRows={setArgs} />
        <div><button class="primary" type="submit">Add queue</button></div>
        {note}
      </form>
    </Section>
  );
}
