// TOTP 2FA (RFC 6238 via otplib 13): secrets, otpauth URIs and code checks at the injected clock's time.
// Replay protection (each time step once) is the LoginStore's useTotpStep; sealing the secret is secret-box.ts's.
import { generate, generateSecret, generateURI, verify } from 'otplib';
import type { Clock } from '../clock.ts';

/** TOTP with SHA-1, 6 digits, 30 s steps: what every authenticator app does by default. */
export class Totp {
  constructor(
    private readonly issuer: string,
    /** Seconds into the past that still match (previous step); config gateway.totp.toleranceSeconds. */
    private readonly toleranceSeconds: number,
    private readonly clock: Clock,
  ) {}

  /** A new Base32 secret (20 random bytes). */
  newSecret(): string {
    return generateSecret();
  }

  /** otpauth://totp/<issuer>:<label>?secret=...&issuer=... for QR codes and manual entry. */
  uri(secret: string, label: string): string {
    return generateURI({ issuer: this.issuer, label, secret });
  }

  /**
   * The time step `code` belongs to when it is valid now (within the tolerance, past only) and later than
   * `afterTimeStep`; undefined otherwise. Codes that are not 6 digits are refused before any HMAC.
   */
  async check(secret: string, code: string, afterTimeStep: number): Promise<number | undefined> {
    if (!/^[0-9]{6}$/.test(code)) return undefined;
    const epoch = Math.floor(this.clock.now() / 1000);
    const res = await verify({
      secret,
      token: code,
      epoch,
      epochTolerance: [this.toleranceSeconds, 0],
      ...(afterTimeStep > 0 ? { afterTimeStep } : {}),
    });
    return res.valid && 'timeStep' in res ? res.timeStep : undefined;
  }

  /** The code for `epochMs` (tests and tooling). */
  code(secret: string, epochMs: number): Promise<string> {
    return generate({ secret, epoch: Math.floor(epochMs / 1000) });
  }
}
