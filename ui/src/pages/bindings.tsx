// Bindings tables and the add-binding form, shared by the queue and exchange pages.
import { useState } from 'preact/hooks';
import { api, enc } from '../api';
import { Args, ArgsEditor, argsToObject, ConfirmButton, Empty, Field, Table, useAction, type ArgRow } from '../components';
import { href } from '../router';

export interface Binding {
  source: string; vhost: string; destination: string; destination_type: 'queue' | 'exchange';
  routing_key: string; arguments?: Record<string, unknown>; properties_key: string;
}

function link(kind: 'queue' | 'exchange', vhost: string, name: string) {
  if (name === '') return <span class="muted">(AMQP default)</span>;
  return <a href={href(kind === 'queue' ? 'queues' : 'exchanges', vhost, name)}>{name}</a>;
}

/** `side` is the end shown: 'source' on a queue's page, 'destination' for an exchange's outgoing bindings. */
export function BindingsTable({ rows, side, onChange }: { rows: Binding[]; side: 'source' | 'destination'; onChange: () => void }) {
  const [run, note] = useAction();
  if (rows.length === 0) return <Empty>No bindings{side === 'destination' ? ' from this exchange: messages published to it go nowhere unless you add one' : ''}.</Empty>;
  const unbind = (b: Binding) => run(async () => {
    await api('DELETE', `/bindings/${enc(b.vhost)}/e/${enc(b.source)}/${b.destination_type === 'queue' ? 'q' : 'e'}/${enc(b.destination)}/${enc(b.properties_key)}`);
    onChange();
  }, 'Binding removed.');
  return (
    <>
      <Table rows={rows} rowKey={(b) => `${b.source}>${b.destination_type}:${b.destination}/${b.properties_key}`} caption="Bindings" cols={[
        side === 'source'
          ? { key: 'from', label: 'From exchange', cell: (b) => link('exchange', b.vhost, b.source) }
          : { key: 'to', label: 'To', cell: (b) => <>{link(b.destination_type, b.vhost, b.destination)} <span class="muted small">{b.destination_type}</span></> },
        { key: 'rk', label: 'Routing key', cell: (b) => <code>{b.routing_key}</code> },
        { key: 'args', label: 'Arguments', cell: (b) => <Args args={b.arguments} /> },
        { key: 'x', label: 'Action', cell: (b) => (b.source === '' ? <span class="muted small">implicit</span> : <ConfirmButton label="Unbind" confirm="Remove this binding?" onConfirm={() => unbind(b)} />) },
      ]} />
      {note}
    </>
  );
}

/** On a queue's page the queue is the fixed destination; on an exchange's page the exchange is the fixed source. */
export function AddBinding({ vhost, fixed, onAdded }: { vhost: string; fixed: { kind: 'q' | 'e'; name: string }; onAdded: () => void }) {
  const [other, setOther] = useState('');
  const [destKind, setDestKind] = useState<'q' | 'e'>('q');
  const [key, setKey] = useState('');
  const [args, setArgs] = useState<ArgRow[]>([]);
  const [run, note] = useAction();
  const toQueue = fixed.kind === 'q';
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await run(async () => {
      if (other.trim() === '') throw new Error(toQueue ? 'Name the exchange to bind from.' : 'Name the queue or exchange to bind to.');
      const url = toQueue
        ? `/bindings/${enc(vhost)}/e/${enc(other)}/q/${enc(fixed.name)}`
        : `/bindings/${enc(vhost)}/e/${enc(fixed.name)}/${destKind}/${enc(other)}`;
      await api('POST', url, { routing_key: key, arguments: argsToObject(args) });
    }, 'Binding added.');
    if (ok) { setOther(''); setKey(''); setArgs([]); onAdded(); }
  };
  return (
    <form class="stack" onSubmit={submit} style="margin-top:0.8rem" aria-label={toQueue ? 'Add binding to this queue' : 'Add binding from this exchange'}>
      <h3 class="small">{toQueue ? 'Add binding to this queue' : 'Add binding from this exchange'}</h3>
      <div class="row">
        {!toQueue && <Field label="Destination type"><select value={destKind} onChange={(e) => setDestKind(e.currentTarget.value as 'q' | 'e')}><option value="q">Queue</option><option value="e">Exchange</option></select></Field>}
        <Field label={toQueue ? 'From exchange' : destKind === 'q' ? 'To queue' : 'To exchange'}><input value={other} onInput={(e) => setOther(e.currentTarget.value)} /></Field>
        <Field label="Routing key"><input value={key} onInput={(e) => setKey(e.currentTarget.value)} /></Field>
      </div>
      <ArgsEditor label="Binding arguments" rows={args} onChange={setArgs} />
      <div><button type="submit">Bind</button></div>
      {note}
    </form>
  );
}
