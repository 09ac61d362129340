// Warren's management UI: login, the tab bar (tags decide which tabs show), the vhost filter and
// refresh interval, and the page for the current route.
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, forgetAuth, saveAuth, savedAuth, whenLoggedOut, type Me } from './api';
import { ErrorNote } from './components';
import { REFRESH_CHOICES, refreshMs, setRefreshMs } from './poll';
import { href, useRoute } from './router';
import { SessionContext, tagSet, type Session } from './session';
import { forgetHistory, OverviewPage } from './pages/overview';
import { QueuesPage } from './pages/queues';
import { QueuePage } from './pages/queue';
import { ExchangesPage } from './pages/exchanges';
import { ExchangePage } from './pages/exchange';
import { ConnectionsPage, ChannelsPage, ConnectionPage } from './pages/connections';
import { AdminPage } from './pages/admin';
import './style.css';

function Login({ onLogin, why }: { onLogin: (me: Me) => void; why: string }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<Error | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const auth = saveAuth(user, password);
    try {
      onLogin(await api<Me>('GET', '/whoami', undefined, { auth }));
    } catch (err) {
      forgetAuth();
      const e = err as ApiError;
      setError(e.status === 401 ? new Error(`${e.message}. Check the username and password; the user needs a management tag${e.message.includes('localhost') ? ' and, as guest, a browser on the broker\'s own machine' : ''}.`) : e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title"><img src="assets/favicon.svg" alt="" width="28" height="28" /> Warren</h1>
        {why && <p class="muted">{why}</p>}
        <label class="field"><span class="label">Username</span>
          <input name="username" autoComplete="username" value={user} onInput={(e) => setUser(e.currentTarget.value)} required autoFocus /></label>
        <label class="field"><span class="label">Password</span>
          <input name="password" type="password" autoComplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} /></label>
        <button class="primary" type="submit" disabled={busy}>Log in</button>
        <ErrorNote error={error} what="Login failed" />
        <p class="muted small">Users need the management, policymaker, monitoring or administrator tag.</p>
      </form>
    </main>
  );
}

const TABS: { path: string; label: string; tag?: 'administrator' | 'policymaker' }[] = [
  { path: 'overview', label: 'Overview' },
  { path: 'connections', label: 'Connections' },
  { path: 'channels', label: 'Channels' },
  { path: 'exchanges', label: 'Exchanges' },
  { path: 'queues', label: 'Queues' },
  { path: 'admin', label: 'Admin', tag: 'policymaker' },
];

function Shell({ me, onLogout }: { me: Me; onLogout: () => void }) {
  const route = useRoute();
  const tags = useMemo(() => tagSet(me.tags), [me]);
  const [vhosts, setVhosts] = useState<string[]>([]);
  const [vhost, setVhostState] = useState(sessionStorage.getItem('warren.vhost') ?? '');
  const [refresh, setRefresh] = useState(refreshMs());
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => {
    api<{ name: string }[]>('GET', '/vhosts').then((vs) => setVhosts(vs.map((v) => v.name).sort()), () => setVhosts([]));
  }, [route[0]]);
  const session: Session = {
    me, vhosts, vhost,
    setVhost: (v) => { sessionStorage.setItem('warren.vhost', v); setVhostState(v); },
    has: (t) => tags.has(t),
  };
  const top = route[0] ?? 'overview';
  useEffect(() => { setMenuOpen(false); }, [route.join('/')]);
  useEffect(() => { document.title = `${TABS.find((t) => t.path === top)?.label ?? 'Warren'} · Warren`; }, [top]);
  let page;
  switch (top) {
    case 'connections': page = route.length > 1 ? <ConnectionPage key={route[1]} name={route[1]} /> : <ConnectionsPage />; break;
    case 'channels': page = <ChannelsPage />; break;
    case 'exchanges': page = route.length > 2 ? <ExchangePage key={route.join('/')} vhost={route[1]} name={route[2]} /> : <ExchangesPage />; break;
    case 'queues': page = route.length > 2 ? <QueuePage key={route.join('/')} vhost={route[1]} name={route[2]} /> : <QueuesPage />; break;
    case 'admin': page = <AdminPage key={route.join('/')} sub={route[1] ?? 'users'} rest={route.slice(2)} />; break;
    default: page = <OverviewPage />;
  }
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <header class="top">
        <a class="brand" href={href('overview')}><img src="assets/favicon.svg" alt="" width="24" height="24" /> Warren</a>
        <button class="menu-toggle" aria-expanded={menuOpen} aria-controls="menu" onClick={() => setMenuOpen(!menuOpen)}>Menu</button>
        {/* On a phone, tabs and controls fold into the menu; on wider screens this wrapper has no box. */}
        <div id="menu" class={menuOpen ? 'menu open' : 'menu'}>
          <nav id="tabs" class="tabs" aria-label="Sections">
            {TABS.filter((t) => t.tag === undefined || tags.has(t.tag)).map((t) => (
              <a key={t.path} href={href(t.path)} aria-current={top === t.path ? 'page' : undefined}>{t.label}</a>
            ))}
          </nav>
          <div class="controls">
            <label>Vhost{' '}
              <select value={vhost} onChange={(e) => session.setVhost(e.currentTarget.value)}>
                <option value="">All</option>
                {vhosts.map((v) => <option key={v} value={v}>{v}</option>)}
              </select>
            </label>
            <label>Refresh{' '}
              <select value={refresh} onChange={(e) => { const v = Number(e.currentTarget.value); setRefreshMs(v); setRefresh(v); }}>
                {REFRESH_CHOICES.map((ms) => <option key={ms} value={ms}>{ms === 0 ? 'off' : `${ms / 1000} s`}</option>)}
              </select>
            </label>
            <span class="user" title={`tags: ${me.tags.join(', ') || 'none'}`}>{me.name}</span>
            <button onClick={onLogout}>Log out</button>
          </div>
        </div>
      </header>
      <main id="main" tabIndex={-1}>{page}</main>
    </SessionContext.Provider>
  );
}

function App() {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(savedAuth() !== null);
  const [why, setWhy] = useState('');
  useEffect(() => {
    whenLoggedOut((reason) => { forgetAuth(); forgetHistory(); setMe(null); setWhy(`Logged out: ${reason}`); });
    if (savedAuth() === null) return;
    api<Me>('GET', '/whoami').then(setMe, () => forgetAuth()).finally(() => setChecking(false));
  }, []);
  if (checking) return null;
  if (me === null) return <Login onLogin={(m) => { setWhy(''); setMe(m); }} why={why} />;
  return <Shell me={me} onLogout={() => { forgetAuth(); forgetHistory(); setMe(null); setWhy('Logged out.'); }} />;
}

render(<App />, document.getElementById('app')!);
