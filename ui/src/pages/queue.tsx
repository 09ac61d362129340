// One queue: facts, live chart, consumers, bindings, get / peek / unacked / delayed retries,
// publish, purge, delete.
import { useState } from 'preact/hooks';
import { api, enc, qs, type Page } from '../api';
import { chartWindow, color, LiveChart, type Samples } from '../chart';
import { Args, ConfirmButton, Empty, ErrorNote, Facts, isGone, Field, Loading, Section, Table, useAction } from '../components';
import { bytes, num, rate } from '../format';
import { MessageView, PublishForm, type MessageItem } from '../messages';
import { usePoll } from '../poll';
import { go, href } from '../router';
import { historyQuery, historyRows, statRate } from '../stats';
import { BindingsTable, AddBinding, type Binding } from './bindings';
import { Features, type Queue } from './queues';

interface QueueDetail extends Queue {
  consumer_details?: { consumer_tag: string; ack_required: boolean; prefetch_count: number; exclusive: boolean; active?: boolean; channel_details?: { name: string; connection_name: string; peer_host?: string; peer_port?: number } }[];
  effective_policy_definition?: Record<string, unknown>; node?: string; idle_since?: string;
  messages_delayed?: number;
}

const SERIES = [{ label: 'Ready', color: color(0) }, { label: 'Unacked', color: color(2) }];
const RATE_SERIES = [{ label: 'Publish', color: color(0) }, { label: 'Deliver / get', color: color(1) }, { label: 'Ack', color: color(4) }];
const QUEUE_RATES = [{ keys: ['publish'] }, { keys: ['deliver_get'] }, { keys: ['ack'] }];

export function QueuePage({ vhost, name }: { vhost: string; name: string }) {
  const path = `/queues/${enc(vhost)}/${enc(name)}`;
  const [samples] = useState<{ q: Samples; r: Samples }>({ q: [], r: [] });
  const q = usePoll(async () => {
    // The first load asks for the broker's history of this queue, so the charts start filled.
    const seed = samples.q.length === 0;
    const d = await api<QueueDetail>('GET', path + (seed ? qs(historyQuery(chartWindow())) : ''));
    if (seed) {
      const h = historyRows(d.message_stats, d as unknown as Record<string, unknown>, ['messages_ready', 'messages_unacknowledged'], QUEUE_RATES);
      samples.q.push(...h.lengths);
      samples.r.push(...h.rates);
    }
    const t = Date.now() / 1000;
    for (const rows of [samples.q, samples.r]) while (rows.length && rows[rows.length - 1][0] >= t) rows.pop();
    samples.q.push([t, d.messages_ready ?? 0, d.messages_unacknowledged ?? 0]);
    samples.r.push([t, statRate(d.message_stats, 'publish'), statRate(d.message_stats, 'deliver_get'), statRate(d.message_stats, 'ack')]);
    for (const s of [samples.q, samples.r]) while (s.length > 900) s.shift();
    return d;
  }, [path]);
  const d = q.data;
  return (
    <>
      <div class="page-head">
        <h1>Queue {name}</h1>
        <span class="crumbs"><a href={href('queues')}>Queues</a> · vhost {vhost}</span>
      </div>
      <ErrorNote error={q.error} what={`Could not load queue ${name}`} />
      {isGone(q.error) ? null : <>
      {!d && !q.error && <Loading />}
      {d && (
        <>
          <Facts items={[
            ['Type', d.type ?? 'classic'], ['Features', <Features o={d} />], ['State', d.state ?? 'running'],
            ['Ready', num(d.messages_ready)], ['Unacked', num(d.messages_unacknowledged)], ['Total', num(d.messages)],
            ['Message bytes', bytes(d.message_bytes)], ['Consumers', num(d.consumers)],
            ['Incoming', rate(statRate(d.message_stats, 'publish'))], ['Deliver / get', rate(statRate(d.message_stats, 'deliver_get'))],
            ['Policy', d.policy ?? 'none'], ['Operator policy', d.operator_policy ?? 'none'],
            ['Effective policy definition', <Args args={d.effective_policy_definition} />], ['Arguments', <Args args={d.arguments} />],
          ]} />
          <div class="charts" style="margin-top:1rem">
            <LiveChart title="Queued messages" series={SERIES} samples={[...samples.q]} unit="" windowS={chartWindow()} />
            <LiveChart title="Message rates" series={RATE_SERIES} samples={[...samples.r]} unit="/s" windowS={chartWindow()} />
          </div>
          <Consumers d={d} onChange={q.reload} />
        </>
      )}
      <QueueBindings vhost={vhost} name={name} />
      <Section title="Publish message" open={false}>
        <p class="muted small">Published to the default exchange with routing key <code>{name}</code>, so only this queue receives it.</p>
        <PublishForm vhost={vhost} exchange="" fixedKey={name} />
      </Section>
      <GetMessages path={path} />
      <PeekMessages path={path} />
      <PagedMessages path={`${path}/unacked`} title="Unacked messages" empty="No message of this queue is waiting for an ack." />
      {d?.arguments?.['x-delayed-retry-type'] !== undefined && (
        <PagedMessages path={`${path}/delayed`} title="Delayed retries" empty="No message of this queue is waiting for a retry." />
      )}
      <Section title="Purge and delete" open={false}>
        <DeleteQueue path={path} name={name} />
      </Section>
      </>}
    </>
  );
}

