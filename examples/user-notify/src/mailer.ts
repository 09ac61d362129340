// Sending the welcome mail: over SMTP (SMTP_URL) or, without one, into an outbox folder as
// .eml files, so the example runs with no mail server at all.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from './config.js';
import type { User } from './db.js';

export interface Mailer {
  sendWelcome(user: User): Promise<void>;
  close(): void;
}

const FROM = 'Warren user-notify <welcome@user-notify.example>';

function welcome(user: User) {
  return {
    from: FROM,
    to: user.email,
    subject: `Welcome, ${user.name}!`,
    text: `Hello ${user.name},\n\nthank you for registering (user id ${user.id}).\n`,
    headers: { 'X-User-Id': String(user.id) },
  };
}

export function createMailer(config: Config): Mailer {
  if (config.smtpUrl) {
    const transport = nodemailer.createTransport(config.smtpUrl, {});
    return {
      async sendWelcome(user) { await transport.sendMail(welcome(user)); },
      close() { transport.close(); },
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async sendWelcome(user) {
      const info = await transport.sendMail(welcome(user));
      mkdirSync(config.outboxDir, { recursive: true });
      writeFileSync(join(config.outboxDir, `user-${user.id}-${Date.now()}.eml`), info.message as Buffer);
    },
    close() { transport.close(); },
  };
}
