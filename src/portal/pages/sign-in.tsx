// Sign in: extension-tenant (e.g. 201-wickedsprockets) or email, and the login password; then the authenticator
// code when 2FA is on. Wrong passwords and the 15-minute wait after 5 failures get their own messages.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiFailure, messageOf, waitText, type Me } from '../api.ts';
import { Alert, Field, Link } from '../ui.tsx';

export function SignInPage(props: { notice?: string; onSignedIn: (me: Me) => void }): JSX.Element {
  const [step, setStep] = useState<'password' | 'code'>('password');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);

  const failed = (e: unknown): void => {
    if (e instanceof ApiFailure && e.code === 'SIPEDGE_ERR_API_LOGIN_FAILED') setError('Wrong username or password.');
    else if (e instanceof ApiFailure && e.code === 'SIPEDGE_ERR_API_TOTP_INVALID') setError('That code is wrong or was already used. Wait for the next code and try again.');
    else if (e instanceof ApiFailure && e.status === 429)
      setError(`Too many failed sign-in attempts. Please wait ${waitText(e.retryAfter ?? 900)} before trying again.`);
    else if (e instanceof ApiFailure && e.code === 'SIPEDGE_ERR_API_UNAUTHENTICATED') {
      setStep('password');
      setError('The sign-in took too long. Please enter your password again.');
    } else setError(messageOf(e));
  };

  const submitPassword = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await api<{ twoFactorRequired: boolean }>('POST', '/api/login', { username: username.trim(), password });
      setPassword('');
      if (r.twoFactorRequired) setStep('code');
      else props.onSignedIn(await api<Me>('GET', '/api/me'));
    } catch (err) {
      failed(err);
    } finally {
      setBusy(false);
    }
  };

  const submitCode = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', '/api/login/totp', { code: code.trim() });
      props.onSignedIn(await api<Me>('GET', '/api/me'));
    } catch (err) {
      failed(err);
      setCode('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="narrow">
      <h1>Sign in</h1>
      {props.notice && <Alert kind="info" testId="notice">{props.notice}</Alert>}
      {error && <Alert kind="error" testId="error">{error}</Alert>}
      {step === 'password' ? (
        <form class="card" onSubmit={(e) => void submitPassword(e)} aria-label="Sign in">
          <Field
            id="username"
            label="Username"
            hint="Your extension and company code, e.g. 201-wickedsprockets, or your email address."
            value={username}
            onInput={setUsername}
            autocomplete="username"
            required
            autofocus
          />
          <Field id="password" label="Password" type="password" value={password} onInput={setPassword} autocomplete="current-password" required />
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign In'}
          </button>
          <p class="below">
            <Link to="/forgot-password">Forgot password?</Link>
          </p>
        </form>
      ) : (
        <form class="card" onSubmit={(e) => void submitCode(e)} aria-label="Two-factor code">
          <p>Two-factor authentication is on for this account. Enter the 6-digit code from your authenticator app.</p>
          <Field
            id="totp"
            label="Authentication code"
            value={code}
            onInput={setCode}
            inputMode="numeric"
            autocomplete="one-time-code"
            pattern="[0-9]{6}"
            maxLength={6}
            required
            autofocus
          />
          <button type="submit" class="btn btn-primary" disabled={busy}>
            {busy ? 'Checking…' : 'Verify'}
          </button>
          <p class="below">
            <button type="button" class="linklike" onClick={() => { setStep('password'); setError(undefined); }}>
              Back
            </button>
          </p>
        </form>
      )}
    </div>
  );
}
