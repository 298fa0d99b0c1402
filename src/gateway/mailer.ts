// Outgoing mail of the gateway (password-reset links, provisioning links): SMTP through nodemailer when
// gateway.mail.smtpUrl is set, otherwise one .eml file per mail in <dataDir>/outbox/ (the embedded default).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export class Mailer {
  private readonly smtp: Transporter | undefined;
  private readonly render: Transporter;

  constructor(
    private readonly cfg: { smtpUrl: string; from: string },
    /** Where mails go without SMTP: <dataDir>/outbox. */
    readonly outboxDir: string,
  ) {
    this.smtp = cfg.smtpUrl !== '' ? nodemailer.createTransport(cfg.smtpUrl) : undefined;
    this.render = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  }

  /** Sends (SMTP) or writes (outbox: temp file + rename, so a reader never sees half a mail). */
  async send(mail: Mail): Promise<void> {
    const msg = { from: this.cfg.from, to: mail.to, subject: mail.subject, text: mail.text };
    if (this.smtp !== undefined) {
      await this.smtp.sendMail(msg);
      return;
    }
    const info = (await this.render.sendMail(msg)) as { message: Buffer };
    await fs.mkdir(this.outboxDir, { recursive: true, mode: 0o700 });
    const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.eml`;
    const tmp = path.join(this.outboxDir, `.${name}.tmp`);
    await fs.writeFile(tmp, info.message, { mode: 0o600 });
    await fs.rename(tmp, path.join(this.outboxDir, name));
  }

  close(): void {
    this.smtp?.close();
  }
}
