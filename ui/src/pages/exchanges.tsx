// Exchanges: the list (server-side sort, filter, paging) and the form to add one.
import { useState } from 'preact/hooks';
import { api, enc } from '../api';
import { ArgsEditor, argsToObject, Field, Section, useAction, type ArgRow, type Column } from '../components';
import { ServerList } from '../list';
import { num, rate } from '../format';
import { href } from '../router';
import { useSession } from '../session';
import { statRate, type MessageStats } from '../stats';
import { ArgHelpers, Features } from './queues';

export interface Exchange {
  name: string; vhost: string; type: string; durable: boolean; auto_delete: boolean; internal: boolean;
  arguments?: Record<string, unknown>; policy?: string | null; message_stats?: MessageStats;
  messages_delayed?: number; next_due_at?: number | null;
}

export function exchangeLabel(name: string): string { return name === '' ? '(AMQP default)' : name; }

export function ExchangesPage() {
  const s = useSession();
  const cols: Column<Exchange>[] = [
    ...(s.vhost ? [] : [{ key: 'vhost', label: 'Vhost', sort: 'vhost', cell: (x: Exchange) => x.vhost }]),
    { key: 'name', label: 'Name', sort: 'name', cell: (x) => <a href={href('exchanges', x.vhost, x.name === '' ? 'amq.default' : x.name)}>{exchangeLabel(x.name)}</a> },
    { key: 'type', label: 'Type', sort: 'type', cell: (x) => x.type },
    { key: 'features', label: 'Features', cell: (x) => <Features o={x} /> },
    { key: 'in', label: 'Rate in', sort: 'message_stats.publish_in_details.rate', num: true, cell: (x) => rate(statRate(x.message_stats, 'publish_in')) },
    { key: 'out', label: 'Rate out', sort: 'message_stats.publish_out_details.rate', num: true, cell: (x) => rate(statRate(x.message_stats, 'publish_out')) },
    { key: 'delayed', label: 'Delayed', num: true, cell: (x) => (x.type === 'x-delayed-message' ? num(x.messages_delayed ?? 0) : '') },
  ];
  return (
    <>
      <div class="page-head"><h1>Exchanges</h1>{s.vhost && <span class="muted">in vhost {s.vhost}</span>}</div>
      <ServerList path="/exchanges" what="exchanges" cols={cols} rowKey={(x) => `${x.vhost}\u0000${x.name}`} none="No exchanges here." />
      {s.vhosts.length > 0 && <AddExchange />}
    </>
  );
}

const EXCHANGE_ARGS: [string, ArgRow['type'], string][] = [
  ['alternate-exchange', 'string', 'Alternate exchange for unroutable messages'],
  ['x-delayed-type', 'string', 'Routing of a delayed exchange: direct, fanout, topic or headers'],
];

function AddExchange() {
  const s = useSession();
  const [vhost, setVhost] = useState(s.vhost || s.vhosts[0] || '/');
  const [name, setName] = useState('');
  const [type, setType] = useState('direct');
  const [durable, setDurable] = useState(true);
  const [autoDelete, setAutoDelete] = useState(false);
  const [internal, setInternal] = useState(false);
  const [args, setArgs] = useState<ArgRow[]>([]);
  const [run, note] = useAction();
  const changeType = (t: string) => {
    setType(t);
    if (t === 'x-delayed-message' && !args.some((a) => a.key === 'x-delayed-type')) setArgs([...args.filter((a) => a.key !== ''), { key: 'x-delayed-type', value: 'direct', type: 'string' }]);
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await run(async () => {
      if (name.trim() === '') throw new Error('Give the exchange a name.');
      await api('PUT', `/exchanges/${enc(vhost)}/${enc(name)}`, { type, durable, auto_delete: autoDelete, internal, arguments: argsToObject(args) });
    }, `Exchange ${name} added.`);
    if (ok) { setName(''); setArgs([]); }
  };
  return (
    <Section title="Add an exchange" open={false} id="add-exchange">
      <form class="stack" onSubmit={submit}>
        <div class="row">
          <Field label="Vhost"><select value={vhost} onChange={(e) => setVhost(e.currentTarget.value)}>{s.vhosts.map((v) => <option key={v}>{v}</option>)}</select></Field>
          <Field label="Name"><input value={name} onInput={(e) => setName(e.currentTarget.value)} required /></Field>
          <Field label="Type"><select value={type} onChange={(e) => changeType(e.currentTarget.value)}>{['direct', 'fanout', 'topic', 'headers', 'x-delayed-message'].map((t) => <option key={t}>{t}</option>)}</select></Field>
        </div>
        <div class="row">
          <label class="check"><input type="checkbox" checked={durable} onChange={(e) => setDurable(e.currentTarget.checked)} /> Durable</label>
          <label class="check"><input type="checkbox" checked={autoDelete} onChange={(e) => setAutoDelete(e.currentTarget.checked)} /> Auto delete</label>
          <label class="check"><input type="checkbox" checked={internal} onChange={(e) => setInternal(e.currentTarget.checked)} /> Internal</label>
        </div>
        <ArgsEditor label="Arguments" rows={args} onChange={setArgs} />
        <ArgHelpers helpers={EXCHANGE_ARGS} rows={args} setRows={setArgs} />
        <div><button class="primary" type="submit">Add exchange</button></div>
        {note}
      </form>
    </Section>
  );
}
