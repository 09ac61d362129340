// Warren's delayed-message exchanges: list the pending messages in due order (a page, or all)
// and cancel them (one by id, by routing key or due time, or all). Warren-only endpoints:
// /api/exchanges/{vhost}/{name}/delayed.
import type { Command } from 'commander';
import { chooseColumns, columnsHelp, DELAYED, toRows } from './columns.js';
import { action, type Ctl } from './context.js';
import { dataError, parseIntArg, usageError } from './errors.js';
import { enc, orMissing } from './http.js';

interface Page {
  items: Record<string, unknown>[];
  page: number;
  page_count: number;
  total_count: number;
}

/** The API's largest page: --all walks the list in as few requests as it can. */
const MAX_PAGE_SIZE = 500;

// (An exchange of another type is a 400 whose reason says so.)
const noExchange = (name: string, vhost: string) => `exchange "${name}" does not exist in vhost "${vhost}" (or the vhost does not)`;

/** A due-time bound: ms since the epoch, or a date the Date parser reads (ISO 8601). */
function dueTime(text: string, what: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (Number.isNaN(ms)) throw dataError(`${what} must be ms since the epoch or an ISO 8601 date, got "${text}"`);
  return ms;
}

async function fetchDelayed(ctl: Ctl, path: string, page: number, pageSize: number): Promise<Page> {
  return ctl.api.get<Page>(path, { query: { page, page_size: pageSize } });
}

export function registerDelayedCommands(program: Command): void {
  program.command('list_delayed <exchange> [columns...]')
    .description('lists the pending messages of an x-delayed-message exchange in a virtual host (-p), in due order')
    .addHelpText('after', columnsHelp(DELAYED))
    .option('--page <n>', 'page to show (default 1)', '1')
    .option('--page-size <n>', `messages a page (default 100, at most ${MAX_PAGE_SIZE})`, '100')
    .option('--all', 'every page')
    .action(action(async (ctl, exchange: string, columnArgs: string[] = []) => {
      const columns = chooseColumns(DELAYED, columnArgs);
      const path = `/exchanges/${enc(ctl.vhost)}/${enc(exchange)}/delayed`;
      ctl.out.info(`Listing delayed messages of exchange "${exchange}" in vhost "${ctl.vhost}" ...`);
      const missing = noExchange(exchange, ctl.vhost);
      if (ctl.opts.all === true) {
        // Messages falling due meanwhile shift later pages forward; ids already seen are skipped
        // so none is shown twice (one that moved onto an earlier page is missed: it is gone anyway).
        const seen = new Set<unknown>();
        const items: Record<string, unknown>[] = [];
        for (let page = 1; ; page++) {
          const p = await orMissing(fetchDelayed(ctl, path, page, MAX_PAGE_SIZE), missing);
          for (const m of p.items) if (!seen.has(m.id)) { seen.add(m.id); items.push(m); }
          if (page >= p.page_count) break;
        }
        ctl.out.rows(columns, toRows(DELAYED, columns, items));
        return;
      }
      const page = parseIntArg(String(ctl.opts.page), '--page');
      const pageSize = parseIntArg(String(ctl.opts.pageSize), '--page-size');
      const p = await orMissing(fetchDelayed(ctl, path, page, pageSize), missing);
      ctl.out.rows(columns, toRows(DELAYED, columns, p.items));
      if (p.page_count > 1) ctl.out.info(`Page ${p.page} of ${p.page_count}, ${p.total_count} pending (--page N for another, --all for every page)`);
    }));

  program.command('cancel_delayed <exchange> [id]')
    .description('cancels pending messages of an x-delayed-message exchange in a virtual host (-p): one by id, those matching --routing-key / --due-before / --due-after, or --all')
    .option('--routing-key <key>', 'those published with this routing key')
    .option('--due-before <time>', 'those due before this time (ms since the epoch or ISO 8601)')
    .option('--due-after <time>', 'those due after this time (ms since the epoch or ISO 8601)')
    .option('--all', 'every pending message')
    .action(action(async (ctl, exchange: string, id?: string) => {
      const o = ctl.opts as { routingKey?: string; dueBefore?: string; dueAfter?: string; all?: boolean };
      const filtered = o.routingKey !== undefined || o.dueBefore !== undefined || o.dueAfter !== undefined;
      if (id !== undefined && (filtered || o.all)) throw usageError('give either a message id or filters (--routing-key, --due-before, --due-after, --all), not both');
      if (o.all && filtered) throw usageError('--all cancels every pending message: it cannot be combined with --routing-key, --due-before or --due-after');
      if (id === undefined && !filtered && !o.all) throw usageError('say what to cancel: a message id, --routing-key K, --due-before/--due-after T, or --all');
      const path = `/exchanges/${enc(ctl.vhost)}/${enc(exchange)}/delayed`;
      if (id !== undefined) {
        ctl.out.info(`Cancelling delayed message ${id} of exchange "${exchange}" in vhost "${ctl.vhost}" ...`);
        await orMissing(ctl.api.delete(`${path}/${enc(id)}`), `no pending message with id ${id} on exchange "${exchange}" in vhost "${ctl.vhost}"`);
        if (ctl.out.json) ctl.out.printJson({ cancelled: 1 });
        return;
      }
      ctl.out.info(`Cancelling ${o.all ? 'every' : 'matching'} delayed message of exchange "${exchange}" in vhost "${ctl.vhost}" ...`);
      const res = await orMissing(ctl.api.delete(path, {
        query: {
          routing_key: o.routingKey,
          due_before: o.dueBefore === undefined ? undefined : dueTime(o.dueBefore, '--due-before'),
          due_after: o.dueAfter === undefined ? undefined : dueTime(o.dueAfter, '--due-after'),
        },
      }), noExchange(exchange, ctl.vhost)) as { cancelled?: number } | undefined;
      const n = res?.cancelled ?? 0;
      if (ctl.out.json) ctl.out.printJson({ cancelled: n });
      else ctl.out.text(`Cancelled ${n} delayed message${n === 1 ? '' : 's'}`);
    }));
}
