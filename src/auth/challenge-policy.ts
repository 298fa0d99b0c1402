// Which digest algorithms a client is challenged with (RFC 8760 §2.4: one challenge per algorithm, strongest first):
// auth.algorithms, unless a rule for its User-Agent (auth.tenantChallengePolicy, then auth.challengePolicy) names
// others, for clients that refuse a whole challenge set naming an algorithm they do not know (README "Digest
// algorithms"); and SHA-256 only for a device that answered SHA-256 before (downgrade protection).
import type { Config } from '../config/schema.ts';
import type { DigestAlgorithm } from './digest.ts';

/** What picks the algorithms offered: the request's User-Agent, the tenant code and extension it names when known. */
export interface OfferTarget {
  userAgent?: string;
  tenant?: string;
  ext?: string;
}

/** A challengePolicy rule with its User-Agent substring lower-cased. */
interface ChallengeRule {
  ua: string;
  algorithms: readonly DigestAlgorithm[];
}

const SHA256_ONLY: readonly DigestAlgorithm[] = ['SHA-256'];
/** Devices remembered as SHA-256 capable per node; the oldest is forgotten beyond (it is offered its policy again). */
const MAX_PROVEN_DEVICES = 100_000;

export class ChallengePolicy {
  /** Offered algorithms, as configured (strongest first). */
  readonly algorithms: readonly DigestAlgorithm[];
  /** auth.challengePolicy with lower-cased patterns, and auth.tenantChallengePolicy by tenant code. */
  private readonly uaRules: readonly ChallengeRule[];
  private readonly tenantUaRules: ReadonlyMap<string, readonly ChallengeRule[]>;
  /**
   * `<tenant>:<ext>\n<User-Agent>` of the devices that answered SHA-256: offered SHA-256 only from then on, and an MD5
   * answer from them is challenged again. This node's memory, bounded (MAX_PROVEN_DEVICES).
   */
  private readonly strongDevices = new Map<string, true>();

  constructor(config: Pick<Config['auth'], 'algorithms' | 'challengePolicy' | 'tenantChallengePolicy'>) {
    this.algorithms = [...config.algorithms];
    this.uaRules = lowerRules(config.challengePolicy);
    this.tenantUaRules = new Map(Object.entries(config.tenantChallengePolicy).map(([t, rules]) => [t, lowerRules(rules)]));
  }

  /**
   * The algorithms offered to `to`, strongest first: the first challengePolicy rule of its tenant, then of the config,
   * whose User-Agent substring its User-Agent contains; else auth.algorithms. A device that answered SHA-256 before
   * is offered SHA-256 only.
   */
  offerFor(to: OfferTarget): readonly DigestAlgorithm[] {
    let offer = this.algorithms;
    const ua = to.userAgent;
    if (ua !== undefined && ua !== '') {
      const lowered = ua.toLowerCase();
      const tenantRules = to.tenant === undefined ? undefined : this.tenantUaRules.get(to.tenant);
      const rule = (tenantRules && matchRule(tenantRules, lowered)) ?? matchRule(this.uaRules, lowered);
      if (rule !== undefined) offer = rule.algorithms;
    }
    if (to.tenant !== undefined && to.ext !== undefined && this.strongDevices.has(deviceKey(to.tenant, to.ext, ua))) return SHA256_ONLY;
    return offer;
  }

  /** Whether the device (deviceKey) answered SHA-256 before: a weaker answer from it is a downgrade. */
  isStrong(device: string): boolean {
    return this.strongDevices.has(device);
  }

  /** The device (deviceKey) proved a password with SHA-256. */
  rememberStrong(device: string): void {
    const known = this.strongDevices;
    if (known.has(device)) return;
    if (known.size >= MAX_PROVEN_DEVICES) known.delete(known.keys().next().value as string);
    known.set(device, true);
  }
}

/** The key a device is remembered by: its extension and its User-Agent. */
export function deviceKey(tenant: string, ext: string, userAgent: string | undefined): string {
  return `${tenant}:${ext}\n${userAgent ?? ''}`;
}

function lowerRules(rules: ReadonlyArray<{ userAgent: string; algorithms: readonly DigestAlgorithm[] }>): ChallengeRule[] {
  return rules.map((r) => ({ ua: r.userAgent.toLowerCase(), algorithms: [...r.algorithms] }));
}

function matchRule(rules: readonly ChallengeRule[], loweredUa: string): ChallengeRule | undefined {
  for (const r of rules) if (loweredUa.includes(r.ua)) return r;
  return undefined;
}
