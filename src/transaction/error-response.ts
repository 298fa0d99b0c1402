// The one mapping of an error thrown while a service handled a request to the response it gets (STYLE.md §4): a
// SipError answers with its own status, a store that cannot be reached with 503 and Retry-After (DESIGN.md §11), and
// anything else is a bug: 500, logged with its stack. The registrar, the proxy and app.ts's dispatcher send (and count)
// the answer themselves. A store outage is logged once by the store (store.outage.start/end), not per request.
import { STORE_RETRY_AFTER_SECONDS, StoreUnavailable } from '../errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { SipError, type SipAnswer } from '../sip/types.ts';

/** What was thrown: a protocol error, the store being down, or a bug. */
type ErrorCause = 'protocol' | 'store-unavailable' | 'bug';

/** The services that answer through here (the label of sipedge_store_refused_total). */
type Service = 'registrar' | 'proxy' | 'dispatch';

const STORE_UNAVAILABLE: SipAnswer = { status: 503, reason: 'Service Unavailable', headers: [`Retry-After: ${STORE_RETRY_AFTER_SECONDS}`] };
const BUG: SipAnswer = { status: 500, reason: 'Server Internal Error' };

/**
 * The answer to `e`, thrown while `service` handled a request. The store being down is counted in
 * sipedge_store_refused_total (the store logs the outage itself), a bug logged as `<service>.error` (error, with the
 * stack); a SipError is an expected answer and is not logged.
 */
export function errorResponse(e: unknown, obs: { logger: Logger; metrics: Metrics }, service: Service): { cause: ErrorCause; answer: SipAnswer } {
  if (e instanceof SipError) return { cause: 'protocol', answer: { status: e.status, reason: e.reason } };
  if (e instanceof StoreUnavailable) {
    obs.metrics.storeRefused.labels(service).inc();
    return { cause: 'store-unavailable', answer: STORE_UNAVAILABLE };
  }
  obs.logger.error({ event: `${service}.error`, err: (e as Error)?.stack ?? String(e) });
  return { cause: 'bug', answer: BUG };
}
