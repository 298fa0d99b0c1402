// Settings: change the login password (the policy's rules listed, each broken one named), two-factor authentication
// (enrol with QR code + secret and a code, or disable), and the VoIP credentials with "generate new VoIP password"
// (shown once, with a Linphone provisioning QR code and the sipedge JSON one).
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiFailure, messageOf, type Me, type VoipPasswordAnswer, type VoipSettings } from '../api.ts';
import { brokenRules } from '../password-rules.ts';
import type { Softphone } from '../softphone.ts';
import { Alert, Field, OnceValue, PasswordRules, QrImage, Section } from '../ui.tsx';

function ChangePassword(props: { me: Me }): JSX.Element {
  const [current, setCurrent] = useState('');
  const [pw, setPw] = useState('');
  const [confirm, setConfirm] = useState('');
  const [tried, setTried] = useState(false);
  const [serverBroken, setServerBroken] = useState<string[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const preset = props.me.passwordPolicy;

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setTried(true);
    setDone(false);
    setError(undefined);
    setServerBroken([]);
    const broken = brokenRules(pw, preset);
    if (broken.length > 0) {
      setError(`The new password breaks ${broken.length === 1 ? 'a rule' : `${broken.length} rules`} (marked ✗ below).`);
      return;
    }
    if (pw !== confirm) {
      setError('The new password and its confirmation do not match.');
      return;
    }
    setBusy(true);
    try {
      await api('POST', '/api/password', { currentPassword: current, newPassword: pw });
      setDone(true);
      setTried(false);
      setCurrent('');
      setPw('');
      setConfirm('');
    } catch (err) {
      if (err instanceof ApiFailure && err.code === 'SIPEDGE_ERR_API_PASSWORD_POLICY') {
        setServerBroken((err.body.violations ?? []).map((v) => v.rule));
        setError(`The new password breaks these rules: ${(err.body.violations ?? []).map((v) => v.message).join('; ')}.`);
      } else if (err instanceof ApiFailure && err.code === 'SIPEDGE_ERR_API_LOGIN_FAILED') setError('The current password is wrong.');
      else setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section title="Change Password" id="change-password">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="change-password">
        {done && <Alert kind="success" testId="password-changed">Your password was changed. You remain signed in; other sessions were signed out.</Alert>}
        {error && <Alert kind="error" testId="password-error">{error}</Alert>}
        <Field id="current-password" label="Current password" type="password" value={current} onInput={setCurrent} autocomplete="current-password" required />
        <Field id="new-password" label="New password" type="password" value={pw} onInput={setPw} autocomplete="new-password" required />
        <PasswordRules preset={preset} password={pw} show={tried || pw !== ''} serverBroken={serverBroken} />
        <Field id="confirm-password" label="Confirm new password" type="password" value={confirm} onInput={setConfirm} autocomplete="new-password" required invalid={tried && pw !== confirm} />
        <button type="submit" class="btn btn-primary" disabled={busy}>
          Change Password
        </button>
      </form>
    </Section>
  );
}

interface TotpSetup {
  secret: string;
  otpauthUri: string;
  qrPngDataUrl: string;
}

function TwoFactor(props: { me: Me; onChanged: () => Promise<void> }): JSX.Element {
  const [setup, setSetup] = useState<TotpSetup | undefined>(undefined);
  const [code, setCode] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const on = props.me.twoFactorEnabled;

  const run = async (work: () => Promise<void>): Promise<void> => {
    setError(undefined);
    setDone(undefined);
    try {
      await work();
    } catch (err) {
      if (err instanceof ApiFailure && err.code === 'SIPEDGE_ERR_API_TOTP_INVALID') setError('That code is wrong or was already used. Enter the current code from your app.');
      else if (err instanceof ApiFailure && err.code === 'SIPEDGE_ERR_API_LOGIN_FAILED') setError('The password or the code is wrong.');
      else setError(messageOf(err));
    }
  };

  return (
    <Section title="Two-Factor Authentication" id="two-factor">
      <p>
        Status: <strong data-testid="2fa-state">{on ? 'On' : 'Off'}</strong>. With 2FA on, signing in also asks for the 6-digit code of an authenticator app (Google
        Authenticator, Microsoft Authenticator, Authy, …). No codes are sent by email.
      </p>
      {done && <Alert kind="success" testId="2fa-done">{done}</Alert>}
      {error && <Alert kind="error" testId="2fa-error">{error}</Alert>}
      {!on && !setup && (
        <button type="button" class="btn btn-primary" onClick={() => void run(async () => setSetup(await api<TotpSetup>('POST', '/api/2fa/setup')))}>
          Set Up 2FA
        </button>
      )}
      {!on && setup && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              await api('POST', '/api/2fa/activate', { code: code.trim() });
              setSetup(undefined);
              setCode('');
              // The status line flips first, then the message: never "2FA is on" beside "Status: Off".
              await props.onChanged();
              setDone('Two-factor authentication is on. You will be asked for a code at every sign-in.');
            });
          }}
        >
          <ol class="steps">
            <li>Scan this QR code with your authenticator app, or enter the setup key by hand.</li>
            <li>Enter the code the app shows and activate.</li>
          </ol>
          <div class="qr-row">
            <QrImage dataUrl={setup.qrPngDataUrl} label="QR code for your authenticator app" testId="totp-qr" />
            <OnceValue label="Setup key" value={setup.secret} testId="totp-secret" />
          </div>
          <Field id="totp-code" label="Code from the app" value={code} onInput={setCode} inputMode="numeric" pattern="[0-9]{6}" maxLength={6} autocomplete="one-time-code" required />
          <button type="submit" class="btn btn-primary">
            Activate 2FA
          </button>
        </form>
      )}
      {on && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void run(async () => {
              await api('POST', '/api/2fa/disable', { password, code: code.trim() });
              setPassword('');
              setCode('');
              await props.onChanged();
              setDone('Two-factor authentication is off.');
            });
          }}
        >
          <p>To turn 2FA off, confirm with your password and a current code.</p>
          <Field id="disable-password" label="Password" type="password" value={password} onInput={setPassword} autocomplete="current-password" required />
          <Field id="disable-code" label="Code from the app" value={code} onInput={setCode} inputMode="numeric" pattern="[0-9]{6}" maxLength={6} autocomplete="one-time-code" required />
          <button type="submit" class="btn btn-danger">
            Disable 2FA
          </button>
        </form>
      )}
    </Section>
  );
}

