// Showing and publishing messages: the get/peek/unacked/delayed item shape of the API, and the
// publish form used on queue and exchange pages.
import { useState } from 'preact/hooks';
import { api, enc } from './api';
import { Args, ArgsEditor, argsToObject, Field, useAction, type ArgRow } from './components';
import { bytes, clock, fromNow } from './format';

export interface MessageItem {
  payload: string; payload_bytes: number; payload_encoding: string; redelivered?: boolean;
  exchange?: string; routing_key: string; message_count?: number; properties?: Record<string, unknown>;
  // delayed and unacked lists
  id?: string; due_at?: number; delay?: number; published_at?: number; delivery_tag?: number;
  channel_details?: { name: string; connection_name?: string };
}

export function MessageView({ m, index, extra }: { m: MessageItem; index: number; extra?: preact.ComponentChildren }) {
  const { headers, ...props } = (m.properties ?? {}) as { headers?: Record<string, unknown> } & Record<string, unknown>;
  const truncated = m.payload_encoding === 'string' ? new TextEncoder().encode(m.payload).length < m.payload_bytes : false;
  return (
    <article class="message" aria-label={`Message ${index}`}>
      <div class="row small">
        <strong>Message {index}</strong>
        {m.exchange !== undefined && <span>Exchange <code>{m.exchange === '' ? '(AMQP default)' : m.exchange}</code></span>}
        <span>Routing key <code>{m.routing_key}</code></span>
        {m.redelivered !== undefined && <span>Redelivered {m.redelivered ? 'yes' : 'no'}</span>}
        {m.message_count !== undefined && <span class="muted">{m.message_count} left in queue</span>}
        {m.due_at !== undefined && <span title={clock(m.due_at)}>Due {fromNow(m.due_at)}</span>}
        {m.delivery_tag !== undefined && <span>Delivery tag {m.delivery_tag} on {m.channel_details?.name ?? '?'}</span>}
        {extra}
      </div>
      <div class="small">Properties <Args args={props} /></div>
      {headers && Object.keys(headers).length > 0 && <div class="small">Headers <Args args={headers} /></div>}
      <div class="small muted">Payload {bytes(m.payload_bytes)}, encoding {m.payload_encoding}{truncated ? ' (truncated)' : ''}</div>
      <pre>{m.payload}</pre>
    </article>
  );
}

const PROPERTY_NAMES = ['content_type', 'content_encoding', 'delivery_mode', 'priority', 'correlation_id', 'reply_to', 'expiration', 'message_id', 'timestamp', 'type', 'user_id', 'app_id'];

/** RabbitMQ's publish form: routing key, delivery mode, headers, properties, payload. */
export function PublishForm({ vhost, exchange, fixedKey, delayed }: { vhost: string; exchange: string; fixedKey?: string; delayed?: boolean }) {
  const [key, setKey] = useState('');
  const [persistent, setPersistent] = useState(false);
  const [headers, setHeaders] = useState<ArgRow[]>(delayed ? [{ key: 'x-delay', value: '60000', type: 'number' }] : []);
  const [props, setProps] = useState<ArgRow[]>([]);
  const [payload, setPayload] = useState('');
  const [base64, setBase64] = useState(false);
  const [run, note] = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    let routed = false;
    void run(async () => {
      const p = argsToObject(props);
      for (const k of Object.keys(p)) if (!PROPERTY_NAMES.includes(k)) throw new Error(`${k} is not a message property; use one of ${PROPERTY_NAMES.join(', ')}, or put it in the headers`);
      const h = argsToObject(headers);
      const properties: Record<string, unknown> = { ...p, delivery_mode: persistent ? 2 : 1 };
      if (Object.keys(h).length) properties.headers = h;
      const res = await api<{ routed: boolean }>('POST', `/exchanges/${enc(vhost)}/${enc(exchange === '' ? 'amq.default' : exchange)}/publish`, {
        properties, routing_key: fixedKey ?? key, payload, payload_encoding: base64 ? 'base64' : 'string',
      });
      routed = res.routed;
      if (!routed) throw new Error('Published, but no queue received it (not routed): check the routing key and the bindings.');
    }, delayed ? 'Published; it waits in this exchange until its x-delay is over.' : 'Message published and routed.');
  };
  return (
    <form class="stack" onSubmit={submit}>
      {fixedKey === undefined && <Field label="Routing key"><input value={key} onInput={(e) => setKey(e.currentTarget.value)} /></Field>}
      <label class="check"><input type="checkbox" checked={persistent} onChange={(e) => setPersistent(e.currentTarget.checked)} /> Persistent (delivery mode 2)</label>
      <ArgsEditor label="Headers" rows={headers} onChange={setHeaders} />
      <ArgsEditor label="Properties" rows={props} onChange={setProps} />
      <small class="muted">Properties: {PROPERTY_NAMES.join(', ')}.</small>
      <Field label="Payload"><textarea value={payload} onInput={(e) => setPayload(e.currentTarget.value)} /></Field>
      <label class="check"><input type="checkbox" checked={base64} onChange={(e) => setBase64(e.currentTarget.checked)} /> Payload is base64</label>
      <div><button class="primary" type="submit">Publish message</button></div>
      {note}
    </form>
  );
}