function Consumers({ d, onChange }: { d: QueueDetail; onChange: () => void }) {
  const list = d.consumer_details ?? [];
  const [run, note] = useAction();
  return (
    <Section title={`Consumers (${list.length})`}>
      {list.length === 0 ? <Empty>No consumers. Messages wait here until a client consumes or gets them.</Empty> : (
        <Table rows={list} rowKey={(c) => `${c.channel_details?.name}/${c.consumer_tag}`} caption="Consumers" cols={[
          { key: 'ch', label: 'Channel', cell: (c) => c.channel_details ? <a href={href('connections', c.channel_details.connection_name)}>{c.channel_details.name}</a> : '–' },
          { key: 'tag', label: 'Consumer tag', cell: (c) => <code>{c.consumer_tag}</code> },
          { key: 'ack', label: 'Ack required', cell: (c) => (c.ack_required ? 'yes' : 'no') },
          { key: 'excl', label: 'Exclusive', cell: (c) => (c.exclusive ? 'yes' : 'no') },
          { key: 'prefetch', label: 'Prefetch', num: true, cell: (c) => c.prefetch_count || 'unlimited' },
          { key: 'active', label: 'Active', cell: (c) => (c.active === false ? 'waiting (single active consumer)' : 'yes') },
          { key: 'x', label: 'Action', cell: (c) => c.channel_details && (
            <ConfirmButton label="Cancel" confirm={`Cancel consumer ${c.consumer_tag}? The client is told (basic.cancel); its unacked messages stay with it.`}
              onConfirm={() => run(async () => { await api('DELETE', `/channels/${enc(c.channel_details!.name)}/consumers/${enc(c.consumer_tag)}`); onChange(); }, 'Consumer cancelled.')} />
          ) },
        ]} />
      )}
      {note}
    </Section>
  );
}

function QueueBindings({ vhost, name }: { vhost: string; name: string }) {
  const b = usePoll(() => api<Binding[]>('GET', `/queues/${enc(vhost)}/${enc(name)}/bindings`), [vhost, name]);
  return (
    <Section title="Bindings">
      <ErrorNote error={b.error} what="Could not load bindings" />
      {b.data && <BindingsTable rows={b.data} side="source" onChange={b.reload} />}
      <AddBinding vhost={vhost} fixed={{ kind: 'q', name }} onAdded={b.reload} />
    </Section>
  );
}

const ACK_MODES: [string, string][] = [
  ['ack_requeue_true', 'Nack message requeue true'],
  ['ack_requeue_false', 'Automatic ack'],
  ['reject_requeue_true', 'Reject requeue true'],
  ['reject_requeue_false', 'Reject requeue false'],
];

