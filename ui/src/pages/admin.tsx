// Admin: users (tags, password, permissions, topic permissions), vhosts and their limits,
// policies and operator policies. Sub-tabs show as the user's tags allow, as in RabbitMQ.
import { useState } from 'preact/hooks';
import { api, enc } from '../api';
import { Args, ArgsEditor, argsToObject, ConfirmButton, Empty, ErrorNote, Field, Loading, Section, Table, useAction, type ArgRow } from '../components';
import { num } from '../format';
import { usePoll } from '../poll';
import { go, href } from '../router';
import { useSession } from '../session';

const SUBS: { path: string; label: string; admin: boolean }[] = [
  { path: 'users', label: 'Users', admin: true },
  { path: 'vhosts', label: 'Virtual hosts', admin: true },
  { path: 'limits', label: 'Limits', admin: true },
  { path: 'policies', label: 'Policies', admin: false },
  { path: 'operator-policies', label: 'Operator policies', admin: true },
];

export function AdminPage({ sub, rest }: { sub: string; rest: string[] }) {
  const s = useSession();
  const subs = SUBS.filter((x) => !x.admin || s.has('administrator'));
  const current = subs.some((x) => x.path === sub) ? sub : subs[0]?.path;
  let body;
  if (current === 'users') body = rest.length ? <UserPage name={rest[0]} /> : <Users />;
  else if (current === 'vhosts') body = <Vhosts />;
  else if (current === 'limits') body = <Limits />;
  else if (current === 'policies') body = <Policies kind="policies" />;
  else if (current === 'operator-policies') body = <Policies kind="operator-policies" />;
  else body = <Empty>Your user has no admin rights; ask an administrator to add the policymaker or administrator tag.</Empty>;
  return (
    <>
      <nav class="tabs subtabs" aria-label="Admin sections" style="margin-bottom:1rem">
        {subs.map((x) => <a key={x.path} href={href('admin', x.path)} aria-current={current === x.path ? 'page' : undefined}>{x.label}</a>)}
      </nav>
      {body}
    </>
  );
}

interface User { name: string; tags: string[] | string; hashing_algorithm?: string; limits?: Record<string, number> }
const tagList = (t: string[] | string) => (Array.isArray(t) ? t : t.split(',').map((x) => x.trim()).filter(Boolean));

function Users() {
  const u = usePoll(() => api<User[]>('GET', '/users'), []);
  return (
    <>
      <div class="page-head"><h1>Users</h1></div>
      <ErrorNote error={u.error} what="Could not list users" />
      {!u.data && !u.error && <Loading />}
      {u.data && (u.data.length === 0 ? <Empty>No users. Add one below.</Empty> : (
        <Table rows={u.data} rowKey={(x) => x.name} caption="Users" cols={[
          { key: 'name', label: 'Name', cell: (x) => <a href={href('admin', 'users', x.name)}>{x.name}</a> },
          { key: 'tags', label: 'Tags', cell: (x) => <span class="chips">{tagList(x.tags).map((t) => <span key={t} class="badge">{t}</span>)}{tagList(x.tags).length === 0 && <span class="muted">none (AMQP only)</span>}</span> },
          { key: 'pw', label: 'Can log in', cell: (x) => ((x as { password_hash?: string }).password_hash === '' ? 'no password' : 'yes') },
        ]} />
      ))}
      <UserForm onSaved={u.reload} />
    </>
  );
}

const TAGS = ['administrator', 'monitoring', 'policymaker', 'management', 'impersonator'];

