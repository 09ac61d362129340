// The list_* commands: one API list each, shown with rabbitmqctl's column names and defaults.
import type { Command } from 'commander';
import {
  BINDINGS, CHANNELS, CONNECTIONS, CONSUMERS, EXCHANGES, PERMISSIONS, POLICIES, QUEUES, TOPIC_PERMISSIONS,
  USER_LIMITS, USER_PERMISSIONS, USER_TOPIC_PERMISSIONS, USERS, VHOST_LIMITS, VHOSTS, chooseColumns, columnsHelp, toRows, type ObjectKind,
} from './columns.js';
import { action, type Ctl } from './context.js';
import { enc, noUser, noVhost, orMissing } from './http.js';

type Json = Record<string, unknown>;


async function list(ctl: Ctl, kind: ObjectKind, path: string, info: string, columnArgs: string[], missing?: string): Promise<void> {
  const columns = chooseColumns(kind, columnArgs);
  ctl.out.info(info);
  const request = ctl.api.get<Json[]>(path);
  const items = missing === undefined ? await request : await orMissing(request, missing);
  ctl.out.rows(columns, toRows(kind, columns, items));
}

/** A list of one vhost's objects: `/api/<section>/<vhost>`. */
function vhostList(program: Command, name: string, kind: ObjectKind, section: string, withColumns = true): void {
  program.command(withColumns ? `${name} [columns...]` : name)
    .description(`lists ${kind.what} in a virtual host (-p)`)
    .addHelpText('after', withColumns ? columnsHelp(kind) : '')
    .action(action(async (ctl, columns: string[] = []) => {
      const path = section.replace('{vhost}', enc(ctl.vhost));
      await list(ctl, kind, path, `Listing ${kind.what} for vhost ${ctl.vhost} ...`, columns, noVhost(ctl.vhost));
    }));
}

export function registerListCommands(program: Command): void {
  vhostList(program, 'list_queues', QUEUES, '/queues/{vhost}');
  vhostList(program, 'list_exchanges', EXCHANGES, '/exchanges/{vhost}');
  vhostList(program, 'list_bindings', BINDINGS, '/bindings/{vhost}');
  vhostList(program, 'list_consumers', CONSUMERS, '/consumers/{vhost}');
  vhostList(program, 'list_permissions', PERMISSIONS, '/vhosts/{vhost}/permissions', false);
  vhostList(program, 'list_topic_permissions', TOPIC_PERMISSIONS, '/vhosts/{vhost}/topic-permissions', false);
  vhostList(program, 'list_policies', POLICIES, '/policies/{vhost}', false);
  vhostList(program, 'list_operator_policies', { ...POLICIES, what: 'operator policies' }, '/operator-policies/{vhost}', false);

  program.command('list_connections [columns...]')
    .description('lists client connections')
    .addHelpText('after', columnsHelp(CONNECTIONS))
    .action(action(async (ctl, columns: string[] = []) => list(ctl, CONNECTIONS, '/connections', 'Listing connections ...', columns)));
  program.command('list_channels [columns...]')
    .description('lists channels')
    .addHelpText('after', columnsHelp(CHANNELS))
    .action(action(async (ctl, columns: string[] = []) => list(ctl, CHANNELS, '/channels', 'Listing channels ...', columns)));
  program.command('list_vhosts [columns...]')
    .description('lists virtual hosts')
    .addHelpText('after', columnsHelp(VHOSTS))
    .action(action(async (ctl, columns: string[] = []) => list(ctl, VHOSTS, '/vhosts', 'Listing vhosts ...', columns)));
  program.command('list_users')
    .description('lists users and their tags')
    .action(action(async (ctl) => list(ctl, USERS, '/users', 'Listing users ...', [])));
  program.command('list_user_permissions <username>')
    .description("lists a user's permissions in every virtual host")
    .action(action(async (ctl, user: string) =>
      list(ctl, USER_PERMISSIONS, `/users/${enc(user)}/permissions`, `Listing permissions for user "${user}" ...`, [], noUser(user))));
  program.command('list_user_topic_permissions <username>')
    .description("lists a user's topic permissions in every virtual host")
    .action(action(async (ctl, user: string) => {
      await list(ctl, USER_TOPIC_PERMISSIONS, `/users/${enc(user)}/topic-permissions`, `Listing topic permissions for user "${user}" ...`, [], noUser(user));
    }));
  program.command('list_vhost_limits')
    .description('shows the limits of a virtual host (-p); --global: of every virtual host')
    .option('--global', 'limits of every virtual host')
    .action(action(async (ctl) => {
      if (ctl.opts.global === true) {
        await list(ctl, VHOST_LIMITS, '/vhost-limits', 'Listing limits of every vhost ...', []);
      } else {
        await list(ctl, VHOST_LIMITS, `/vhost-limits/${enc(ctl.vhost)}`, `Listing limits for vhost "${ctl.vhost}" ...`, [], noVhost(ctl.vhost));
      }
    }));
  program.command('list_user_limits')
    .description('shows the limits of one user (--user), or of every user with limits')
    .option('--user <username>', 'the user whose limits to show')
    .option('--global', 'limits of every user (the default)')
    .action(action(async (ctl) => {
      const user = ctl.opts.user as string | undefined;
      if (user === undefined) await list(ctl, USER_LIMITS, '/user-limits', 'Listing limits for all users ...', []);
      else await list(ctl, USER_LIMITS, `/user-limits/${enc(user)}`, `Listing limits for user "${user}" ...`, [], noUser(user));
    }));
}