function GetMessages({ path }: { path: string }) {
  const [ackmode, setAckmode] = useState('ack_requeue_true');
  const [count, setCount] = useState(1);
  const [encoding, setEncoding] = useState('auto');
  const [got, setGot] = useState<MessageItem[] | null>(null);
  const [run, note] = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => setGot(await api<MessageItem[]>('POST', `${path}/get`, { count, ackmode, encoding, truncate: 50000 })));
  };
  return (
    <Section title="Get messages" open={false}>
      <p class="muted small">Getting messages is destructive unless the ack mode requeues them (requeued messages come back marked redelivered). To look without any side effect, use Peek.</p>
      <form class="row" onSubmit={submit}>
        <Field label="Ack mode"><select value={ackmode} onChange={(e) => setAckmode(e.currentTarget.value)}>{ACK_MODES.map(([v, l]) => <option key={v} value={v}>{l}</option>)}</select></Field>
        <Field label="Encoding"><select value={encoding} onChange={(e) => setEncoding(e.currentTarget.value)}><option value="auto">Auto string / base64</option><option value="base64">base64</option></select></Field>
        <Field label="Messages"><input type="number" min={1} max={1000} value={count} onInput={(e) => setCount(Number(e.currentTarget.value))} style="width:6rem" /></Field>
        <button class="primary" type="submit">Get messages</button>
      </form>
      {note}
      {got !== null && (got.length === 0 ? <Empty>Queue is empty: nothing to get.</Empty> : <div class="messages">{got.map((m, i) => <MessageView key={i} m={m} index={i + 1} />)}</div>)}
    </Section>
  );
}

function PeekMessages({ path }: { path: string }) {
  const [count, setCount] = useState(10);
  const [seen, setSeen] = useState<MessageItem[] | null>(null);
  const [run, note] = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => setSeen(await api<MessageItem[]>('POST', `${path}/peek`, { count, encoding: 'auto', truncate: 50000 })));
  };
  return (
    <Section title="Peek messages" open={false}>
      <p class="muted small">Shows ready messages from the head of the queue without delivering, requeueing or marking them redelivered.</p>
      <form class="row" onSubmit={submit}>
        <Field label="Messages to peek"><input type="number" min={1} max={1000} value={count} onInput={(e) => setCount(Number(e.currentTarget.value))} style="width:6rem" /></Field>
        <button class="primary" type="submit">Peek</button>
      </form>
      {note}
      {seen !== null && (seen.length === 0 ? <Empty>No ready messages to peek at.</Empty> : <div class="messages">{seen.map((m, i) => <MessageView key={i} m={m} index={i + 1} />)}</div>)}
    </Section>
  );
}

function PagedMessages({ path, title, empty }: { path: string; title: string; empty: string }) {
  const [page, setPage] = useState(1);
  return (
    <Section title={title} open={false}>
      <PagedList url={`${path}${qs({ page, page_size: 20 })}`} empty={empty} page={page} setPage={setPage} />
    </Section>
  );
}

function PagedList({ url, empty, page, setPage }: { url: string; empty: string; page: number; setPage: (p: number) => void }) {
  const l = usePoll(() => api<Page<MessageItem>>('GET', url), [url]);
  if (l.error) return <ErrorNote error={l.error} />;
  if (!l.data) return <Loading />;
  if (l.data.items.length === 0) return <Empty>{empty}</Empty>;
  return (
    <>
      <div class="messages">{l.data.items.map((m, i) => <MessageView key={i} m={m} index={(page - 1) * 20 + i + 1} />)}</div>
      <div class="pager">
        <button disabled={page <= 1} onClick={() => setPage(page - 1)}>‹ Previous</button>
        <span>Page {page} of {l.data.page_count}</span>
        <button disabled={page >= l.data.page_count} onClick={() => setPage(page + 1)}>Next ›</button>
      </div>
    </>
  );
}

function DeleteQueue({ path, name }: { path: string; name: string }) {
  const [ifEmpty, setIfEmpty] = useState(false);
  const [ifUnused, setIfUnused] = useState(false);
  const [run, note] = useAction();
  return (
    <div class="stack">
      <div class="row">
        <ConfirmButton label="Purge messages" confirm={`Remove every ready message from ${name}?`} onConfirm={() => run(() => api('DELETE', `${path}/contents`), 'Queue purged.')} />
      </div>
      <div class="row" style="margin-top:0.8rem">
        <label class="check"><input type="checkbox" checked={ifEmpty} onChange={(e) => setIfEmpty(e.currentTarget.checked)} /> Only if empty</label>
        <label class="check"><input type="checkbox" checked={ifUnused} onChange={(e) => setIfUnused(e.currentTarget.checked)} /> Only if unused</label>
        <ConfirmButton label="Delete queue" confirm={`Delete queue ${name} and its messages?`} onConfirm={() => run(async () => {
          await api('DELETE', path + qs({ 'if-empty': ifEmpty ? 'true' : undefined, 'if-unused': ifUnused ? 'true' : undefined }));
          go('queues');
        })} />
      </div>
      {note}
    </div>
  );
}
