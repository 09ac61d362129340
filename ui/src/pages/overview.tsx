// Overview: live message-rate and queued-message charts, totals, node facts, listeners, and
// definitions export/import.
import { useMemo, useRef, useState } from 'preact/hooks';
import { api, qs } from '../api';
import { chartWindow, color, LiveChart, type Samples } from '../chart';
import { ErrorNote, Facts, Field, Loading, Section, Table, useAction } from '../components';
import { bytes, num, pct, rate, span } from '../format';
import { usePoll } from '../poll';
import { useSession } from '../session';
import { historyQuery, historyRows, RATE_SERIES, RateTracker, type MessageStats } from '../stats';

interface Totals { messages?: number; messages_ready?: number; messages_unacknowledged?: number }
interface Overview {
  product_name?: string; product_version?: string; rabbitmq_version?: string; cluster_name?: string; node?: string;
  message_stats?: MessageStats; queue_totals?: Totals;
  object_totals?: Record<string, number>;
  listeners?: { node: string; protocol: string; ip_address: string; port: number }[];
}
interface Node {
  name: string; uptime?: number; mem_used?: number; mem_limit?: number; mem_alarm?: boolean;
  disk_free?: number; disk_free_limit?: number; disk_free_alarm?: boolean; fd_used?: number; fd_total?: number;
  sockets_used?: number; sockets_total?: number; proc_used?: number; proc_total?: number; run_queue?: number; processors?: number;
}

const WINDOWS = [[60, '1 min'], [600, '10 min'], [3600, '1 hour']] as const;
const RATES = RATE_SERIES.map((s, i) => ({ label: s.label, color: color(i) }));
const QUEUED = [{ label: 'Ready', color: color(0) }, { label: 'Unacked', color: color(2) }, { label: 'Total', color: color(4) }];

// Kept across page changes so the charts don't start empty each time the tab is opened again.
const history = { rates: [] as Samples, queued: [] as Samples, tracker: new RateTracker() };

/** Forgets the samples (at logout: the next user starts from the broker's history). */
export function forgetHistory(): void {
  history.rates = [];
  history.queued = [];
  history.tracker = new RateTracker();
}

function remember(ov: Overview): void {
  const t = Date.now();
  const cut = t / 1000 - 3600;
  // Seeded rows carry the broker's clock: keep the times increasing if the browser's is behind.
  for (const rows of [history.rates, history.queued]) while (rows.length && rows[rows.length - 1][0] >= t / 1000) rows.pop();
  history.rates.push([t / 1000, ...history.tracker.rates(ov.message_stats, t)]);
  const q = ov.queue_totals ?? {};
  history.queued.push([t / 1000, q.messages_ready ?? 0, q.messages_unacknowledged ?? 0, q.messages ?? 0]);
  while (history.rates.length && history.rates[0][0] < cut) history.rates.shift();
  while (history.queued.length && history.queued[0][0] < cut) history.queued.shift();
}

export function OverviewPage() {
  const s = useSession();
  const [windowS, setWindowS] = useState<number>(chartWindow());
  const ov = usePoll(async () => {
    // The first time (and when a longer window is chosen) the broker's own history fills the
    // charts; after that each refresh adds one sample.
    const oldest = history.rates[0]?.[0] ?? Infinity;
    const seed = oldest > Date.now() / 1000 - windowS + 30;
    const o = await api<Overview>('GET', '/overview' + (seed ? qs(historyQuery(windowS)) : ''));
    if (seed) {
      const h = historyRows(o.message_stats, o.queue_totals as Record<string, unknown>, ['messages_ready', 'messages_unacknowledged', 'messages']);
      if (h.rates.length > 1) history.rates = h.rates;
      if (h.lengths.length > 1) history.queued = h.lengths;
    }
    remember(o);
    return { o, rates: [...history.rates], queued: [...history.queued] };
  }, [windowS]);
  const nodes = usePoll(() => (s.has('monitoring') ? api<Node[]>('GET', '/nodes') : Promise.resolve([] as Node[])), []);
  const o = ov.data?.o;
  const last = ov.data?.rates.at(-1);
  return (
    <>
      <div class="page-head">
        <h1>Overview</h1>
        {o && <span class="muted">{o.product_name ?? 'Warren'} {o.product_version ?? ''} · cluster {o.cluster_name} · RabbitMQ API {o.rabbitmq_version}</span>}
      </div>
      <ErrorNote error={ov.error} what="Could not load the overview" />
      {!o && !ov.error && <Loading />}
      {o && (
        <>
          <div class="tiles">
            {(['connections', 'channels', 'exchanges', 'queues', 'consumers'] as const).map((k) => (
              <a key={k} class="tile" href={k === 'consumers' ? '#/queues' : `#/${k}`}><span class="big">{num(o.object_totals?.[k] ?? 0)}</span><span class="muted">{k[0].toUpperCase() + k.slice(1)}</span></a>
            ))}
            <div class="tile"><span class="big">{num(o.queue_totals?.messages ?? 0)}</span><span class="muted">Messages queued</span></div>
            <div class="tile"><span class="big">{rate(last?.[1] ?? 0)}</span><span class="muted">Publish</span></div>
            <div class="tile"><span class="big">{rate((last?.[3] ?? 0) + (last?.[4] ?? 0))}</span><span class="muted">Deliver + get</span></div>
          </div>
          <div class="chart-head">
            <h2>Live</h2>
            <label>Window{' '}
              <select value={windowS} onChange={(e) => { const v = Number(e.currentTarget.value); localStorage.setItem('warren.window', String(v)); setWindowS(v); }}>
                {WINDOWS.map(([v, l]) => <option key={v} value={v}>last {l}</option>)}
              </select>
            </label>
            <span class="muted small">The broker's own history first, then a sample at each refresh.</span>
          </div>
          <div class="charts">
            <LiveChart title="Message rates" series={RATES} samples={ov.data!.rates} unit="/s" windowS={windowS} />
            <LiveChart title="Queued messages" series={QUEUED} samples={ov.data!.queued} unit="" windowS={windowS} />
          </div>
        </>
      )}
      {s.has('monitoring') && <NodeFacts nodes={nodes.data} error={nodes.error} />}
      {o?.listeners && (
        <Section title="Listeners">
          <Table rows={o.listeners} rowKey={(l) => `${l.protocol}:${l.port}`} caption="Listeners" cols={[
            { key: 'protocol', label: 'Protocol', cell: (l) => l.protocol },
            { key: 'ip', label: 'Bound to', cell: (l) => l.ip_address },
            { key: 'port', label: 'Port', num: true, cell: (l) => l.port },
          ]} />
        </Section>
      )}
      {s.has('policymaker') && <Definitions />}
    </>
  );
}

