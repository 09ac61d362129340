#!/usr/bin/env node
// `warrenctl`: rabbitmqctl's commands, arguments and exit codes, spoken over Warren's management
// HTTP API (RabbitMQ's API shapes, so it also works against a RabbitMQ with the management plugin).
import { Command, CommanderError } from 'commander';
import { addGlobalOptions, ENV_HELP } from './ctl/context.js';
import { registerAdminCommands } from './ctl/admin-commands.js';
import { registerDelayedCommands } from './ctl/delayed-commands.js';
import { CtlError, EXIT_OK, EXIT_SOFTWARE, EXIT_USAGE } from './ctl/errors.js';
import { registerListCommands } from './ctl/list-commands.js';
import { registerNodeCommands } from './ctl/node-commands.js';
import { registerObjectCommands } from './ctl/object-commands.js';
import { registerPolicyCommands } from './ctl/policy-commands.js';
import { readFileSync } from 'node:fs';

// Read here rather than imported from warren.ts, which would load the whole broker.
const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const program = addGlobalOptions(new Command('warrenctl'))
  .description("Manages a running Warren through its management HTTP API, with rabbitmqctl's commands")
  .version(version)
  // Commander's own usage errors become exceptions here so they exit 64, as rabbitmqctl's do.
  .exitOverride()
  .showHelpAfterError('(add --help for usage)')
  .addHelpText('after', ENV_HELP);

registerNodeCommands(program);
registerListCommands(program);
registerAdminCommands(program);
registerPolicyCommands(program);
registerObjectCommands(program);
registerDelayedCommands(program);

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CommanderError) {
    const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' && err.exitCode === 0;
    process.exitCode = ok ? EXIT_OK : EXIT_USAGE;
  } else if (err instanceof CtlError) {
    process.stderr.write(`Error: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`Error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = EXIT_SOFTWARE;
  }
}