function UserForm({ existing, onSaved }: { existing?: User; onSaved: () => void }) {
  const [name, setName] = useState(existing?.name ?? '');
  const [password, setPassword] = useState('');
  const [noPassword, setNoPassword] = useState(false);
  const [tags, setTags] = useState(existing ? tagList(existing.tags).join(', ') : '');
  const [run, note] = useAction();
  const submit = async (e: Event) => {
    e.preventDefault();
    const ok = await run(async () => {
      if (name.trim() === '') throw new Error('Give the user a name.');
      const body: Record<string, unknown> = { tags };
      if (noPassword) body.password_hash = '';
      else if (password !== '') body.password = password;
      else if (!existing) throw new Error('Set a password, or tick "No password" for a user that cannot log in with one.');
      else body.password_hash = (existing as { password_hash?: string }).password_hash ?? '';
      await api('PUT', `/users/${enc(name)}`, body);
    }, existing ? 'User updated.' : `User ${name} added. Give it permissions on its page.`);
    if (ok) { setPassword(''); if (!existing) { setName(''); setTags(''); } onSaved(); }
  };
  return (
    <Section title={existing ? 'Update this user' : 'Add a user'} open={!!existing} id="user-form">
      <form class="stack" onSubmit={submit}>
        <div class="row">
          {!existing && <Field label="Username"><input value={name} onInput={(e) => setName(e.currentTarget.value)} autoComplete="off" /></Field>}
          <Field label={existing ? 'New password (empty keeps the current one)' : 'Password'}><input type="password" value={password} disabled={noPassword} autoComplete="new-password" onInput={(e) => setPassword(e.currentTarget.value)} /></Field>
          <label class="check"><input type="checkbox" checked={noPassword} onChange={(e) => setNoPassword(e.currentTarget.checked)} /> No password</label>
        </div>
        <Field label="Tags (comma separated)"><input value={tags} onInput={(e) => setTags(e.currentTarget.value)} /></Field>
        <div class="helpers" aria-label="Add a tag">
          {TAGS.map((t) => <button type="button" key={t} onClick={() => { const l = tagList(tags); if (!l.includes(t)) setTags([...l, t].join(', ')); }}>{t}</button>)}
        </div>
        <div><button class="primary" type="submit">{existing ? 'Update user' : 'Add user'}</button></div>
        {note}
      </form>
    </Section>
  );
}

interface Permission { user: string; vhost: string; configure: string; write: string; read: string }
interface TopicPermission { user: string; vhost: string; exchange: string; write: string; read: string }

