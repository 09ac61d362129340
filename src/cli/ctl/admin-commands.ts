// Users, virtual hosts, permissions and topic permissions: rabbitmqctl's access-control commands.
import type { Command } from 'commander';
import { action, type Ctl } from './context.js';
import { CtlError, dataError, EXIT_DATAERR, EXIT_SOFTWARE } from './errors.js';
import { ApiError, enc, noUser, noVhost, orMissing } from './http.js';

interface ApiUser {
  name: string;
  password_hash: string;
  hashing_algorithm: string;
  tags: string[] | string;
}

/** Tags as the API takes them: comma-separated (RabbitMQ 3.10+ answers a list, older ones a string). */
const tagsText = (tags: string[] | string) => (Array.isArray(tags) ? tags.join(',') : tags);

const getUser = (ctl: Ctl, name: string) => orMissing(ctl.api.get<ApiUser>(`/users/${enc(name)}`), noUser(name));

/**
 * A DELETE of something that may not be there. rabbitmqctl says nothing when there was nothing to
 * clear, but does fail for an unknown user or vhost; the API answers 404 for all three, so a 404
 * is looked into.
 */
async function clearing(ctl: Ctl, path: string, user: string, vhost: string): Promise<void> {
  try {
    await ctl.api.delete(path);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    if (await ctl.api.find(`/users/${enc(user)}`) === undefined) throw dataError(noUser(user));
    if (await ctl.api.find(`/vhosts/${enc(vhost)}`) === undefined) throw dataError(noVhost(vhost));
  }
}

/** PUTs that name a user and a vhost answer 400 "vhost_or_user_not_found"; say which. */
async function naming(ctl: Ctl, p: Promise<unknown>, user: string, vhost: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof ApiError && err.reason === 'vhost_or_user_not_found')) throw err;
    if (await ctl.api.find(`/users/${enc(user)}`) === undefined) throw dataError(noUser(user));
    throw dataError(noVhost(vhost));
  }
}

function registerUserCommands(program: Command): void {
  program.command('add_user <username> <password>')
    .description('creates a user (no tags, no permissions)')
    .action(action(async (ctl, name: string, password: string) => {
      ctl.out.info(`Adding user "${name}" ...`);
      // The API's PUT would overwrite an existing user; rabbitmqctl refuses instead.
      if (await ctl.api.find(`/users/${enc(name)}`) !== undefined) throw new CtlError(`user "${name}" already exists`, EXIT_SOFTWARE);
      await ctl.api.put(`/users/${enc(name)}`, { password, tags: '' });
    }));

  program.command('delete_user <username>')
    .description('deletes a user')
    .action(action(async (ctl, name: string) => {
      ctl.out.info(`Deleting user "${name}" ...`);
      await orMissing(ctl.api.delete(`/users/${enc(name)}`), noUser(name));
    }));

  program.command('change_password <username> <new_password>')
    .description("changes a user's password (tags kept)")
    .action(action(async (ctl, name: string, password: string) => {
      ctl.out.info(`Changing password for user "${name}" ...`);
      const u = await getUser(ctl, name);
      await ctl.api.put(`/users/${enc(name)}`, { password, tags: tagsText(u.tags) });
    }));

  program.command('clear_password <username>')
    .description("removes a user's password (it can then not log in with one)")
    .action(action(async (ctl, name: string) => {
      ctl.out.info(`Clearing password for user "${name}" ...`);
      const u = await getUser(ctl, name);
      await ctl.api.put(`/users/${enc(name)}`, { password_hash: '', tags: tagsText(u.tags) });
    }));

  program.command('set_user_tags <username> [tags...]')
    .description("replaces a user's tags (none given: no tags)")
    .action(action(async (ctl, name: string, tags: string[] = []) => {
      ctl.out.info(`Setting tags for user "${name}" to [${tags.join(', ')}] ...`);
      // A PUT without a password would clear it: send the current hash back.
      const u = await getUser(ctl, name);
      await ctl.api.put(`/users/${enc(name)}`, { password_hash: u.password_hash, hashing_algorithm: u.hashing_algorithm, tags: tags.join(',') });
    }));

  program.command('authenticate_user <username> <password>')
    .description('checks a user name and password (exit 65 when they are refused)')
    .action(action(async (ctl, name: string, password: string) => {
      ctl.out.info(`Authenticating user "${name}" ...`);
      try {
        await ctl.api.get('/whoami', { auth: { user: name, password } });
      } catch (err) {
        // The password was right; the user just may not use the management API.
        const valid = err instanceof ApiError && err.status === 401 && err.reason === 'Not management user';
        if (!valid) {
          if (err instanceof ApiError && err.status === 401) throw new CtlError(`failed to authenticate user "${name}": ${err.reason}`, EXIT_DATAERR);
          throw err;
        }
      }
      ctl.out.text('Success');
    }));
}

