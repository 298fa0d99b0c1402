// The gateway's Prometheus counters, registered on the edge's one registry (observability/metrics.ts owns the SIP
// ones). Label values come from closed sets: outcomes named here, status classes, never a user or an IP.
import { Counter } from 'prom-client';
import type { Metrics } from '../observability/metrics.ts';

export type LoginOutcome = 'ok' | 'totp_due' | 'bad_credentials' | 'bad_totp' | 'rate_limited';
export type AccountEvent = 'password_changed' | 'reset_mail_sent' | 'password_reset' | 'totp_activated' | 'totp_disabled' | 'voip_rotated' | 'provisioning_redeemed';

export class GatewayMetrics {
  private readonly logins: Counter<'outcome'>;
  private readonly events: Counter<'event'>;
  private readonly responses: Counter<'status_class'>;

  constructor(metrics: Metrics) {
    const registers = [metrics.registry];
    this.logins = new Counter({ name: 'sipedge_gateway_logins_total', help: 'Gateway login steps, by outcome', labelNames: ['outcome'], registers });
    this.events = new Counter({ name: 'sipedge_gateway_account_events_total', help: 'Gateway account changes, by event', labelNames: ['event'], registers });
    this.responses = new Counter({ name: 'sipedge_gateway_responses_total', help: 'Gateway API responses, by status class', labelNames: ['status_class'], registers });
  }

  login(outcome: LoginOutcome): void {
    this.logins.inc({ outcome });
  }

  event(event: AccountEvent): void {
    this.events.inc({ event });
  }

  response(status: number): void {
    this.responses.inc({ status_class: `${Math.floor(status / 100)}xx` });
  }
}
