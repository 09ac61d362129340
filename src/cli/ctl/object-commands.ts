// Queues (purge, delete), connections (close one, close all) and definitions (export, import).
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { action } from './context.js';
import { CtlError, dataError, EXIT_DATAERR, parseIntArg, parseJsonArg } from './errors.js';
import { ApiClient, ApiError, enc, orMissing } from './http.js';

const noQueue = (name: string, vhost: string) => `queue "${name}" does not exist in vhost "${vhost}" (or the vhost does not)`;

function registerQueueCommands(program: Command): void {
  program.command('purge_queue <queue>')
    .description('removes every ready message from a queue in a virtual host (-p)')
    .action(action(async (ctl, name: string) => {
      ctl.out.info(`Purging queue "${name}" in vhost "${ctl.vhost}" ...`);
      await orMissing(ctl.api.delete(`/queues/${enc(ctl.vhost)}/${enc(name)}/contents`), noQueue(name, ctl.vhost));
    }));

  program.command('delete_queue <queue>')
    // -u is the user name here (rabbitmqctl's short flag for --if-unused clashes with it).
    .description('deletes a queue in a virtual host (-p)')
    .option('-e, --if-empty', 'only if it has no ready messages')
    .option('--if-unused', 'only if it has no consumers')
    .action(action(async (ctl, name: string) => {
      ctl.out.info(`Deleting queue "${name}" on vhost "${ctl.vhost}" ...`);
      const path = `/queues/${enc(ctl.vhost)}/${enc(name)}`;
      const q = await orMissing(ctl.api.get<{ messages?: number }>(path), noQueue(name, ctl.vhost));
      await orMissing(ctl.api.delete(path, {
        query: { 'if-empty': ctl.opts.ifEmpty === true || undefined, 'if-unused': ctl.opts.ifUnused === true || undefined },
      }), noQueue(name, ctl.vhost));
      // The API does not say how many messages went; this is the count just before.
      if (ctl.out.json) ctl.out.printJson({ result: 'ok', messages: q.messages ?? null });
      else ctl.out.text(`Queue was successfully deleted with ${q.messages ?? 'an unknown number of'} messages`);
    }));
}

interface ApiConnection {
  name: string;
  vhost: string;
}

const closeConnection = (api: ApiClient, name: string, reason: string) =>
  api.delete(`/connections/${enc(name)}`, { headers: { 'x-reason': reason } });

function registerConnectionCommands(program: Command): void {
  program.command('close_connection <connection> <explanation>')
    .description('closes a client connection (name as list_connections name shows it), telling the client why')
    .action(action(async (ctl, name: string, explanation: string) => {
      ctl.out.info(`Closing connection "${name}", reason: ${explanation}...`);
      await orMissing(closeConnection(ctl.api, name, explanation), `connection "${name}" does not exist`);
    }));

  program.command('close_all_connections <explanation>')
    .description('closes the client connections of a virtual host (-p), or of every vhost (--global)')
    .option('--global', 'connections of every virtual host')
    .option('--limit <n>', 'close at most this many')
    .action(action(async (ctl, explanation: string) => {
      const global = ctl.opts.global === true;
      const limit = ctl.opts.limit === undefined ? Infinity : parseIntArg(String(ctl.opts.limit), '--limit');
      ctl.out.info(`Closing ${Number.isFinite(limit) ? `up to ${limit}` : 'all'} connections${global ? '' : ` in vhost "${ctl.vhost}"`}, reason: ${explanation} ...`);
      const all = await ctl.api.get<ApiConnection[]>('/connections');
      const chosen = all.filter((c) => global || c.vhost === ctl.vhost).slice(0, limit);
      let closed = 0;
      for (const c of chosen) {
        try {
          await closeConnection(ctl.api, c.name, explanation);
          closed++;
        } catch (err) {
          // Closed meanwhile: that is what was asked.
          if (!(err instanceof ApiError && err.status === 404)) throw err;
        }
      }
      if (ctl.out.json) ctl.out.printJson({ closed });
      else ctl.out.text(`Closed ${closed} connection${closed === 1 ? '' : 's'}`);
    }));
}

function registerDefinitionCommands(program: Command): void {
  program.command('export_definitions <file>')
    .description('writes every definition (users, vhosts, permissions, policies, queues, exchanges, bindings) as JSON to a file, or stdout with "-"')
    .action(action(async (ctl, file: string) => {
      if (file !== '-') ctl.out.info(`Exporting definitions in JSON to a file at "${file}" ...`);
      const defs = await ctl.api.get('/definitions');
      const text = `${JSON.stringify(defs, null, 2)}\n`;
      if (file === '-') {
        process.stdout.write(text);
        return;
      }
      try {
        writeFileSync(file, text);
      } catch (err) {
        throw new CtlError(`could not write ${file}: ${(err as Error).message}`, EXIT_DATAERR);
      }
    }));

  program.command('import_definitions [file]')
    .description('imports definitions JSON (as export_definitions writes it) from a file, or stdin with "-" or no file')
    .action(action(async (ctl, file?: string) => {
      const fromStdin = file === undefined || file === '-';
      ctl.out.info(`Importing definitions in JSON from ${fromStdin ? 'standard input' : `a file at "${file}"`} ...`);
      let text: string;
      try {
        text = readFileSync(fromStdin ? 0 : file, 'utf8');
      } catch (err) {
        throw dataError(`could not read ${fromStdin ? 'standard input' : file}: ${(err as Error).message}`);
      }
      const defs = parseJsonArg(text, 'the definitions');
      if (defs === null || typeof defs !== 'object' || Array.isArray(defs)) throw dataError('the definitions must be a JSON object');
      await ctl.api.post('/definitions', defs);
    }));
}

export function registerObjectCommands(program: Command): void {
  registerQueueCommands(program);
  registerConnectionCommands(program);
  registerDefinitionCommands(program);
}
