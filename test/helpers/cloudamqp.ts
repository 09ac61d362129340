// Small helpers for tests that use @cloudamqp/amqp-client (the second client library).
import assert from 'node:assert/strict';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { withTimeout } from './amqp.js';

export { AMQPClient } from '@cloudamqp/amqp-client';
export type { AMQPChannel, AMQPMessage } from '@cloudamqp/amqp-client';

/** Opens clients and closes whatever is still open (call `closeAll` in afterEach). */
export class CloudClients {
  private clients: AMQPClient[] = [];

  constructor(private readonly url: () => string) {}

  async connect(): Promise<AMQPClient> {
    const c = new AMQPClient(this.url());
    await withTimeout(c.connect(), 'AMQPClient.connect');
    c.onerror = () => {}; // errors are asserted where they are expected
    this.clients.push(c);
    return c;
  }

  async closeAll(): Promise<void> {
    const cs = this.clients;
    this.clients = [];
    await Promise.all(cs.map(async (c) => {
      if (!c.closed) await withTimeout(c.close(), 'AMQPClient.close').catch(() => {});
    }));
  }
}

/**
 * Asserts that `p` fails because the server closed the channel with `code` and `text`;
 * @cloudamqp/amqp-client words that as "channel N closed: TEXT (CODE)".
 */
export async function expectCloudChannelError(p: Promise<unknown>, code: number, text: string): Promise<void> {
  await assert.rejects(withTimeout(p, 'the failing operation'), (e: Error) => {
    assert.match(e.message, /^channel \d+ closed: /);
    assert.ok(e.message.endsWith(`: ${text} (${code})`), `expected "${text} (${code})" in: ${e.message}`);
    return true;
  });
}
