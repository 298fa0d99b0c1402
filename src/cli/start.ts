// `sipedge start`: runs the edge in the foreground until SIGTERM/SIGINT, then stops cleanly and returns 0.
// The wiring itself is app.ts's. stdout carries the JSON log lines only (one object a line, for jq and log shippers);
// the lines for people (certificate fingerprint, listening addresses) go to stderr.
import type { Config } from '../config/schema.ts';
import { createApp } from '../app.ts';

export async function runStart(config: Readonly<Config>, err: (s: string) => void): Promise<number> {
  const app = await createApp(config);
  const a = await app.start();
  const show = (x?: { address: string; port: number }) => (x ? `${x.address}:${x.port}` : 'off');
  return await new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      app.logger.info({ event: 'edge.signal', signal });
      app.stop().then(
        () => resolve(0),
        (e: unknown) => {
          err(`sipedge: error while stopping: ${(e as Error).message}`);
          resolve(1);
        },
      );
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    // Said once SIGTERM and SIGINT are handled: whoever waits for this line may stop the edge at once (before, a
    // SIGTERM sent right after it could still meet Node's default action and kill the edge without a clean stop).
    // The certificate line first: whoever waits for the listening line has both.
    const certs = app.certificates;
    if (certs !== undefined) err(`sipedge TLS certificate (${certs.source}, ${certs.certFile}): SHA-256 fingerprint ${certs.fingerprint256}`);
    err(
      `sipedge listening: udp ${show(a.udp)}, tcp ${show(a.tcp)}, tls ${show(a.tls)}, ws ${show(a.ws)}, wss ${show(a.wss)}, ` +
        `http ${show(a.http)}, https ${show(a.https)} (store: ${config.store})`,
    );
  });
}
