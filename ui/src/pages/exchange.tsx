// One exchange: facts, bindings both ways, publish, delete; for x-delayed-message exchanges the
// pending messages in due order, page by page, with cancel one / matching / all.
import { useState } from 'preact/hooks';
import { api, enc, qs, type Page } from '../api';
import { Args, ConfirmButton, Empty, ErrorNote, Facts, isGone, Field, Loading, Section, useAction } from '../components';
import { clock, fromNow, num, rate } from '../format';
import { MessageView, PublishForm, type MessageItem } from '../messages';
import { usePoll } from '../poll';
import { go, href } from '../router';
import { statRate } from '../stats';
import { AddBinding, BindingsTable, type Binding } from './bindings';
import { exchangeLabel, type Exchange } from './exchanges';
import { Features } from './queues';

export function ExchangePage({ vhost, name }: { vhost: string; name: string }) {
  const path = `/exchanges/${enc(vhost)}/${enc(name)}`;
  const x = usePoll(() => api<Exchange>('GET', path), [path]);
  const d = x.data;
  const isDefault = name === 'amq.default';
  const builtin = isDefault || name.startsWith('amq.');
  return (
    <>
      <div class="page-head">
        <h1>Exchange {exchangeLabel(d?.name ?? name)}</h1>
        <span class="crumbs"><a href={href('exchanges')}>Exchanges</a> · vhost {vhost}</span>
      </div>
      <ErrorNote error={x.error} what={`Could not load exchange ${name}`} />
      {isGone(x.error) ? null : <>
      {!d && !x.error && <Loading />}
      {d && (
        <Facts items={[
          ['Type', d.type], ['Features', <Features o={d} />], ['Policy', d.policy ?? 'none'], ['Arguments', <Args args={d.arguments} />],
          ['Rate in', rate(statRate(d.message_stats, 'publish_in'))], ['Rate out', rate(statRate(d.message_stats, 'publish_out'))],
          ...(d.type === 'x-delayed-message' ? [
            ['Delayed messages', num(d.messages_delayed ?? 0)] as [string, string],
            ['Next due', d.next_due_at ? <span title={clock(d.next_due_at)}>{fromNow(d.next_due_at)}</span> : 'nothing pending'] as [string, preact.ComponentChildren],
          ] : []),
        ]} />
      )}
      {d?.type === 'x-delayed-message' && <Delayed path={path} />}
      {!isDefault && <ExchangeBindings vhost={vhost} name={name} />}
      {d && (
        <Section title="Publish message" open={isDefault}>
          <PublishForm key={d.type} vhost={vhost} exchange={isDefault ? '' : name} delayed={d.type === 'x-delayed-message'} />
        </Section>
      )}
      {!builtin && (
        <Section title="Delete this exchange" open={false}>
          <DeleteExchange path={path} name={name} />
        </Section>
      )}
      </>}
    </>
  );
}

function ExchangeBindings({ vhost, name }: { vhost: string; name: string }) {
  const base = `/exchanges/${enc(vhost)}/${enc(name)}/bindings`;
  const out = usePoll(() => api<Binding[]>('GET', `${base}/source`), [base]);
  return (
    <>
      <Section title="Bindings from this exchange">
        <ErrorNote error={out.error} what="Could not load bindings" />
        {out.data && <BindingsTable rows={out.data} side="destination" onChange={out.reload} />}
        <AddBinding vhost={vhost} fixed={{ kind: 'e', name }} onAdded={out.reload} />
      </Section>
      <Section title="Bindings to this exchange" open={false}>
        <IncomingBindings url={`${base}/destination`} />
      </Section>
    </>
  );
}

function IncomingBindings({ url }: { url: string }) {
  const inn = usePoll(() => api<Binding[]>('GET', url), [url]);
  return (
    <>
      <ErrorNote error={inn.error} what="Could not load bindings" />
      {inn.data && (inn.data.length === 0 ? <Empty>No exchange routes into this one.</Empty> : <BindingsTable rows={inn.data} side="source" onChange={inn.reload} />)}
    </>
  );
}