function UserPage({ name }: { name: string }) {
  const s = useSession();
  const u = usePoll(() => api<User>('GET', `/users/${enc(name)}`), [name], false);
  const perms = usePoll(() => api<Permission[]>('GET', `/users/${enc(name)}/permissions`), [name], false);
  const topic = usePoll(() => api<TopicPermission[]>('GET', `/users/${enc(name)}/topic-permissions`), [name], false);
  const [run, note] = useAction();
  const [vhost, setVhost] = useState(s.vhosts[0] ?? '/');
  const [conf, setConf] = useState('.*');
  const [write, setWrite] = useState('.*');
  const [read, setRead] = useState('.*');
  const [tvhost, setTvhost] = useState(s.vhosts[0] ?? '/');
  const [texchange, setTexchange] = useState('amq.topic');
  const [twrite, setTwrite] = useState('.*');
  const [tread, setTread] = useState('.*');
  return (
    <>
      <div class="page-head"><h1>User {name}</h1><span class="crumbs"><a href={href('admin', 'users')}>Users</a></span></div>
      <ErrorNote error={u.error} what="Could not load the user" />
      {u.data && <p>Tags: <span class="chips">{tagList(u.data.tags).map((t) => <span key={t} class="badge">{t}</span>)}</span></p>}
      <Section title="Permissions">
        {perms.data && (perms.data.length === 0 ? <Empty>No permissions: this user can't use any vhost. Set some below.</Empty> : (
          <Table rows={perms.data} rowKey={(p) => p.vhost} caption="Permissions" cols={[
            { key: 'vhost', label: 'Vhost', cell: (p) => p.vhost },
            { key: 'c', label: 'Configure', cell: (p) => <code>{p.configure}</code> },
            { key: 'w', label: 'Write', cell: (p) => <code>{p.write}</code> },
            { key: 'r', label: 'Read', cell: (p) => <code>{p.read}</code> },
            { key: 'x', label: 'Action', cell: (p) => <ConfirmButton label="Clear" confirm={`Remove ${name}'s permissions on ${p.vhost}?`} onConfirm={() => run(async () => { await api('DELETE', `/permissions/${enc(p.vhost)}/${enc(name)}`); perms.reload(); }, 'Permissions cleared.')} /> },
          ]} />
        ))}
        <form class="row" style="margin-top:0.8rem" onSubmit={(e) => { e.preventDefault(); void run(async () => { await api('PUT', `/permissions/${enc(vhost)}/${enc(name)}`, { configure: conf, write, read }); perms.reload(); }, 'Permissions set.'); }}>
          <Field label="Vhost"><select value={vhost} onChange={(e) => setVhost(e.currentTarget.value)}>{s.vhosts.map((v) => <option key={v}>{v}</option>)}</select></Field>
          <Field label="Configure regexp"><input value={conf} onInput={(e) => setConf(e.currentTarget.value)} /></Field>
          <Field label="Write regexp"><input value={write} onInput={(e) => setWrite(e.currentTarget.value)} /></Field>
          <Field label="Read regexp"><input value={read} onInput={(e) => setRead(e.currentTarget.value)} /></Field>
          <button type="submit">Set permission</button>
        </form>
      </Section>
      <Section title="Topic permissions" open={false}>
        {topic.data && (topic.data.length === 0 ? <Empty>No topic permissions: publishing to topic exchanges is limited only by the write permission.</Empty> : (
          <Table rows={topic.data} rowKey={(p) => `${p.vhost}/${p.exchange}`} caption="Topic permissions" cols={[
            { key: 'vhost', label: 'Vhost', cell: (p) => p.vhost },
            { key: 'x', label: 'Exchange', cell: (p) => p.exchange },
            { key: 'w', label: 'Write', cell: (p) => <code>{p.write}</code> },
            { key: 'r', label: 'Read', cell: (p) => <code>{p.read}</code> },
            { key: 'a', label: 'Action', cell: (p) => <ConfirmButton label="Clear" confirm={`Remove ${name}'s topic permissions on ${p.vhost}?`} onConfirm={() => run(async () => { await api('DELETE', `/topic-permissions/${enc(p.vhost)}/${enc(name)}`); topic.reload(); }, 'Topic permissions cleared.')} /> },
          ]} />
        ))}
        <form class="row" style="margin-top:0.8rem" onSubmit={(e) => { e.preventDefault(); void run(async () => { await api('PUT', `/topic-permissions/${enc(tvhost)}/${enc(name)}`, { exchange: texchange, write: twrite, read: tread }); topic.reload(); }, 'Topic permission set.'); }}>
          <Field label="Vhost"><select value={tvhost} onChange={(e) => setTvhost(e.currentTarget.value)}>{s.vhosts.map((v) => <option key={v}>{v}</option>)}</select></Field>
          <Field label="Exchange"><input value={texchange} onInput={(e) => setTexchange(e.currentTarget.value)} /></Field>
          <Field label="Write regexp"><input value={twrite} onInput={(e) => setTwrite(e.currentTarget.value)} /></Field>
          <Field label="Read regexp"><input value={tread} onInput={(e) => setTread(e.currentTarget.value)} /></Field>
          <button type="submit">Set topic permission</button>
        </form>
      </Section>
      {note}
      {u.data && <UserForm existing={u.data} onSaved={u.reload} />}
      <Section title="Delete this user" open={false}>
        <ConfirmButton label="Delete user" confirm={`Delete user ${name}? Its connections stay open until they close.`} onConfirm={() => run(async () => { await api('DELETE', `/users/${enc(name)}`); go('admin', 'users'); })} />
      </Section>
    </>
  );
}

