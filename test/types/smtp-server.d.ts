// Minimal typing of smtp-server (a dev dependency without types) for the SMTP sink in test/gateway.
declare module 'smtp-server' {
  import type { Server } from 'node:net';
  import type { Readable } from 'node:stream';

  export interface SMTPServerSession {
    envelope: { mailFrom: { address: string } | false; rcptTo: Array<{ address: string }> };
  }

  export interface SMTPServerOptions {
    authOptional?: boolean;
    disabledCommands?: string[];
    logger?: boolean;
    onData?(stream: Readable, session: SMTPServerSession, callback: (err?: Error | null) => void): void;
  }

  export class SMTPServer {
    constructor(options?: SMTPServerOptions);
    server: Server;
    listen(port: number, host: string, callback?: () => void): Server;
    close(callback?: () => void): void;
  }
}