function NodeFacts({ nodes, error }: { nodes: Node[] | undefined; error: Error | undefined }) {
  if (error) return <ErrorNote error={error} what="Node facts" />;
  if (!nodes || nodes.length === 0) return null;
  return (
    <Section title="Node">
      {nodes.map((n) => (
        <div key={n.name}>
          <Facts items={[
            ['Node', n.name],
            ['Uptime', n.uptime !== undefined ? span(n.uptime) : '–'],
            ['Memory', <Meter used={n.mem_used} limit={n.mem_limit} alarm={n.mem_alarm} fmt={bytes} what="limit" />],
            ['Disk free', <span class={n.disk_free_alarm ? 'bad' : undefined}>{bytes(n.disk_free)} <span class="muted">(limit {bytes(n.disk_free_limit)})</span>{n.disk_free_alarm ? ' — ALARM: publishers are blocked' : ''}</span>],
            ['File descriptors', <Meter used={n.fd_used} limit={n.fd_total} fmt={num} what="available" />],
            ['Alarms', n.mem_alarm || n.disk_free_alarm ? <span class="bad">{[n.mem_alarm && 'memory', n.disk_free_alarm && 'disk'].filter(Boolean).join(', ')}</span> : <span class="good">none</span>],
          ]} />
        </div>
      ))}
    </Section>
  );
}

function Meter({ used, limit, alarm, fmt, what }: { used?: number; limit?: number; alarm?: boolean; fmt: (n: number) => string; what: string }) {
  if (used === undefined) return <span>–</span>;
  const ratio = limit ? Math.min(used / limit, 1) : 0;
  return (
    <span class={alarm ? 'bad' : undefined}>
      {fmt(used)}{limit ? <span class="muted"> of {fmt(limit)} {what} ({pct(used, limit)})</span> : null}{alarm ? ' — ALARM: publishers are blocked' : ''}
      {limit ? <meter min={0} max={1} value={ratio} high={0.8} optimum={0} aria-hidden="true" /> : null}
    </span>
  );
}

function Definitions() {
  const s = useSession();
  const [run, note] = useAction();
  const file = useRef<HTMLInputElement>(null);
  const vhostPath = useMemo(() => (s.vhost ? `/definitions/${encodeURIComponent(s.vhost)}` : '/definitions'), [s.vhost]);
  const exportDefs = () => run(async () => {
    const defs = await api('GET', vhostPath);
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([JSON.stringify(defs, null, 2)], { type: 'application/json' }));
    a.download = `warren-definitions${s.vhost ? '-' + s.vhost.replace(/[^\w.-]+/g, '_') : ''}-${new Date().toISOString().slice(0, 10)}.json`;
    a.click();
    URL.revokeObjectURL(a.href);
  }, 'Definitions downloaded.');
  const importDefs = (e: Event) => {
    e.preventDefault();
    const f = file.current?.files?.[0];
    if (!f) return run(async () => { throw new Error('Choose a definitions file (JSON exported from Warren or RabbitMQ) first.'); });
    return run(async () => {
      let body: unknown;
      try { body = JSON.parse(await f.text()); } catch { throw new Error(`${f.name} is not JSON; export definitions from Warren or RabbitMQ and try again.`); }
      await api('POST', vhostPath, body);
    }, `Imported ${f.name}.`);
  };
  return (
    <Section title="Export and import definitions" open={false}>
      <p class="muted">Users, vhosts, permissions, policies, queues, exchanges and bindings{s.vhost ? ` of vhost ${s.vhost}` : ''}, as JSON in RabbitMQ's format.</p>
      <div class="row">
        <button onClick={exportDefs}>Download definitions</button>
        <form onSubmit={importDefs} class="row">
          <Field label="Definitions file"><input type="file" accept="application/json,.json" ref={file} /></Field>
          <button type="submit">Upload and import</button>
        </form>
      </div>
      {note}
    </Section>
  );
}
