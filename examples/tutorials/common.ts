// Small helpers shared by the tutorial programs: where the broker is, and how a long-running
// receiver stops (on SIGINT/SIGTERM, or after EXIT_AFTER messages when that is set).
import type { Channel, ChannelModel } from 'amqplib';

/** Broker URL, from AMQP_URL (default amqp://localhost, i.e. guest/guest on port 5672). */
export const amqpUrl = process.env.AMQP_URL || 'amqp://localhost';

/** EXIT_AFTER=N makes a receiver exit (code 0) once it has handled N messages. */
export const exitAfter = parseExitAfter(process.env.EXIT_AFTER);

function parseExitAfter(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`EXIT_AFTER must be a positive integer, got '${value}'`);
    process.exit(2);
  }
  return n;
}

/** Prints a usage line to stderr and exits with code 1. */
export function usage(text: string): never {
  console.error(`Usage: ${text}`);
  process.exit(1);
}

/** Runs an async main function; any error is printed and the process exits with code 1. */
export function run(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  });
}

export interface Receiver {
  /** True once the receiver has started shutting down. */
  readonly stopping: boolean;
  /** Call once per handled message; closes the connection and exits after EXIT_AFTER of them. */
  handled(): void;
  /** Closes the connection and exits with the given code. */
  stop(code?: number): Promise<void>;
}

/**
 * Keeps a receiver running until it is told to stop: SIGINT or SIGTERM, EXIT_AFTER messages,
 * or the broker cancelling its consumer. Closing returns any unacknowledged message to its
 * queue. The channel is closed before the connection: amqplib buffers frames per channel, so
 * this makes sure an acknowledgement just sent reaches the broker before the connection ends.
 */
export function receiverLifecycle(connection: ChannelModel, channel: Channel): Receiver {
  let stopping = false;
  let count = 0;
  const stop = async (code = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await channel.close().catch(() => undefined); // may already be closed
    await connection.close().catch(() => undefined);
    process.exit(code);
  };
  connection.on('error', (err) => console.error(`connection error: ${err.message}`));
  connection.on('close', () => {
    if (!stopping) {
      console.error('connection closed by the broker');
      process.exit(1);
    }
  });
  process.once('SIGINT', () => void stop(0));
  process.once('SIGTERM', () => void stop(0));
  return {
    get stopping() {
      return stopping;
    },
    handled() {
      count += 1;
      if (exitAfter !== undefined && count >= exitAfter) void stop(0);
    },
    stop,
  };
}
