// Settings, all from the environment, with defaults that run against a local Warren.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The example's own folder (src/ or dist/src/ are below it). */
function exampleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!dir.endsWith('user-notify') && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export type RetryMode = 'republish' | 'broker';

export interface Config {
  port: number;
  amqpUrl: string;
  /** Unset: mails are written as .eml files into outboxDir. */
  smtpUrl: string | undefined;
  outboxDir: string;
  /** Unset: SQLite file in the data folder; mysql://... for MySQL or MariaDB. */
  databaseUrl: string;
  firstDelayMs: number;
  maxAttempts: number;
  retryMode: RetryMode;
  /** Names of the broker objects (overridable so several runs can share one broker). */
  exchange: string;
  queue: string;
  deadLetterQueue: string;
  routingKey: string;
}

function int(name: string, dflt: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const mode = env.RETRY_MODE ?? 'republish';
  if (mode !== 'republish' && mode !== 'broker') throw new Error(`RETRY_MODE must be republish or broker, got ${JSON.stringify(mode)}`);
  const dataDir = env.DATA_DIR || join(exampleDir(), 'data');
  const prefix = env.NAME_PREFIX ?? 'user-notify';
  return {
    port: int('PORT', 3000, 0),
    amqpUrl: env.AMQP_URL || 'amqp://guest:guest@localhost:5672/',
    smtpUrl: env.SMTP_URL || undefined,
    outboxDir: join(dataDir, 'outbox'),
    databaseUrl: env.DATABASE_URL || `sqlite:${join(dataDir, 'user-notify.sqlite')}`,
    firstDelayMs: int('FIRST_DELAY_MS', 3000, 1),
    maxAttempts: int('MAX_ATTEMPTS', 5, 1),
    retryMode: mode,
    exchange: `${prefix}.delayed`,
    queue: `${prefix}.${mode}`,
    deadLetterQueue: `${prefix}.${mode}.dead`,
    routingKey: 'user.registered',
  };
}
