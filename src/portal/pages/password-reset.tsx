// Forgot password (asks for a reset link, valid 1 hour) and the /reset-password?token= page the link opens.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiFailure, messageOf } from '../api.ts';
import { navigate } from '../router.ts';
import { Alert, Field, Link } from '../ui.tsx';

export function ForgotPage(): JSX.Element {
  const [username, setUsername] = useState('');
  const [sent, setSent] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', '/api/password/forgot', { username: username.trim() });
      setSent(true);
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="narrow">
      <h1>Forgot password</h1>
      {sent ? (
        <Alert kind="success" testId="sent">
          If this account exists and has an email address, a reset link is on its way. The link works once, for 1 hour. No email address on file? Ask your
          administrator to reset your password.
        </Alert>
      ) : (
        <form class="card" onSubmit={(e) => void submit(e)} aria-label="Forgot password">
          {error && <Alert kind="error">{error}</Alert>}
          <Field id="username" label="Username" hint="Your extension and company code (e.g. 201-wickedsprockets) or your email address." value={username} onInput={setUsername} autocomplete="username" required autofocus />
          <button type="submit" class="btn btn-primary" disabled={busy}>
            Send Reset Link
          </button>
        </form>
      )}
      <p class="below">
        <Link to="/sign-in">Back to sign in</Link>
      </p>
    </div>
  );
}

export function ResetPage(props: { token: string; onDone: (notice: string) => void }): JSX.Element {
  const [pw, setPw] = useState('');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [violations, setViolations] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    setViolations([]);
    if (pw !== confirm) {
      setError('The two passwords do not match.');
      return;
    }
    setBusy(true);
    try {
      await api('POST', '/api/password/reset', { token: props.token, newPassword: pw });
      props.onDone('Your password was changed. Sign in with the new password.');
      navigate('/sign-in');
    } catch (err) {
      if (err instanceof ApiFailure && err.code === 'SIPEDGE_ERR_API_PASSWORD_POLICY') {
        setError('The new password does not meet the password rules:');
        setViolations((err.body.violations ?? []).map((v) => `Password ${v.message}.`));
      } else if (err instanceof ApiFailure && err.code === 'SIPEDGE_ERR_API_TOKEN_INVALID') {
        setError('This reset link is invalid, expired or already used. Ask for a new one.');
      } else setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  if (props.token === '') {
    return (
      <div class="narrow">
        <h1>Reset password</h1>
        <Alert kind="error">This page needs the link from your reset email.</Alert>
        <p class="below">
          <Link to="/forgot-password">Ask for a reset link</Link>
        </p>
      </div>
    );
  }
  return (
    <div class="narrow">
      <h1>Reset password</h1>
      <form class="card" onSubmit={(e) => void submit(e)} aria-label="Reset password">
        {error && (
          <Alert kind="error" testId="error">
            {error}
            {violations.length > 0 && (
              <ul>
                {violations.map((v) => (
                  <li key={v}>{v}</li>
                ))}
              </ul>
            )}
          </Alert>
        )}
        <Field id="new-password" label="New password" hint="At least 8 characters; your company may ask for more." type="password" value={pw} onInput={setPw} autocomplete="new-password" required autofocus />
        <Field id="confirm-password" label="Confirm new password" type="password" value={confirm} onInput={setConfirm} autocomplete="new-password" required />
        <button type="submit" class="btn btn-primary" disabled={busy}>
          Set New Password
        </button>
      </form>
    </div>
  );
}