const PAGE_SIZE = 20;

function Delayed({ path }: { path: string }) {
  const [page, setPage] = useState(1);
  const l = usePoll(() => api<Page<MessageItem>>('GET', `${path}/delayed${qs({ page, page_size: PAGE_SIZE })}`), [path, page]);
  const [run, note] = useAction();
  const [key, setKey] = useState('');
  const [dueAfter, setDueAfter] = useState('');
  const [dueBefore, setDueBefore] = useState('');
  const cancelOne = (m: MessageItem) => run(async () => { await api('DELETE', `${path}/delayed/${enc(m.id!)}`); l.reload(); }, 'Delayed message cancelled.');
  const toMs = (local: string) => (local === '' ? undefined : new Date(local).getTime());
  const cancelMatching = (all: boolean) => run(async () => {
    const filter = all ? '' : qs({ routing_key: key, due_after: toMs(dueAfter), due_before: toMs(dueBefore) });
    if (!all && filter === '') throw new Error('Set a routing key or a due time range, or use Cancel all.');
    const r = await api<{ cancelled: number }>('DELETE', `${path}/delayed${filter}`);
    l.reload();
    return r;
  }, all ? 'All delayed messages cancelled.' : 'Matching delayed messages cancelled.');
  const d = l.data;
  return (
    <Section title={`Delayed messages${d ? ` (${num(d.total_count)})` : ''}`} id="delayed">
      <p class="muted small">Messages waiting in this exchange until their x-delay is over, soonest first. Cancelled messages are dropped without being routed.</p>
      <ErrorNote error={l.error} what="Could not list delayed messages" />
      {!d && !l.error && <Loading />}
      {d && d.items.length === 0 && <Empty>No delayed messages pending. Publish one with an <code>x-delay</code> header (ms) below.</Empty>}
      {d && d.items.length > 0 && (
        <>
          <div class="messages">
            {d.items.map((m, i) => (
              <MessageView key={m.id} m={m} index={(page - 1) * PAGE_SIZE + i + 1}
                extra={<ConfirmButton label="Cancel" confirm="Cancel this delayed message?" onConfirm={() => cancelOne(m)} />} />
            ))}
          </div>
          <div class="pager">
            <button disabled={page <= 1} onClick={() => setPage(page - 1)}>‹ Sooner</button>
            <span>Page {page} of {d.page_count}</span>
            <button disabled={page >= d.page_count} onClick={() => setPage(page + 1)}>Later ›</button>
          </div>
          <form class="row" onSubmit={(e) => { e.preventDefault(); void cancelMatching(false); }} aria-label="Cancel matching delayed messages">
            <Field label="Routing key"><input value={key} onInput={(e) => setKey(e.currentTarget.value)} /></Field>
            <Field label="Due after"><input type="datetime-local" step={1} value={dueAfter} onInput={(e) => setDueAfter(e.currentTarget.value)} /></Field>
            <Field label="Due before"><input type="datetime-local" step={1} value={dueBefore} onInput={(e) => setDueBefore(e.currentTarget.value)} /></Field>
            <button type="submit" class="danger">Cancel matching</button>
            <ConfirmButton label="Cancel all" confirm={`Cancel all ${num(d.total_count)} delayed messages?`} onConfirm={() => cancelMatching(true)} />
          </form>
        </>
      )}
      {note}
    </Section>
  );
}

function DeleteExchange({ path, name }: { path: string; name: string }) {
  const [ifUnused, setIfUnused] = useState(false);
  const [run, note] = useAction();
  return (
    <div class="row">
      <label class="check"><input type="checkbox" checked={ifUnused} onChange={(e) => setIfUnused(e.currentTarget.checked)} /> Only if unused</label>
      <ConfirmButton label="Delete exchange" confirm={`Delete exchange ${name}?`} onConfirm={() => run(async () => {
        await api('DELETE', path + qs({ 'if-unused': ifUnused ? 'true' : undefined }));
        go('exchanges');
      })} />
      {note}
    </div>
  );
}