interface Vhost { name: string; description?: string; tags?: string[] | string; default_queue_type?: string; messages?: number; messages_ready?: number; messages_unacknowledged?: number; tracing?: boolean }

function Vhosts() {
  const v = usePoll(() => api<Vhost[]>('GET', '/vhosts'), []);
  const [run, note] = useAction();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [qtype, setQtype] = useState('classic');
  return (
    <>
      <div class="page-head"><h1>Virtual hosts</h1></div>
      <ErrorNote error={v.error} what="Could not list vhosts" />
      {!v.data && !v.error && <Loading />}
      {v.data && (
        <Table rows={v.data} rowKey={(x) => x.name} caption="Virtual hosts" cols={[
          { key: 'name', label: 'Name', cell: (x) => x.name },
          { key: 'd', label: 'Description', cell: (x) => x.description || <span class="muted">–</span> },
          { key: 'q', label: 'Default queue type', cell: (x) => x.default_queue_type ?? 'classic' },
          { key: 'm', label: 'Messages', num: true, cell: (x) => num(x.messages ?? 0) },
          { key: 'x', label: 'Action', cell: (x) => <ConfirmButton label="Delete" confirm={`Delete vhost ${x.name} with all its queues, exchanges and messages?`} onConfirm={() => run(async () => { await api('DELETE', `/vhosts/${enc(x.name)}`); v.reload(); }, `Vhost ${x.name} deleted.`)} /> },
        ]} />
      )}
      {note}
      <Section title="Add a virtual host" open={false}>
        <form class="row" onSubmit={(e) => { e.preventDefault(); void run(async () => { if (!name.trim()) throw new Error('Give the vhost a name.'); await api('PUT', `/vhosts/${enc(name)}`, { description, default_queue_type: qtype }); setName(''); v.reload(); }, `Vhost added; give users permissions on it.`); }}>
          <Field label="Name"><input value={name} onInput={(e) => setName(e.currentTarget.value)} /></Field>
          <Field label="Description"><input value={description} onInput={(e) => setDescription(e.currentTarget.value)} /></Field>
          <Field label="Default queue type"><select value={qtype} onChange={(e) => setQtype(e.currentTarget.value)}><option>classic</option><option>quorum</option><option>stream</option></select></Field>
          <button class="primary" type="submit">Add vhost</button>
        </form>
      </Section>
    </>
  );
}

interface VhostLimit { vhost: string; value: Record<string, number> }

function Limits() {
  const s = useSession();
  const l = usePoll(() => api<VhostLimit[]>('GET', '/vhost-limits'), []);
  const [run, note] = useAction();
  const [vhost, setVhost] = useState(s.vhosts[0] ?? '/');
  const [limit, setLimit] = useState('max-connections');
  const [value, setValue] = useState('');
  const rows = (l.data ?? []).flatMap((x) => Object.entries(x.value).map(([k, n]) => ({ vhost: x.vhost, k, n })));
  return (
    <>
      <div class="page-head"><h1>Virtual host limits</h1></div>
      <ErrorNote error={l.error} what="Could not list limits" />
      {l.data && (rows.length === 0 ? <Empty>No limits set: every vhost may have as many connections and queues as the node allows.</Empty> : (
        <Table rows={rows} rowKey={(r) => `${r.vhost}/${r.k}`} caption="Vhost limits" cols={[
          { key: 'v', label: 'Vhost', cell: (r) => r.vhost },
          { key: 'k', label: 'Limit', cell: (r) => r.k },
          { key: 'n', label: 'Value', num: true, cell: (r) => num(r.n) },
          { key: 'x', label: 'Action', cell: (r) => <ConfirmButton label="Clear" confirm={`Remove ${r.k} of ${r.vhost}?`} onConfirm={() => run(async () => { await api('DELETE', `/vhost-limits/${enc(r.vhost)}/${enc(r.k)}`); l.reload(); }, 'Limit cleared.')} /> },
        ]} />
      ))}
      {note}
      <Section title="Set a limit">
        <form class="row" onSubmit={(e) => { e.preventDefault(); void run(async () => { const n = Number(value); if (value.trim() === '' || !Number.isInteger(n)) throw new Error('The value is a whole number (-1 for no limit).'); await api('PUT', `/vhost-limits/${enc(vhost)}/${enc(limit)}`, { value: n }); l.reload(); }, 'Limit set.'); }}>
          <Field label="Vhost"><select value={vhost} onChange={(e) => setVhost(e.currentTarget.value)}>{s.vhosts.map((v) => <option key={v}>{v}</option>)}</select></Field>
          <Field label="Limit"><select value={limit} onChange={(e) => setLimit(e.currentTarget.value)}><option>max-connections</option><option>max-queues</option></select></Field>
          <Field label="Value"><input type="number" value={value} onInput={(e) => setValue(e.currentTarget.value)} style="width:8rem" /></Field>
          <button class="primary" type="submit">Set limit</button>
        </form>
      </Section>
    </>
  );
}

