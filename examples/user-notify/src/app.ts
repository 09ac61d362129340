// What the service and the worker share: settings, logger, database (migrated), mailer,
// broker connection with one consumer, and a clean shutdown on SIGTERM/SIGINT.
import pino from 'pino';
import { Broker, redact } from './broker.js';
import { loadConfig, type Config } from './config.js';
import { startConsumer, type ConsumerDeps } from './consumer.js';
import { openDb } from './db.js';
import { createMailer } from './mailer.js';

export async function startApp(role: 'service' | 'worker'): Promise<ConsumerDeps & { shutdown: (hook?: () => Promise<void>) => void }> {
  const log = pino({ base: { pid: process.pid, role } });
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    log.fatal((err as Error).message);
    process.exit(2);
  }
  const db = openDb(config.databaseUrl, config.maxAttempts);
  await db.migrate();
  log.info({ database: redact(config.databaseUrl), smtp: config.smtpUrl ? redact(config.smtpUrl) : `outbox ${config.outboxDir}` }, 'database migrated');
  const mailer = createMailer(config);
  const broker = new Broker(config, log);
  const deps = { config, db, mailer, broker, log };
  broker.onConnect(startConsumer(deps));
  const shutdown = (hook?: () => Promise<void>) => {
    const stop = async () => {
      log.info('shutting down');
      await hook?.();
      await broker.stop();
      mailer.close();
      await db.close();
      process.exit(0);
    };
    process.once('SIGTERM', () => void stop());
    process.once('SIGINT', () => void stop());
  };
  return { ...deps, shutdown };
}
