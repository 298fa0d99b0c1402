// Server transaction matching keys (RFC 3261 §17.2.3): one string per transaction, looked up in a Map.
// What the transaction does once matched is server-transaction.ts / transaction-layer.ts business.
import type { SipMessage } from '../sip/types.ts';

/** RFC 3261 §8.1.1.7: branches that begin with this cookie are unique per transaction. */
export const BRANCH_COOKIE = 'z9hG4bK';

/**
 * The key of the server transaction `msg` belongs to, for a transaction of `method`: pass 'INVITE' for an ACK (it
 * matches the INVITE transaction, §17.2.3) or to find the INVITE a CANCEL refers to (§9.2); otherwise msg.method.
 * Throws SipError (via the accessors) when the top Via, CSeq, From or Call-ID is malformed.
 */
export function transactionKey(msg: SipMessage, method: string): string {
  const via = msg.topVia;
  const branch = via.branch;
  if (branch.startsWith(BRANCH_COOKIE)) {
    // §17.2.3 rule 1: branch, sent-by (host and port) and method. Branch is compared as written.
    return branch + ' ' + via.host + ':' + via.port + ' ' + method;
  }
  // §17.2.3 RFC 2543 fallback: Request-URI, From tag, Call-ID, CSeq number and the top Via must all match.
  // The To tag is left out so that the ACK (which carries the tag of our response) finds its INVITE; two requests
  // that differ only in To tag but share Call-ID, CSeq, From tag and Via are not expected from an RFC 2543 peer.
  const fromTag = msg.from.tag ?? '';
  return (
    '2543 ' + msg.requestUri + ' ' + fromTag + ' ' + msg.callId + ' ' + msg.cseq.seq + ' ' +
    via.transport + ' ' + via.host + ':' + via.port + ' ' + branch + ' ' + method
  );
}
