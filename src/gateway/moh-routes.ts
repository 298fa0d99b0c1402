// HTTP API for hold music: POST /api/moh (multipart upload, streamed and cut off at the class limit) and
// GET /api/moh (status). The pipeline and the limits are media/library.ts's; who may call is the `authorize` hook's.
import { timingSafeEqual, createHash } from 'node:crypto';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SipedgeError } from '../errors.ts';
import { MediaLibrary, UploadBusy, UploadError, mb } from '../media/library.ts';
import type { LoginRole, MediaVersion } from '../store/types.ts';
import { forbidden } from './api-error.ts';
import { errorReply, sessionSecurity } from './openapi.ts';
import { moh, replies } from './schemas.ts';

/** Who is calling: an operator (any tenant) or a tenant admin (their own tenant only). */
export type MohPrincipal = { role: 'operator' } | { role: 'user'; tenant: string };

/**
 * Decides who a request is; undefined = not authenticated (401). May throw the gateway's ApiError (a bad session's
 * 401, a missing CSRF header's 403, a plain user's 403), which the gateway's error handler answers.
 */
export type MohAuthorize = (req: FastifyRequest, reply: FastifyReply) => Promise<MohPrincipal | undefined> | MohPrincipal | undefined;

export interface MohRoutesOptions {
  library: MediaLibrary;
  authorize: MohAuthorize;
}

/**
 * Operator access by a bearer token (config media.apiToken, for scripts), compared in constant time; an empty token
 * disables this way in. Browsers use gateway sessions instead (app.ts combines both).
 */
function bearerTokenAuthorize(token: string): MohAuthorize {
  const want = createHash('sha256').update(token).digest();
  return (req) => {
    if (token === '') return undefined;
    const h = req.headers.authorization;
    if (typeof h !== 'string' || !h.startsWith('Bearer ')) return undefined;
    // Hash both sides: equal lengths for timingSafeEqual, and no length leak.
    const got = createHash('sha256').update(h.slice(7).trim()).digest();
    return timingSafeEqual(got, want) ? { role: 'operator' } : undefined;
  };
}

/**
 * Who may use /api/moh: a script with media.apiToken (operator), an operator's gateway session (any tenant), or a
 * tenant admin's (their own tenant). A plain user's session is refused (403).
 */
export function tokenOrSessionAuthorize(
  token: string,
  principalOf: (req: FastifyRequest, reply: FastifyReply) => Promise<{ role: LoginRole; tenant: string } | undefined>,
): MohAuthorize {
  const byToken = bearerTokenAuthorize(token);
  return async (req, reply) => {
    const viaToken = byToken(req, reply);
    if (viaToken !== undefined) return viaToken;
    const who = await principalOf(req, reply);
    if (who === undefined) return undefined;
    if (who.role === 'operator') return { role: 'operator' };
    if (who.role === 'tenant-admin') return { role: 'user', tenant: who.tenant };
    throw forbidden('hold music is managed by tenant admins and operators');
  };
}

const STATUS_BY_REASON: Record<string, number> = {
  'too-large': 413,
  'unsupported-format': 415,
  corrupt: 422,
  empty: 422,
  'too-long': 422,
  'bad-request': 400,
};

function fail(reply: FastifyReply, status: number, code: string, message: string, reason?: string): FastifyReply {
  return reply.code(status).send({ error: code, reason, message });
}

function view(v: MediaVersion): Record<string, unknown> {
  const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
  return {
    id: v.id,
    tenant: v.tenant,
    class: v.cls,
    status: v.status,
    reason: v.reason,
    reasonCode: v.reasonCode,
    sourceName: v.sourceName,
    sourceBytes: v.sourceBytes,
    description: v.description,
    durationMs: v.durationMs,
    createdAt: iso(v.createdAt),
    activatedAt: iso(v.activatedAt),
    retiredAt: iso(v.retiredAt),
    failedAt: iso(v.failedAt),
  };
}

function fieldValue(fields: Record<string, unknown> | undefined, name: string): string | undefined {
  const f = fields?.[name] as { type?: string; value?: unknown } | undefined;
  return f !== undefined && f.type === 'field' && typeof f.value === 'string' ? f.value : undefined;
}

/** Bytes past a class limit still read so that a file just over it (the CLI sends limit + 1) ends the request. */
const OVER_LIMIT_SLACK = 64 * 1024;

