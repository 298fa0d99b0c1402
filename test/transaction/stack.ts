// Test stack for the transaction suites: real TransportLayer + TransactionLayer on loopback, a FakeClock, a recording TU.
// Raw SIP text builders for the phones' side. Not a test file itself (no .test.ts).
import { FakeClock } from '../../src/clock.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { SipMessage } from '../../src/sip/types.ts';
import { TransactionLayer } from '../../src/transaction/transaction-layer.ts';
import type { ServerTransaction, TransactionUser } from '../../src/transaction/types.ts';
import type { Flow } from '../../src/transport/flow.ts';
import { TransportLayer, type ListenAddresses } from '../../src/transport/transport-layer.ts';
import { sipConfig } from '../transport/peers.ts';

/** A TransactionUser that records everything and answers with `answer` (default: 200 OK at once). */
export class RecordingTu implements TransactionUser {
  readonly requests: ServerTransaction[] = [];
  readonly strayAcks: SipMessage[] = [];
  readonly strayResponses: SipMessage[] = [];
  readonly closedFlows: Flow[] = [];
  answer: (tx: ServerTransaction) => void = (tx) => tx.respond(200, 'OK');

  onRequest(tx: ServerTransaction): void {
    this.requests.push(tx);
    this.answer(tx);
  }
  onStrayAck(ack: SipMessage): void {
    this.strayAcks.push(ack);
  }
  onStrayResponse(res: SipMessage): void {
    this.strayResponses.push(res);
  }
  onFlowClosed(flow: Flow): void {
    this.closedFlows.push(flow);
  }
}

export interface Stack {
  clock: FakeClock;
  metrics: Metrics;
  tu: RecordingTu;
  transactions: TransactionLayer;
  transport: TransportLayer;
  addrs: ListenAddresses;
  /** Moves the fake clock and runs due timers. */
  advance(ms: number): void;
  close(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const clock = new FakeClock();
  const metrics = new Metrics();
  const tu = new RecordingTu();
  const logger = silentLogger();
  const transactions = new TransactionLayer({ tu, metrics, logger, clock, serverHeader: 'sipedge-test' });
  const transport = new TransportLayer({ sip: sipConfig({ ws: 'off' }), handler: transactions, metrics, logger });
  const addrs = await transport.listen();
  return {
    clock,
    metrics,
    tu,
    transactions,
    transport,
    addrs,
    advance(ms: number) {
      // In steps, as the real intervals would, so that Timer G and Timer H interleave as on a real clock.
      for (let left = ms; left > 0; left -= 50) {
        clock.advance(Math.min(50, left));
        transactions.tick();
      }
    },
    async close() {
      await transport.close();
      transactions.close();
    },
  };
}

export interface RequestSpec {
  method?: string;
  branch?: string;
  transport?: string;
  cseq?: number;
  cseqMethod?: string;
  callId?: string;
  toTag?: string;
  /** Extra header lines, complete, without CRLF. */
  headers?: string[];
  omit?: string[];
}

const CREDENTIALS = 'Authorization: Digest username="1001", realm="example.com", nonce="n1", uri="sip:example.com", response="00"';

export function request(spec: RequestSpec = {}): string {
  const method = spec.method ?? 'REGISTER';
  const lines = [
    `${method} sip:example.com SIP/2.0`,
    `Via: SIP/2.0/${spec.transport ?? 'UDP'} 192.0.2.10:5062;branch=${spec.branch ?? 'z9hG4bKdefault'};rport`,
    'Max-Forwards: 70',
    'From: <sip:1001@example.com>;tag=fromtag1',
    `To: <sip:1001@example.com>${spec.toTag ? `;tag=${spec.toTag}` : ''}`,
    `Call-ID: ${spec.callId ?? 'call-1@192.0.2.10'}`,
    `CSeq: ${spec.cseq ?? 1} ${spec.cseqMethod ?? method}`,
    'Contact: <sip:1001@192.0.2.10:5062>',
    // A REGISTER with credentials: one without is answered statelessly (transaction-layer.ts, RFC 3261 §8.2.7).
    ...(method === 'REGISTER' ? [CREDENTIALS] : []),
    ...(spec.headers ?? []),
    'Content-Length: 0',
  ].filter((l) => !(spec.omit ?? []).some((name) => l.toLowerCase().startsWith(name.toLowerCase() + ':')));
  return lines.join('\r\n') + '\r\n\r\n';
}

/** The status line of a raw response. */
export function statusLine(raw: string): string {
  return raw.slice(0, raw.indexOf('\r\n'));
}
