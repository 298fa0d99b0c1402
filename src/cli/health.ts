// `sipedge health`: GET /healthz on the edge's configured HTTP listener, for container health checks (the
// Dockerfile's HEALTHCHECK), so that the check follows http.listen / SIPEDGE_HTTP instead of a fixed port. What
// /healthz answers is gateway/server.ts's.
import { parseHostPort, type Config } from '../config/schema.ts';

/** The URL of `path` on a listen address (a wildcard address is asked on loopback); undefined when it is off. */
export function edgeUrl(listen: string, path: string): string | undefined {
  const a = listen === 'off' ? undefined : parseHostPort(listen);
  if (a === undefined) return undefined;
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '[::1]' : a.host.includes(':') ? `[${a.host}]` : a.host;
  return `http://${host}:${a.port}${path}`;
}

export async function runHealth(config: Readonly<Config>, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const url = edgeUrl(config.http.listen, '/healthz');
  if (url === undefined) {
    err('sipedge: health: http.listen is off: nothing to ask');
    return 1;
  }
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    if (res.status !== 200) {
      err(`sipedge: health: ${url} answered ${res.status}`);
      return 1;
    }
    out(`ok ${url}`);
    return 0;
  } catch (e) {
    err(`sipedge: health: ${url}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
    return 1;
  }
}
