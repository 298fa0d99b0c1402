// The one mapping of an error thrown while a service handled a request to the response it gets (STYLE.md §4): a
// SipError answers with its own status, a store that cannot be reached with 503 and Retry-After (DESIGN.md §11), and
// anything else is a bug: 500, logged with its stack. The registrar, the proxy and app.ts's dispatcher send (and count)
// the answer themselves.
import { StoreUnavailable } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import { SipError, type SipAnswer } from '../sip/types.ts';

/** What was thrown: a protocol error, the store being down, or a bug. */
type ErrorCause = 'protocol' | 'store-unavailable' | 'bug';

const STORE_UNAVAILABLE: SipAnswer = { status: 503, reason: 'Service Unavailable', headers: ['Retry-After: 5'] };
const BUG: SipAnswer = { status: 500, reason: 'Server Internal Error' };

/**
 * The answer to `e`, thrown while `service` handled a request. The store being down is logged as `store.unavailable`
 * (warn), a bug as `<service>.error` (error, with the stack); a SipError is an expected answer and is not logged.
 */
export function errorResponse(e: unknown, logger: Logger, service: 'registrar' | 'proxy' | 'dispatch'): { cause: ErrorCause; answer: SipAnswer } {
  if (e instanceof SipError) return { cause: 'protocol', answer: { status: e.status, reason: e.reason } };
  if (e instanceof StoreUnavailable) {
    logger.warn({ event: 'store.unavailable', during: service, err: e.message });
    return { cause: 'store-unavailable', answer: STORE_UNAVAILABLE };
  }
  logger.error({ event: `${service}.error`, err: (e as Error)?.stack ?? String(e) });
  return { cause: 'bug', answer: BUG };
}
