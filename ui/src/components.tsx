// Small building blocks shared by the pages: tables, pager, forms, notices, confirmations.
import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError } from './api';

export function ErrorNote({ error, what }: { error: Error | undefined; what?: string }) {
  if (error === undefined) return null;
  let hint = '';
  if (error instanceof ApiError) {
    if (error.status === 404) hint = ' It may have been deleted (or never existed); go back to the list.';
    else if (error.status === 401 && error.error === 'not_authorised') hint = ' Your user lacks the tag or vhost permission for this; ask an administrator.';
    else if (error.status >= 500) hint = ' This is a bug in Warren; the broker log has details.';
  }
  const text = error.message + (/[.!?)]$/.test(error.message) ? '' : '.');
  return <p class="error" role="alert">{what ? `${what}: ` : ''}{text}{hint}</p>;
}

/** True when the API said the object is not there. */
export function isGone(error: Error | undefined): boolean { return error instanceof ApiError && error.status === 404; }

export function Loading() { return <p class="muted" aria-live="polite">Loading…</p>; }

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

export interface Column<T> {
  key: string;
  label: string;
  /** Server-side sort key (absent: not sortable). */
  sort?: string;
  num?: boolean;
  cell: (row: T) => ComponentChildren;
}

export function Table<T>({ rows, cols, rowKey, sort, onSort, caption }: {
  rows: T[]; cols: Column<T>[]; rowKey: (r: T) => string;
  sort?: { key: string; reverse: boolean }; onSort?: (key: string) => void; caption?: string;
}) {
  return (
    <div class="table-wrap cards">
      <table>
        {caption && <caption class="sr-only">{caption}</caption>}
        <thead>
          <tr>
            {cols.map((c) => {
              const active = sort !== undefined && c.sort !== undefined && sort.key === c.sort;
              const ariaSort = active ? (sort!.reverse ? 'descending' : 'ascending') : undefined;
              return (
                <th key={c.key} class={c.num ? 'num' : undefined} aria-sort={ariaSort} scope="col">
                  {c.sort && onSort
                    ? <button class="sort" onClick={() => onSort(c.sort!)}>{c.label}{active ? (sort!.reverse ? ' ↓' : ' ↑') : ''}</button>
                    : c.label}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={rowKey(r)}>
              {cols.map((c) => <td key={c.key} class={c.num ? 'num' : undefined} data-label={c.label}>{c.cell(r)}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Pager({ page, pageCount, pageSize, filtered, total, onPage, onSize }: {
  page: number; pageCount: number; pageSize: number; filtered: number; total: number;
  onPage: (p: number) => void; onSize?: (s: number) => void;
}) {
  return (
    <nav class="pager" aria-label="Pages">
      <button disabled={page <= 1} onClick={() => onPage(page - 1)} aria-label="Previous page">‹</button>
      <span>Page {page} of {Math.max(pageCount, 1)}</span>
      <button disabled={page >= pageCount} onClick={() => onPage(page + 1)} aria-label="Next page">›</button>
      <span class="muted">{filtered === total ? `${total.toLocaleString()} ${total === 1 ? 'item' : 'items'}` : `${filtered.toLocaleString()} of ${total.toLocaleString()} match`}</span>
      {onSize && (
        <label>Per page{' '}
          <select value={pageSize} onChange={(e) => onSize(Number(e.currentTarget.value))}>
            {[20, 50, 100, 500].map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
      )}
    </nav>
  );
}

/** A button that asks once more in place (no modal dialogs) before doing something that cannot be undone. */
export function ConfirmButton({ label, confirm, onConfirm, class: cls }: { label: string; confirm: string; onConfirm: () => Promise<unknown> | void; class?: string }) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!asking) return <button class={cls ?? 'danger'} onClick={() => setAsking(true)}>{label}</button>;
  return (
    <span class="confirm" role="group" aria-label={confirm}>
      <span>{confirm}</span>{' '}
      <button class="danger" disabled={busy} autoFocus onClick={async () => { setBusy(true); try { await onConfirm(); } finally { setBusy(false); setAsking(false); } }}>Yes, {label.toLowerCase()}</button>{' '}
      <button onClick={() => setAsking(false)}>No</button>
    </span>
  );
}

/** Runs an action, showing its error or success message under the form. */
export function useAction(): [(fn: () => Promise<unknown>, ok?: string) => Promise<boolean>, JSX.Element | null] {
  const [state, setState] = useState<{ error?: Error; ok?: string; n: number }>({ n: 0 });
  useEffect(() => {
    if (state.ok === undefined) return;
    const t = setTimeout(() => setState((s) => (s.n === state.n ? { n: s.n } : s)), 6000);
    return () => clearTimeout(t);
  }, [state]);
  const run = async (fn: () => Promise<unknown>, ok?: string) => {
    try {
      await fn();
      setState((s) => ({ ok, n: s.n + 1 }));
      return true;
    } catch (e) {
      setState((s) => ({ error: e as Error, n: s.n + 1 }));
      return false;
    }
  };
  const note = state.error ? <ErrorNote error={state.error} /> : state.ok ? <p class="ok" role="status">{state.ok}</p> : null;
  return [run, note];
}

export function Field({ label, children, hint }: { label: string; children: ComponentChildren; hint?: string }) {
  return (
    <label class="field">
      <span class="label">{label}</span>
      {children}
      {hint && <small class="muted">{hint}</small>}
    </label>
  );
}

/** A collapsible section; its content (and whatever it polls) exists only while it is open. */
export function Section({ title, children, open = true, id }: { title: string; children: ComponentChildren; open?: boolean; id?: string }) {
  const [isOpen, setOpen] = useState(open);
  return (
    <details class="section" open={isOpen} id={id} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary><h2>{title}</h2></summary>
      <div class="section-body">{isOpen && children}</div>
    </details>
  );
}

export function Facts({ items }: { items: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {items.map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{v}</dd></div>)}
    </dl>
  );
}

/** Argument/header values typed as RabbitMQ's UI does: string, number, boolean or list (JSON). */
export type ArgType = 'string' | 'number' | 'boolean' | 'list';
export interface ArgRow { key: string; value: string; type: ArgType }

export function argsToObject(rows: ArgRow[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of rows) {
    if (r.key.trim() === '') continue;
    if (r.type === 'number') {
      const n = Number(r.value);
      if (r.value.trim() === '' || Number.isNaN(n)) throw new Error(`${r.key}: "${r.value}" is not a number`);
      out[r.key] = n;
    } else if (r.type === 'boolean') out[r.key] = r.value === 'true';
    else if (r.type === 'list') {
      try { out[r.key] = JSON.parse(r.value); } catch { throw new Error(`${r.key}: write a list as JSON, e.g. ["a", 1]`); }
    } else out[r.key] = r.value;
  }
  return out;
}

export function ArgsEditor({ rows, onChange, label }: { rows: ArgRow[]; onChange: (rows: ArgRow[]) => void; label: string }) {
  const shown = rows.length === 0 || rows[rows.length - 1].key !== '' ? [...rows, { key: '', value: '', type: 'string' as ArgType }] : rows;
  const set = (i: number, patch: Partial<ArgRow>) => onChange(shown.map((r, j) => (j === i ? { ...r, ...patch } : r)).filter((r, j) => r.key !== '' || j === shown.length - 1 || r.value !== ''));
  return (
    <fieldset class="args">
      <legend>{label}</legend>
      {shown.map((r, i) => (
        <div class="arg-row" key={i}>
          <input aria-label={`${label} ${i + 1} name`} placeholder="name" value={r.key} onInput={(e) => set(i, { key: e.currentTarget.value })} />
          <input aria-label={`${label} ${i + 1} value`} placeholder="value" value={r.value} onInput={(e) => set(i, { value: e.currentTarget.value })} />
          <select aria-label={`${label} ${i + 1} type`} value={r.type} onChange={(e) => set(i, { type: e.currentTarget.value as ArgType })}>
            <option value="string">String</option>
            <option value="number">Number</option>
            <option value="boolean">Boolean</option>
            <option value="list">List</option>
          </select>
        </div>
      ))}
    </fieldset>
  );
}

/** Shows an object's arguments/properties as key: value chips. */
export function Args({ args }: { args: Record<string, unknown> | undefined }) {
  const entries = Object.entries(args ?? {});
  if (entries.length === 0) return <span class="muted">none</span>;
  return <span class="chips">{entries.map(([k, v]) => <code key={k} class="chip">{k}: {typeof v === 'string' ? v : JSON.stringify(v)}</code>)}</span>;
}