/**
 * Before a refusal is answered: reads and drops the rest of the file, up to `max` bytes. When the file ends within them
 * the reply can go out on a connection that stays usable (a client still sending, such as Node 24's fetch, fails with
 * EPIPE when the server closes first); past them the file is cut off. Returns whether to close the connection.
 * (Not the reply itself: a fastify reply is a thenable, so an async function cannot resolve to it.)
 */
async function dropRest(file: NodeJS.ReadableStream & { truncated?: boolean; destroy(): void }, max: number): Promise<boolean> {
  let size = 0;
  for await (const chunk of file) {
    size += (chunk as Buffer).length;
    if (size > max) break;
  }
  if (size <= max && file.truncated !== true) return false;
  file.destroy();
  return true;
}

/** The reply, closing the connection after it when `close`. */
function closing(reply: FastifyReply, close: boolean): FastifyReply {
  return close ? reply.header('connection', 'close') : reply;
}

/** Registers the two routes (a fastify plugin; multipart stays inside this plugin's context). */
export async function mohRoutes(app: FastifyInstance, o: MohRoutesOptions): Promise<void> {
  const lib = o.library;
  const hardMax = Math.max(lib.maxBytes('hold'), lib.maxBytes('queue'));
  await app.register(multipart, { limits: { fileSize: hardMax + 1, files: 1, fields: 10, fieldSize: 1024, parts: 12 } });

  const who = (method: string) => ({ security: [{ bearer: [] }, ...sessionSecurity(method)], tags: ['moh'] });
  const shared = {
    401: errorReply('no media.apiToken bearer and no session (SIPEDGE_ERR_UNAUTHORIZED, WWW-Authenticate: Bearer), or a session that is no longer valid (SIPEDGE_ERR_API_UNAUTHENTICATED)'),
    '5xx': errorReply('the store is unavailable (503, Retry-After; SIPEDGE_ERR_API_UNAVAILABLE) or an internal error (500)'),
  };

  app.get('/api/moh', {
    schema: {
      operationId: 'getMohStatus',
      summary: 'the recent hold-music versions of a tenant (as `sipedge moh status`)',
      ...who('GET'),
      querystring: moh.statusQuery,
      response: {
        200: replies.mohStatus,
        ...shared,
        403: errorReply('a plain user\'s session (SIPEDGE_ERR_API_FORBIDDEN)'),
        404: errorReply('unknown tenant (SIPEDGE_ERR_TENANT_UNKNOWN)'),
      },
    },
  }, async (req, reply) => {
    const who = await o.authorize(req, reply);
    if (who === undefined) return fail(reply.header('www-authenticate', 'Bearer'), 401, 'SIPEDGE_ERR_UNAUTHORIZED', 'authentication required');
    const q = req.query as Record<string, string | undefined>;
    const tenant = who.role === 'user' ? who.tenant : q.tenant;
    try {
      const versions = await lib.status(tenant, 10);
      return reply.send({ versions: versions.map(view) });
    } catch (e) {
      if (e instanceof SipedgeError && e.code === 'SIPEDGE_ERR_TENANT_UNKNOWN') return fail(reply, 404, e.code, e.message);
      throw e;
    }
  });

  app.post('/api/moh', {
    schema: {
      operationId: 'uploadMoh',
      summary: 'upload WAV or MP3 hold music (multipart/form-data, fields before the file); it plays once converted',
      ...who('POST'),
      querystring: moh.uploadQuery,
      body: { content: { 'multipart/form-data': { schema: moh.uploadForm } } },
      response: {
        201: replies.mohUploaded,
        ...shared,
        400: errorReply('malformed form, no file, no tenant or a bad class (SIPEDGE_ERR_UPLOAD_REFUSED, reason bad-request)'),
        403: errorReply('a plain user\'s session (SIPEDGE_ERR_API_FORBIDDEN) or no x-csrf-token with a session (SIPEDGE_ERR_API_CSRF)'),
        404: errorReply('unknown tenant (SIPEDGE_ERR_TENANT_UNKNOWN)'),
        413: errorReply('larger than the class allows (SIPEDGE_ERR_UPLOAD_TOO_LARGE, reason too-large); the connection closes when the body goes on more than 64 KiB past the limit'),
        415: errorReply('not multipart/form-data (reason bad-request), or not WAV/MP3 (reason unsupported-format); SIPEDGE_ERR_UPLOAD_REFUSED'),
        422: errorReply('the audio is corrupt, empty or too long (SIPEDGE_ERR_UPLOAD_REFUSED, reason corrupt, empty, too-long)'),
        '5xx': errorReply(
          'every conversion slot and queue place is taken (503, Retry-After; SIPEDGE_ERR_UPLOAD_BUSY, reason busy; media.conversions, media.conversionQueue), the store is unavailable (503, Retry-After; SIPEDGE_ERR_API_UNAVAILABLE) or an internal error (500)',
        ),
      },
    },
    // The handler reads the form itself: it streams the file, cutting it off at the class limit, and answers each
    // problem with its own code; ajv would see no body (multipart parts are not parsed ahead). The schema documents it.
    validatorCompiler: () => () => true,
  }, async (req, reply) => {
    const who = await o.authorize(req, reply);
    if (who === undefined) return fail(reply.header('www-authenticate', 'Bearer'), 401, 'SIPEDGE_ERR_UNAUTHORIZED', 'authentication required');
    if (!req.isMultipart()) {
      return fail(reply, 415, 'SIPEDGE_ERR_UPLOAD_REFUSED', 'send the file as multipart/form-data (fields tenant and class, then the file)', 'bad-request');
    }
    let part;
    try {
      part = await req.file();
    } catch (e) {
      return fail(reply.header('connection', 'close'), 400, 'SIPEDGE_ERR_UPLOAD_REFUSED', `malformed multipart body: ${(e as Error).message}`, 'bad-request');
    }
    if (part === undefined) return fail(reply, 400, 'SIPEDGE_ERR_UPLOAD_REFUSED', 'the form holds no file', 'bad-request');
    const q = req.query as Record<string, string | undefined>;
    const fields = part.fields as Record<string, unknown>;
    const tenant = who.role === 'user' ? who.tenant : (fieldValue(fields, 'tenant') ?? q.tenant);
    const clsText = fieldValue(fields, 'class') ?? q.class ?? '';
    const name = (part.filename || 'upload').slice(0, 200);
    if (tenant === undefined || tenant === '') {
      return fail(closing(reply, await dropRest(part.file, hardMax + 1)), 400, 'SIPEDGE_ERR_UPLOAD_REFUSED', 'field "tenant" is missing (send it before the file)', 'bad-request');
    }
    let cls;
    try {
      cls = await lib.checkTarget(tenant, clsText);
    } catch (e) {
      const close = await dropRest(part.file, hardMax + 1);
      if (e instanceof SipedgeError) {
        const status = e.code === 'SIPEDGE_ERR_TENANT_UNKNOWN' ? 404 : 400;
        return fail(closing(reply, close), status, e.code === 'SIPEDGE_ERR_CLI_USAGE' ? 'SIPEDGE_ERR_UPLOAD_REFUSED' : e.code, e.message, 'bad-request');
      }
      throw e;
    }
    // Stream in, counting: past the class limit nothing more is kept, and OVER_LIMIT_SLACK more bytes are still read
    // (a file just over the limit then ends its request and the 413 goes out on a usable connection); past those the
    // reading stops, the 413 is answered and the connection closed.
    const limit = lib.maxBytes(cls);
    const chunks: Buffer[] = [];
    let read = 0;
    let overAt = 0;
    for await (const chunk of part.file) {
      read += (chunk as Buffer).length;
      if (read <= limit) chunks.push(chunk as Buffer);
      else if (overAt === 0) overAt = read;
      if (read > limit + OVER_LIMIT_SLACK) break;
    }
    if (overAt > 0 || part.file.truncated) {
      const cut = read > limit + OVER_LIMIT_SLACK || part.file.truncated;
      if (cut) part.file.destroy();
      const err = await lib.refuseTooLarge(tenant, cls, name, overAt || read, true);
      return fail(closing(reply, cut), 413, err.code, err.message, err.reason);
    }
    const size = read;
    try {
      const v = await lib.upload({ tenant, cls, sourceName: name, bytes: Buffer.concat(chunks, size) });
      return reply.code(201).send({ version: view(v), message: `${name} is now the active ${cls} music of ${tenant} (limit ${mb(limit)})` });
    } catch (e) {
      if (e instanceof UploadError) return fail(reply, STATUS_BY_REASON[e.reason] ?? 422, e.code, e.message, e.reason);
      // Every conversion slot and queue place is taken (media.conversions, media.conversionQueue): come back later.
      if (e instanceof UploadBusy) return fail(reply.header('retry-after', String(e.retryAfterSeconds)), 503, e.code, e.message, 'busy');
      throw e;
    }
  });
}