interface Policy { vhost: string; name: string; pattern: string; 'apply-to': string; definition: Record<string, unknown>; priority: number }

const POLICY_KEYS: [string, ArgRow['type'], string][] = [
  ['message-ttl', 'number', 'Message TTL (ms)'], ['expires', 'number', 'Auto expire (ms)'],
  ['max-length', 'number', 'Max length'], ['max-length-bytes', 'number', 'Max length bytes'],
  ['overflow', 'string', 'drop-head, reject-publish or reject-publish-dlx'],
  ['dead-letter-exchange', 'string', 'Dead letter exchange'], ['dead-letter-routing-key', 'string', 'Dead letter routing key'],
  ['delivery-limit', 'number', 'Delivery limit'], ['alternate-exchange', 'string', 'Alternate exchange'],
  ['delayed-retry-type', 'string', 'all, failed or returned'], ['delayed-retry-min', 'number', 'First retry delay (ms)'],
  ['delayed-retry-max', 'number', 'Longest retry delay (ms)'], ['delayed-retry-multiplier', 'number', 'Retry delay multiplier'],
];
const OPERATOR_KEYS = POLICY_KEYS.filter(([k]) => ['message-ttl', 'expires', 'max-length', 'max-length-bytes', 'delivery-limit'].includes(k));

