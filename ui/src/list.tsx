// A server-side list (queues, exchanges, connections, channels): name filter (plain or regex),
// sort by column and paging all done by the API, so only one page of objects crosses the wire.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, qs, type Page } from './api';
import { Empty, ErrorNote, Field, Loading, Pager, Table, type Column } from './components';
import { usePoll } from './poll';
import { useSession } from './session';

export interface ListState { page: number; pageSize: number; name: string; regex: boolean; sort: string; reverse: boolean }

/** Kept per list in sessionStorage, so coming back to a list keeps its filter, sort and page. */
function useListState(key: string) {
  const [st, set] = useState<ListState>(() => ({ page: 1, pageSize: 50, name: '', regex: false, sort: 'name', reverse: false, ...JSON.parse(sessionStorage.getItem(key) ?? '{}') }));
  useEffect(() => { sessionStorage.setItem(key, JSON.stringify(st)); }, [st]);
  return [st, (p: Partial<ListState>) => set((s) => ({ ...s, ...p }))] as const;
}

function ListFilter({ st, setSt, what }: { st: ListState; setSt: (p: Partial<ListState>) => void; what: string }) {
  const [text, setText] = useState(st.name);
  // Ask the server once typing pauses, not on every key.
  useEffect(() => { const t = setTimeout(() => { if (text !== st.name) setSt({ name: text, page: 1 }); }, 250); return () => clearTimeout(t); }, [text]);
  return (
    <div class="toolbar" role="search">
      <Field label={`Filter ${what} by name`}><input type="search" value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder={st.regex ? 'regular expression' : 'part of the name'} /></Field>
      <label class="check"><input type="checkbox" checked={st.regex} onChange={(e) => setSt({ regex: e.currentTarget.checked, page: 1 })} /> Regex</label>
    </div>
  );
}

export function ServerList<T>({ path, what, cols, rowKey, columns, none }: {
  /** e.g. '/queues'; narrowed to the chosen vhost as '/queues/{vhost}'. */
  path: string; what: string; cols: Column<T>[]; rowKey: (r: T) => string;
  /** RabbitMQ's columns= parameter: only the fields shown. */
  columns?: string;
  /** What to say when there is nothing at all. */
  none: string;
}) {
  const s = useSession();
  const [st, setSt] = useListState(`warren.list${path}`);
  const base = s.vhost ? `${path}/${enc(s.vhost)}` : path;
  const url = base + qs({ page: st.page, page_size: st.pageSize, name: st.name, use_regex: st.regex ? 'true' : undefined, sort: st.sort, sort_reverse: st.reverse ? 'true' : undefined, pagination: 'true', columns });
  const list = usePoll(() => api<Page<T>>('GET', url), [url]);
  // A page past the end (after deletes or a narrower filter): go to the last one.
  useEffect(() => { const d = list.data; if (d && d.page_count > 0 && st.page > d.page_count) setSt({ page: d.page_count }); }, [list.data]);
  const onSort = (key: string) => setSt(st.sort === key ? { reverse: !st.reverse } : { sort: key, reverse: false });
  const d = list.data;
  return (
    <>
      <ListFilter st={st} setSt={setSt} what={what} />
      <ErrorNote error={list.error} what={`Could not list ${what}`} />
      {!d && !list.error && <Loading />}
      {d && d.items.length === 0 && <Empty>{d.total_count === 0 ? none : `Nothing matches “${st.name}”${st.regex ? ' (a regular expression)' : ''}. Change the filter.`}</Empty>}
      {d && d.items.length > 0 && <Table rows={d.items} cols={cols} rowKey={rowKey} sort={{ key: st.sort, reverse: st.reverse }} onSort={onSort} caption={what} />}
      {d && <Pager page={d.page} pageCount={d.page_count} pageSize={st.pageSize} filtered={d.filtered_count} total={d.total_count} onPage={(p) => setSt({ page: p })} onSize={(n) => setSt({ pageSize: n, page: 1 })} />}
    </>
  );
}