/** The VoIP password just generated (or redeemed): shown once, with both provisioning QR codes. */
export function NewVoipPassword(props: { answer: VoipPasswordAnswer }): JSX.Element {
  const a = props.answer;
  const until = new Date(a.linphone.expiresAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return (
    <div class="new-voip" data-testid="new-voip">
      <Alert kind="warning">This password is shown only once. Enter it in your phones now, or scan the QR code with Linphone.</Alert>
      <OnceValue label="New VoIP password" value={a.voipPassword} testId="voip-password" />
      <div class="qr-row">
        <QrImage dataUrl={a.linphone.qrPngDataUrl} label="Linphone provisioning QR code" testId="linphone-qr" />
        <div>
          <h3>Linphone</h3>
          <p>
            Scan with Linphone (Assistant → Fetch remote configuration / QR code), or enter this address there. It works once, until {until}.
          </p>
          <p>
            <code class="wrap" data-testid="linphone-url">
              {a.linphone.url}
            </code>
          </p>
        </div>
      </div>
      <details>
        <summary>Other apps: sipedge QR code (JSON)</summary>
        <QrImage dataUrl={a.provisioning.qrPngDataUrl} label="sipedge provisioning QR code (JSON)" testId="json-qr" />
      </details>
    </div>
  );
}

export function VoipTable(props: { s: VoipSettings }): JSX.Element {
  const s = props.s;
  const rows: Array<[string, string]> = [
    ['SIP server (outbound proxy)', s.server],
    ['Domain / realm', s.domain],
    ['Username', s.sipUsername],
    ...Object.entries(s.transports)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([k, v]): [string, string] => [`Transport ${k.toUpperCase()}`, v]),
  ];
  if (s.sharedUsername) rows.push(['Username (shared domain)', s.sharedUsername]);
  return (
    <table class="kv" data-testid="voip-settings">
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <th scope="row">{k}</th>
            <td>
              <code>{v}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function VoipCredentials(props: { phone: Softphone }): JSX.Element {
  const [settings, setSettings] = useState<VoipSettings | undefined>(undefined);
  const [confirming, setConfirming] = useState(false);
  const [answer, setAnswer] = useState<VoipPasswordAnswer | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    api<VoipSettings>('GET', '/api/voip')
      .then(setSettings)
      .catch((e: unknown) => setError(messageOf(e)));
  }, []);
  const generate = async (): Promise<void> => {
    setError(undefined);
    try {
      const a = await api<VoipPasswordAnswer>('POST', '/api/voip/sip-password', {});
      setAnswer(a);
      setSettings(a.settings);
      setConfirming(false);
      // The browser phone held the old password's HA1: register again with the new one.
      void props.phone.start();
    } catch (e) {
      setError(messageOf(e));
    }
  };
  return (
    <Section title="VoIP Credentials" id="voip">
      <p>Your phones register with these settings and your VoIP password, which is separate from your login password.</p>
      {error && <Alert kind="error">{error}</Alert>}
      {settings && <VoipTable s={settings} />}
      {answer && <NewVoipPassword answer={answer} />}
      {!confirming ? (
        <button type="button" class="btn" onClick={() => setConfirming(true)}>
          Generate New VoIP Password
        </button>
      ) : (
        <div class="confirm" role="group" aria-label="Confirm new VoIP password">
          <p>Your phones stop registering until they get the new password. Continue?</p>
          <div class="row">
            <button type="button" class="btn btn-danger" onClick={() => void generate()}>
              Yes, generate a new password
            </button>
            <button type="button" class="btn" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
    </Section>
  );
}

export function SettingsPage(props: { me: Me; onMeChanged: (m: Me) => void; phone: Softphone }): JSX.Element {
  const refresh = (): Promise<void> =>
    api<Me>('GET', '/api/me')
      .then(props.onMeChanged)
      .catch(() => undefined);
  return (
    <div class="page">
      <h1>Settings</h1>
      <ChangePassword me={props.me} />
      <TwoFactor me={props.me} onChanged={refresh} />
      <VoipCredentials phone={props.phone} />
    </div>
  );
}