function Policies({ kind }: { kind: 'policies' | 'operator-policies' }) {
  const s = useSession();
  const url = s.vhost ? `/${kind}/${enc(s.vhost)}` : `/${kind}`;
  const p = usePoll(() => api<Policy[]>('GET', url), [url]);
  const [run, note] = useAction();
  const [vhost, setVhost] = useState(s.vhost || s.vhosts[0] || '/');
  const [name, setName] = useState('');
  const [pattern, setPattern] = useState('');
  const [applyTo, setApplyTo] = useState('queues');
  const [priority, setPriority] = useState('0');
  const [def, setDef] = useState<ArgRow[]>([]);
  const operator = kind === 'operator-policies';
  const edit = (x: Policy) => {
    setVhost(x.vhost); setName(x.name); setPattern(x.pattern); setApplyTo(x['apply-to']); setPriority(String(x.priority));
    setDef(Object.entries(x.definition).map(([key, v]) => ({ key, value: typeof v === 'string' ? v : JSON.stringify(v), type: typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : Array.isArray(v) ? 'list' : 'string' })));
    document.getElementById('policy-form')?.scrollIntoView();
  };
  const title = operator ? 'Operator policies' : 'Policies';
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      if (!name.trim() || !pattern.trim()) throw new Error('A policy needs a name and a pattern (a regular expression on queue/exchange names, e.g. ^orders\\.).');
      const definition = argsToObject(def);
      if (Object.keys(definition).length === 0) throw new Error('Add at least one definition key (use the buttons below the table).');
      await api('PUT', `/${kind}/${enc(vhost)}/${enc(name)}`, { pattern, 'apply-to': applyTo, priority: Number(priority) || 0, definition });
      setName(''); setPattern(''); setDef([]);
      p.reload();
    }, `${operator ? 'Operator policy' : 'Policy'} saved; it applies at once to matching objects.`);
  };
  return (
    <>
      <div class="page-head"><h1>{title}</h1>{s.vhost && <span class="muted">in vhost {s.vhost}</span>}</div>
      {operator && <p class="muted small">Operator policies cap limits set by users: where both set one, the lower value wins.</p>}
      <ErrorNote error={p.error} what={`Could not list ${title.toLowerCase()}`} />
      {!p.data && !p.error && <Loading />}
      {p.data && (p.data.length === 0 ? <Empty>No {title.toLowerCase()}. Add one below to set TTLs, limits or dead-lettering on many queues at once.</Empty> : (
        <Table rows={p.data} rowKey={(x) => `${x.vhost}/${x.name}`} caption={title} cols={[
          ...(s.vhost ? [] : [{ key: 'v', label: 'Vhost', cell: (x: Policy) => x.vhost }]),
          { key: 'n', label: 'Name', cell: (x) => <button class="link" title="Edit in the form below" onClick={() => edit(x)}>{x.name}</button> },
          { key: 'p', label: 'Pattern', cell: (x) => <code>{x.pattern}</code> },
          { key: 'a', label: 'Apply to', cell: (x) => x['apply-to'] },
          { key: 'd', label: 'Definition', cell: (x) => <Args args={x.definition} /> },
          { key: 'pr', label: 'Priority', num: true, cell: (x) => x.priority },
          { key: 'x', label: 'Action', cell: (x) => <ConfirmButton label="Delete" confirm={`Delete policy ${x.name}?`} onConfirm={() => run(async () => { await api('DELETE', `/${kind}/${enc(x.vhost)}/${enc(x.name)}`); p.reload(); }, 'Policy deleted.')} /> },
        ]} />
      ))}
      {note}
      <Section title={`Add or update ${operator ? 'an operator policy' : 'a policy'}`} id="policy-form">
        <form class="stack" onSubmit={submit}>
          <div class="row">
            <Field label="Vhost"><select value={vhost} onChange={(e) => setVhost(e.currentTarget.value)}>{s.vhosts.map((v) => <option key={v}>{v}</option>)}</select></Field>
            <Field label="Name"><input value={name} onInput={(e) => setName(e.currentTarget.value)} /></Field>
            <Field label="Pattern"><input value={pattern} onInput={(e) => setPattern(e.currentTarget.value)} placeholder="^orders\." /></Field>
            <Field label="Apply to"><select value={applyTo} onChange={(e) => setApplyTo(e.currentTarget.value)}>{(operator ? ['queues', 'classic_queues', 'quorum_queues'] : ['queues', 'exchanges', 'all', 'classic_queues', 'quorum_queues', 'streams']).map((a) => <option key={a}>{a}</option>)}</select></Field>
            <Field label="Priority"><input type="number" value={priority} onInput={(e) => setPriority(e.currentTarget.value)} style="width:6rem" /></Field>
          </div>
          <ArgsEditor label="Definition" rows={def} onChange={setDef} />
          <div class="helpers" aria-label="Add a definition key">
            {(operator ? OPERATOR_KEYS : POLICY_KEYS).map(([k, type, t]) => <button type="button" key={k} title={t} onClick={() => { if (!def.some((r) => r.key === k)) setDef([...def.filter((r) => r.key !== ''), { key: k, value: '', type }]); }}>{k}</button>)}
          </div>
          <div><button class="primary" type="submit">Save {operator ? 'operator policy' : 'policy'}</button></div>
        </form>
      </Section>
    </>
  );
}
