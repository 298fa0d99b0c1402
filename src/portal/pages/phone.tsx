// The Phone tab: registration state, a dial field, the incoming-call panel (accept / decline), and during a call its
// state, duration, audio byte counts, mute, DTMF keypad and hang up. The SIP work is softphone.ts's.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { PhoneView, Softphone } from '../softphone.ts';
import { Alert } from '../ui.tsx';

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];

function usePhone(phone: Softphone): PhoneView {
  const [v, setV] = useState(phone.state);
  useEffect(() => phone.subscribe(setV), [phone]);
  return v;
}

function useTicker(on: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [on]);
  return now;
}

const kb = (n: number): string => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} kB`);
const mmss = (ms: number): string => {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

const STATUS_TEXT = { dialing: 'Calling…', ringing: 'Ringing…', incoming: 'Incoming call', connected: 'Connected', ended: 'Call ended' };

export function PhonePage(props: { phone: Softphone }): JSX.Element {
  const phone = props.phone;
  const v = usePhone(phone);
  const [target, setTarget] = useState('');
  const call = v.call;
  const now = useTicker(call?.status === 'connected');
  const live = call !== undefined && call.status !== 'ended';

  return (
    <div class="page">
      <h1>Phone</h1>
      <div class={`reg reg-${v.registration}`} role="status" data-testid="registration" data-state={v.registration}>
        <span class="dot" aria-hidden="true" />
        {v.detail}
        {v.registration === 'failed' && (
          <button type="button" class="btn btn-small" onClick={() => void phone.start()}>
            Try again
          </button>
        )}
      </div>

      {call?.status === 'incoming' && (
        <section class="card incoming" aria-label="Incoming call" data-testid="incoming">
          <h2>Incoming call from {call.remote}</h2>
          {call.mediaWarning && <Alert kind="warning">{call.mediaWarning}</Alert>}
          <div class="row">
            <button type="button" class="btn btn-success" onClick={() => void phone.accept()} autofocus>
              Accept
            </button>
            <button type="button" class="btn btn-danger" onClick={() => void phone.decline()}>
              Decline
            </button>
          </div>
        </section>
      )}

      {call && call.status !== 'incoming' && (
        <section class="card call" aria-label="Call" data-testid="call" data-status={call.status}>
          <h2>
            {call.direction === 'incoming' ? 'Call from' : 'Call to'} {call.remote}
          </h2>
          <p class="call-status" aria-live="polite">
            {STATUS_TEXT[call.status]}
            {call.status === 'connected' && call.connectedAt !== undefined && <span class="muted"> · {mmss(now - call.connectedAt)}</span>}
          </p>
          {call.message && <Alert kind={call.status === 'ended' && call.message.startsWith('Call ended') ? 'info' : 'warning'} testId="call-message">{call.message}</Alert>}
          {call.status === 'connected' && (
            <p class="muted" data-testid="audio-stats">
              Audio received {kb(call.bytesIn)} · sent {kb(call.bytesOut)}
            </p>
          )}
          {live && (
            <div class="row">
              {call.status === 'connected' && (
                <button type="button" class="btn" aria-pressed={call.muted} onClick={() => phone.toggleMute()}>
                  {call.muted ? 'Unmute' : 'Mute'}
                </button>
              )}
              <button type="button" class="btn btn-danger" onClick={() => void phone.hangup()}>
                Hang up
              </button>
            </div>
          )}
          {call.status === 'connected' && (
            <div class="keypad" role="group" aria-label="Keypad (DTMF)">
              {KEYS.map((k) => (
                <button type="button" key={k} class="key" onClick={() => void phone.dtmf(k)} aria-label={`Key ${k}`}>
                  {k}
                </button>
              ))}
              {call.dtmfSent !== '' && <p class="muted dtmf">Sent: {call.dtmfSent}</p>}
            </div>
          )}
          {call.status === 'ended' && (
            <button type="button" class="btn" onClick={() => phone.dismiss()}>
              Close
            </button>
          )}
        </section>
      )}

      {!live && (
        <form
          class="card dial"
          aria-label="Dial"
          onSubmit={(e) => {
            e.preventDefault();
            phone.dismiss();
            void phone.dial(target);
          }}
        >
          <label for="dial">Number or extension</label>
          <div class="dial-row">
            <input id="dial" name="dial" value={target} onInput={(e) => setTarget((e.currentTarget as HTMLInputElement).value)} autocomplete="off" aria-describedby="dial-hint" />
            <button type="submit" class="btn btn-primary btn-call" disabled={v.registration !== 'registered' || target.trim() === ''}>
              Call
            </button>
          </div>
          <p class="hint" id="dial-hint">
            An extension of your company (e.g. 1002) or a SIP address.
          </p>
        </form>
      )}
    </div>
  );
}
