// The gateway API as the pages call it: JSON in and out, the session's CSRF token on every state change (README
// "CSRF"), and one place that notices an ended session (401 SIPEDGE_ERR_API_UNAUTHENTICATED) and sends the user back
// to the sign-in page with a message.

/** A refused request: the API's stable code, its message, and the details some pages show. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: ApiErrorBody,
    /** Seconds, from Retry-After (429). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface ApiErrorBody {
  error?: string;
  message?: string;
  field?: string;
  reason?: string;
  violations?: Array<{ rule: string; message: string }>;
}

let csrfToken: string | undefined;
let onSessionEnded: (() => void) | undefined;

/** Called once by the app: what to do when the session turns out to be gone. */
export function setSessionEndedHandler(fn: () => void): void {
  onSessionEnded = fn;
}

export function setCsrfToken(t: string | undefined): void {
  csrfToken = t;
}

export function csrfHeader(): Record<string, string> {
  return csrfToken === undefined ? {} : { 'x-csrf-token': csrfToken };
}

/** Turns a non-2xx answer into an ApiFailure (and reports an ended session). */
export async function failureOf(res: Response, text: string): Promise<ApiFailure> {
  let body: ApiErrorBody = {};
  try {
    body = JSON.parse(text) as ApiErrorBody;
  } catch {
    body = { message: text };
  }
  const retry = Number(res.headers.get('retry-after'));
  const f = new ApiFailure(res.status, body.error ?? `HTTP_${res.status}`, body.message ?? res.statusText, body, Number.isFinite(retry) && retry > 0 ? retry : undefined);
  if (f.code === 'SIPEDGE_ERR_API_UNAUTHENTICATED' || f.code === 'SIPEDGE_ERR_UNAUTHORIZED') onSessionEnded?.();
  return f;
}

export async function api<T = unknown>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') Object.assign(headers, csrfHeader());
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  const text = await res.text();
  if (!res.ok) throw await failureOf(res, text);
  const out = (text === '' ? undefined : JSON.parse(text)) as T;
  const token = (out as { csrfToken?: unknown } | undefined)?.csrfToken;
  if (typeof token === 'string') csrfToken = token;
  return out;
}

/** "in 15 minutes" / "in 40 seconds", for Retry-After. */
export function waitText(seconds: number): string {
  if (seconds >= 90) return `${Math.ceil(seconds / 60)} minutes`;
  return `${seconds} seconds`;
}

/** What a person should read for a failure, with a fallback. */
export function messageOf(e: unknown): string {
  if (e instanceof ApiFailure) {
    if (e.status === 429) return `Too many failed attempts. Please wait ${waitText(e.retryAfter ?? 900)} before trying again.`;
    if (e.status === 503) return 'The service is unavailable right now. Please try again in a moment.';
    return sentence(e.message);
  }
  if (e instanceof TypeError) return 'The portal cannot reach the server. Check your connection and try again.';
  return e instanceof Error ? sentence(e.message) : String(e);
}

/** The API's messages start lower-case and end without a stop; a leading file or field name keeps its case. */
const sentence = (s: string): string => {
  const first = /^[a-z]+(?=[\s,])/.test(s) ? s[0]!.toUpperCase() + s.slice(1) : s;
  return first + (/[.!?]$/.test(first) ? '' : '.');
};

// Shapes of the answers the pages read (README "Auth gateway API").
export interface Me {
  extension: string;
  tenant: string;
  username: string;
  domain: string;
  email: string | null;
  role: 'user' | 'tenant-admin' | 'operator';
  twoFactorEnabled: boolean;
  passwordPolicy: 'basic' | 'strict';
  csrfToken: string;
  sessionExpiresAt: string;
}

export interface VoipSettings {
  sipUsername: string;
  domain: string;
  realm: string;
  server: string;
  transports: Record<string, string | undefined>;
  sharedUsername?: string;
}

export interface Qr {
  qrSvg: string;
  qrPngDataUrl: string;
}

export interface VoipPasswordAnswer {
  settings: VoipSettings;
  voipPassword: string;
  provisioning: Qr & { content: string };
  linphone: Qr & { url: string; expiresAt: string };
}

export interface PhoneCredentials {
  username: string;
  realm: string;
  aor: string;
  displayName: string;
  wsUrl: string | null;
  authorizationHa1: string;
}
