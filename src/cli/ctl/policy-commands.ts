// Policies, operator policies and virtual-host limits.
import type { Command } from 'commander';
import { action, type Ctl } from './context.js';
import { dataError, parseIntArg, parseJsonArg } from './errors.js';
import { enc, noVhost, orMissing } from './http.js';

function jsonObject(text: string, what: string): Record<string, unknown> {
  const v = parseJsonArg(text, what);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw dataError(`${what} must be a JSON object, got ${text}`);
  return v as Record<string, unknown>;
}

function registerPolicyKind(program: Command, kind: 'policy' | 'operator_policy', section: string): void {
  const noun = kind === 'policy' ? 'policy' : 'operator policy';
  program.command(`set_${kind} <name> <pattern> <definition>`)
    .description(`sets or updates a${kind === 'policy' ? '' : 'n'} ${noun} in a virtual host (-p); definition is a JSON object`)
    .option('--priority <priority>', 'priority (default 0)', '0')
    .option('--apply-to <apply-to>', 'queues, exchanges, classic_queues, quorum_queues, streams or all (default all)', 'all')
    .action(action(async (ctl, name: string, pattern: string, definitionText: string) => {
      const definition = jsonObject(definitionText, `${noun} definition`);
      const priority = parseIntArg(String(ctl.opts.priority), 'priority');
      const applyTo = String(ctl.opts.applyTo);
      ctl.out.info(`Setting ${noun} "${name}" for pattern "${pattern}" to "${definitionText}" with priority "${priority}" for vhost "${ctl.vhost}" ...`);
      await orMissing(ctl.api.put(`/${section}/${enc(ctl.vhost)}/${enc(name)}`, { pattern, definition, priority, 'apply-to': applyTo }), noVhost(ctl.vhost));
    }));

  program.command(`clear_${kind} <name>`)
    .description(`removes a${kind === 'policy' ? '' : 'n'} ${noun} from a virtual host (-p)`)
    .action(action(async (ctl, name: string) => {
      ctl.out.info(`Clearing ${noun} "${name}" on vhost "${ctl.vhost}" ...`);
      await orMissing(ctl.api.delete(`/${section}/${enc(ctl.vhost)}/${enc(name)}`), `${noun} "${name}" does not exist in vhost "${ctl.vhost}" (or the vhost does not)`);
    }));
}

type Limits = { vhost: string; value: Record<string, number> }[];

async function currentLimits(ctl: Ctl): Promise<Record<string, number>> {
  const list = await orMissing(ctl.api.get<Limits>(`/vhost-limits/${enc(ctl.vhost)}`), noVhost(ctl.vhost));
  return list[0]?.value ?? {};
}

export function registerPolicyCommands(program: Command): void {
  registerPolicyKind(program, 'policy', 'policies');
  registerPolicyKind(program, 'operator_policy', 'operator-policies');

  program.command('set_vhost_limits <definition>')
    .description(`sets a virtual host's limits (-p), replacing those set before, e.g. '{"max-connections": 10, "max-queues": -1}'`)
    .action(action(async (ctl, definitionText: string) => {
      const definition = jsonObject(definitionText, 'limits definition');
      ctl.out.info(`Applying limits "${definitionText}" to vhost "${ctl.vhost}" ...`);
      // The API sets one limit at a time; rabbitmqctl's definition is the whole set.
      const before = await currentLimits(ctl);
      for (const [name, value] of Object.entries(definition)) {
        await ctl.api.put(`/vhost-limits/${enc(ctl.vhost)}/${enc(name)}`, { value });
      }
      for (const name of Object.keys(before)) {
        if (!(name in definition)) await ctl.api.delete(`/vhost-limits/${enc(ctl.vhost)}/${enc(name)}`);
      }
    }));

  program.command('clear_vhost_limits')
    .description("removes every limit of a virtual host (-p)")
    .action(action(async (ctl) => {
      ctl.out.info(`Clearing vhost "${ctl.vhost}" limits ...`);
      for (const name of Object.keys(await currentLimits(ctl))) {
        await ctl.api.delete(`/vhost-limits/${enc(ctl.vhost)}/${enc(name)}`);
      }
    }));
}
