// Turning one REGISTER Contact into a Binding and back into a 200 OK Contact line (RFC 3261 §10.3, RFC 5626).
// The §10.3 ordering rules and the store round trip live in registrar.ts.
import type { Contact } from '../sip/types.ts';
import type { Binding } from '../store/types.ts';

/** Identity of a binding within its AOR: the instance (RFC 5626 §6: same instance + reg-id replaces) or the URI. */
export function bindingKey(b: Pick<Binding, 'contact' | 'instanceId' | 'regId'>): string {
  if (b.instanceId !== undefined) return b.regId !== undefined ? `i:${b.instanceId}|${b.regId}` : `i:${b.instanceId}`;
  return `u:${normalizeContactUri(b.contact)}`;
}

/** Contact URIs compare case-insensitively on scheme/host for our purposes; user part and params kept as sent. */
function normalizeContactUri(uri: string): string {
  const at = uri.indexOf('@');
  return at < 0 ? uri.toLowerCase() : uri.slice(0, at) + uri.slice(at).toLowerCase();
}

/** +sip.instance value with its quotes removed, e.g. "<urn:uuid:...>". */
export function instanceOf(c: Contact): string | undefined {
  const v = c.params.get('+sip.instance');
  if (v === undefined || v === '') return undefined;
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** reg-id as a positive integer; undefined when absent; NaN when malformed. */
export function regIdOf(c: Contact): number | undefined {
  const v = c.params.get('reg-id');
  if (v === undefined) return undefined;
  return /^[1-9]\d{0,9}$/.test(v) ? Number(v) : Number.NaN;
}

/** The Contact line a 200 OK lists for one binding, with the seconds left. */
export function contactLine(b: Binding, now: number): string {
  const left = Math.max(0, Math.round((b.expiresAt - now) / 1000));
  let line = `Contact: <${b.contact}>`;
  if (b.q !== undefined) line += `;q=${b.q}`;
  if (b.instanceId !== undefined) line += `;+sip.instance="${b.instanceId}"`;
  if (b.regId !== undefined) line += `;reg-id=${b.regId}`;
  return `${line};expires=${left}`;
}
