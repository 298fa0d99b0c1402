// `sipedge start`: runs the edge in the foreground until SIGTERM/SIGINT, then stops cleanly and returns 0; with
// --local-rtpengine and no media.rtpengine configured, also a local rtpengine as its child (README "WebRTC media").
// The wiring itself is app.ts's; running rtpengine is relay/local-rtpengine.ts's. stdout carries the JSON log lines
// only (one object a line, for jq and log shippers); the lines for people (certificate fingerprint, listening
// addresses, the media relay) go to stderr.
import type { Config } from '../config/schema.ts';
import { createApp } from '../app.ts';
import { defaultMediaAddress, startLocalRtpengine, type LocalRtpengine } from '../relay/local-rtpengine.ts';

/** The local rtpengine's media ports: below the hold music's default range and the kernel's ephemeral ports. */
const LOCAL_PORTS = { min: 16000, max: 19999 };

export async function runStart(
  configured: Readonly<Config>,
  err: (s: string) => void,
  opts: { localRtpengine?: boolean } = {},
): Promise<number> {
  let config = configured;
  let local: LocalRtpengine | undefined;
  if (opts.localRtpengine === true && config.media.rtpengine.length === 0) {
    local = await startLocal(config, err);
    if (local !== undefined) config = { ...config, media: { ...config.media, rtpengine: [{ address: local.address, weight: 1 }] } };
  }
  let app: Awaited<ReturnType<typeof createApp>>;
  let a: Awaited<ReturnType<typeof app.start>>;
  try {
    app = await createApp(config);
    a = await app.start();
  } catch (e) {
    await local?.stop();
    throw e;
  }
  const show = (x?: { address: string; port: number }) => (x ? `${x.address}:${x.port}` : 'off');
  return await new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      app.logger.info({ event: 'edge.signal', signal });
      app
        .stop()
        .then(() => local?.stop())
        .then(
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

/**
 * Starts rtpengine beside the edge (it dies with the edge, kill -9 included) and says so; without rtpengine installed,
 * or when it does not start, says what that means and returns undefined: the edge runs without a media relay.
 */
async function startLocal(config: Readonly<Config>, err: (s: string) => void): Promise<LocalRtpengine | undefined> {
  const mediaAddress = config.media.rtpAddress !== '' ? config.media.rtpAddress : defaultMediaAddress();
  try {
    const r = await startLocalRtpengine({ mediaAddress, portMin: LOCAL_PORTS.min, portMax: LOCAL_PORTS.max, onLog: (l) => err(`rtpengine: ${l}`) });
    err(`sipedge media relay: local rtpengine (pid ${r.pid}) on ${r.address}, media on ${mediaAddress} ports ${LOCAL_PORTS.min}-${LOCAL_PORTS.max}`);
    return r;
  } catch (e) {
    err(`sipedge media relay: none (${(e as Error).message}): calls between browsers and desk phones or the PBX get 488`);
    return undefined;
  }
}
