// /provision?token=: the page a welcome mail's provisioning link opens. Redeeming shows the phone settings, the VoIP
// password and the QR codes once (the token is used up), so it waits for a click: mail scanners that open links
// must not spend it.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiFailure, messageOf, type VoipPasswordAnswer } from '../api.ts';
import { Alert } from '../ui.tsx';
import { NewVoipPassword, VoipTable } from './settings.tsx';

export function ProvisionPage(props: { token: string }): JSX.Element {
  const [answer, setAnswer] = useState<VoipPasswordAnswer | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const redeem = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      setAnswer(await api<VoipPasswordAnswer>('POST', '/api/provisioning/redeem', { token: props.token }));
    } catch (e) {
      setError(
        e instanceof ApiFailure && e.code === 'SIPEDGE_ERR_API_TOKEN_INVALID'
          ? 'This link is invalid, expired (links work for 15 minutes) or was already used. Ask your administrator for a new one.'
          : messageOf(e),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="page">
      <h1>Your phone settings</h1>
      {error && <Alert kind="error" testId="error">{error}</Alert>}
      {props.token === '' && <Alert kind="error">This page needs the link from your welcome email.</Alert>}
      {!answer && props.token !== '' && (
        <section class="card">
          <p>Your VoIP password and settings can be shown once. Have your phone or softphone app ready, then continue.</p>
          <button type="button" class="btn btn-primary" disabled={busy} onClick={() => void redeem()}>
            Show My Phone Settings
          </button>
        </section>
      )}
      {answer && (
        <section class="card">
          <VoipTable s={answer.settings} />
          <NewVoipPassword answer={answer} />
        </section>
      )}
    </div>
  );
}
