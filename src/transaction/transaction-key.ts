// Server transaction matching keys (RFC 3261 §17.2.3): one string per transaction, looked up in a Map.
// What the transaction does once matched is server-transaction.ts / transaction-layer.ts business.
import type { SipMessage } from '../sip/types.ts';

/** RFC 3261 §8.1.1.7: branches that begin with this cookie are unique per transaction. */
const BRANCH_COOKIE = 'z9hG4bK';

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
    return flat(branch + ' ' + via.host + ':' + via.port + ' ' + method);
  }
  // §17.2.3 RFC 2543 fallback: Request-URI, From tag, Call-ID, CSeq number and the top Via must all match.
  // The To tag is left out so that the ACK (which carries the tag of our response) finds its INVITE; two requests
  // that differ only in To tag but share Call-ID, CSeq, From tag and Via are not expected from an RFC 2543 peer.
  const fromTag = msg.from.tag ?? '';
  return flat(
    '2543 ' + msg.requestUri + ' ' + fromTag + ' ' + msg.callId + ' ' + msg.cseq.seq + ' ' +
      via.transport + ' ' + via.host + ':' + via.port + ' ' + branch + ' ' + method,
  );
}

/**
 * A copy of s that shares no memory with the message. The pieces are slices of the parser's whole-message string, and
 * a concatenation keeps them (and so the whole message) alive for as long as the key lives in the table (32 s).
 * Slicing a concatenation makes V8 flatten it into a fresh string first. Measured with 400 k keys: 668 -> 125 bytes
 * per entry (see load-tests/micro/transaction.bench.ts for the per-transaction figure).
 */
function flat(s: string): string {
  return (' ' + s).slice(1);
}
