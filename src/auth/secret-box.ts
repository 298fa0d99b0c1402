// AES-256-GCM sealing of secrets kept at rest (TOTP secrets, a VoIP password waiting behind a provisioning token),
// and where the key comes from (config, else generated once into the MetaStore). Token hashing: login-token.ts.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { MetaStore } from '../store/types.ts';

/** Name under which a generated gateway key is kept in the MetaStore. */
const GATEWAY_KEY_META_KEY = 'gateway.encryptionKey';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';

/** Seals and opens short secrets with one 32-byte key. Output: "v1.<base64url(iv | tag | ciphertext)>". */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new RangeError('SecretBox needs a 32-byte key');
  }

  /** `aad` binds the sealed value to its owner (e.g. "totp:acme/1001"): it cannot be moved to another record. */
  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return `${VERSION}.${Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url')}`;
  }

  /** The plaintext, or undefined when the value was not sealed with this key and aad (or is damaged). */
  open(sealed: string, aad: string): string | undefined {
    if (!sealed.startsWith(`${VERSION}.`)) return undefined;
    const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      d.setAAD(Buffer.from(aad, 'utf8'));
      d.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([d.update(raw.subarray(IV_BYTES + TAG_BYTES)), d.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

/**
 * The gateway key: `configured` (already decoded from gateway.encryptionKey) when given, else 32 random bytes
 * generated once and kept in the MetaStore, so every node and every restart (and the CLI) use the same key.
 */
export async function resolveGatewayKey(configured: Buffer | undefined, meta: MetaStore): Promise<Buffer> {
  if (configured !== undefined) return configured;
  return Buffer.from(await meta.getOrSet(GATEWAY_KEY_META_KEY, randomBytes(32).toString('base64url')), 'base64url');
}