function registerVhostCommands(program: Command): void {
  program.command('add_vhost <vhost>')
    .description('creates a virtual host (nothing happens if it exists)')
    .option('--description <text>', 'description')
    .option('--tags <tags>', 'comma-separated tags')
    .option('--default-queue-type <type>', 'classic, quorum or stream')
    .action(action(async (ctl, vhost: string) => {
      ctl.out.info(`Adding vhost "${vhost}" ...`);
      const o = ctl.opts as { description?: string; tags?: string; defaultQueueType?: string };
      await ctl.api.put(`/vhosts/${enc(vhost)}`, { description: o.description, tags: o.tags, default_queue_type: o.defaultQueueType });
    }));

  program.command('delete_vhost <vhost>')
    .description('deletes a virtual host and everything in it')
    .action(action(async (ctl, vhost: string) => {
      ctl.out.info(`Deleting vhost "${vhost}" ...`);
      await orMissing(ctl.api.delete(`/vhosts/${enc(vhost)}`), noVhost(vhost));
    }));
}

function registerPermissionCommands(program: Command): void {
  program.command('set_permissions <username> <conf> <write> <read>')
    .description("sets a user's configure, write and read patterns in a virtual host (-p)")
    .action(action(async (ctl, user: string, configure: string, write: string, read: string) => {
      ctl.out.info(`Setting permissions for user "${user}" in vhost "${ctl.vhost}" ...`);
      await naming(ctl, ctl.api.put(`/permissions/${enc(ctl.vhost)}/${enc(user)}`, { configure, write, read }), user, ctl.vhost);
    }));

  program.command('clear_permissions <username>')
    .description("removes a user's permissions in a virtual host (-p)")
    .action(action(async (ctl, user: string) => {
      ctl.out.info(`Clearing permissions for user "${user}" in vhost "${ctl.vhost}" ...`);
      await clearing(ctl, `/permissions/${enc(ctl.vhost)}/${enc(user)}`, user, ctl.vhost);
    }));

  program.command('set_topic_permissions <username> <exchange> <write> <read>')
    .description("sets a user's routing-key patterns for a topic exchange in a virtual host (-p)")
    .action(action(async (ctl, user: string, exchange: string, write: string, read: string) => {
      ctl.out.info(`Setting topic permissions on "${exchange}" for user "${user}" in vhost "${ctl.vhost}" ...`);
      await naming(ctl, ctl.api.put(`/topic-permissions/${enc(ctl.vhost)}/${enc(user)}`, { exchange, write, read }), user, ctl.vhost);
    }));

  program.command('clear_topic_permissions <username> [exchange]')
    .description("removes a user's topic permissions in a virtual host (-p), all or one exchange's")
    .action(action(async (ctl, user: string, exchange?: string) => {
      ctl.out.info(`Clearing topic permissions${exchange === undefined ? '' : ` on "${exchange}"`} for user "${user}" in vhost "${ctl.vhost}" ...`);
      const path = `/topic-permissions/${enc(ctl.vhost)}/${enc(user)}`;
      if (exchange === undefined) return clearing(ctl, path, user, ctl.vhost);
      // RabbitMQ 3.13 (and Warren) delete one exchange's at .../{user}/{exchange}; older APIs only
      // clear them all at once (404 here): then the others are put back (not atomic there: a
      // concurrent change to them could be undone).
      try {
        await ctl.api.delete(`${path}/${enc(exchange)}`);
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
      type TopicPermission = { vhost: string; exchange: string; write: string; read: string };
      const all = await orMissing(ctl.api.get<TopicPermission[]>(`/users/${enc(user)}/topic-permissions`), noUser(user));
      const here = all.filter((p) => p.vhost === ctl.vhost);
      if (!here.some((p) => p.exchange === exchange)) return;
      await ctl.api.delete(path);
      for (const p of here) if (p.exchange !== exchange) await ctl.api.put(path, { exchange: p.exchange, write: p.write, read: p.read });
    }));
}

export function registerAdminCommands(program: Command): void {
  registerUserCommands(program);
  registerVhostCommands(program);
  registerPermissionCommands(program);
}
