// Policies, operator policies, virtual-host limits and user limits.
import type { Command } from 'commander';
import { action, type Ctl } from './context.js';
import { dataError, parseIntArg, parseJsonArg } from './errors.js';
import { enc, noUser, noVhost, orMissing } from './http.js';

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

type Limits = { value: Record<string, number> }[];

/** The limits set at `path` (/vhost-limits/{vhost} or /user-limits/{user}). */
async function currentLimits(ctl: Ctl, path: string, missing: string): Promise<Record<string, number>> {
  const list = await orMissing(ctl.api.get<Limits>(path), missing);
  return list[0]?.value ?? {};
}

/**
 * Makes the limits at `path` equal to `definition`: the API sets one limit at a time, while
 * rabbitmqctl's definition is the whole set.
 */
async function replaceLimits(ctl: Ctl, path: string, missing: string, definition: Record<string, unknown>): Promise<void> {
  const before = await currentLimits(ctl, path, missing);
  for (const [name, value] of Object.entries(definition)) await ctl.api.put(`${path}/${enc(name)}`, { value });
  for (const name of Object.keys(before)) if (!(name in definition)) await ctl.api.delete(`${path}/${enc(name)}`);
}

export function registerPolicyCommands(program: Command): void {
  registerPolicyKind(program, 'policy', 'policies');
  registerPolicyKind(program, 'operator_policy', 'operator-policies');

  program.command('set_vhost_limits <definition>')
    .description(`sets a virtual host's limits (-p), replacing those set before, e.g. '{"max-connections": 10, "max-queues": -1}'`)
    .action(action(async (ctl, definitionText: string) => {
      const definition = jsonObject(definitionText, 'limits definition');
      ctl.out.info(`Applying limits "${definitionText}" to vhost "${ctl.vhost}" ...`);
      await replaceLimits(ctl, `/vhost-limits/${enc(ctl.vhost)}`, noVhost(ctl.vhost), definition);
    }));

  program.command('clear_vhost_limits')
    .description("removes every limit of a virtual host (-p)")
    .action(action(async (ctl) => {
      ctl.out.info(`Clearing vhost "${ctl.vhost}" limits ...`);
      await replaceLimits(ctl, `/vhost-limits/${enc(ctl.vhost)}`, noVhost(ctl.vhost), {});
    }));

  program.command('set_user_limits <username> <definition>')
    .description(`sets a user's limits, replacing those set before, e.g. '{"max-connections": 10, "max-channels": 20}'`)
    .action(action(async (ctl, user: string, definitionText: string) => {
      const definition = jsonObject(definitionText, 'limits definition');
      ctl.out.info(`Setting user limits to "${definitionText}" for user "${user}" ...`);
      await replaceLimits(ctl, `/user-limits/${enc(user)}`, noUser(user), definition);
    }));

  program.command('clear_user_limits <username> <limit>')
    .description("removes one limit of a user (max-connections, max-channels), or every one with 'all'")
    .action(action(async (ctl, user: string, limit: string) => {
      const path = `/user-limits/${enc(user)}`;
      ctl.out.info(`Clearing "${limit}" limit for user "${user}" ...`);
      if (limit === 'all') await replaceLimits(ctl, path, noUser(user), {});
      else await orMissing(ctl.api.delete(`${path}/${enc(limit)}`), noUser(user));
    }));
}
