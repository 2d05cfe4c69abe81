// First-time setup (the one-time token printed on the console, then the admin
// password) and login.

import { cloneElement, type VNode } from 'preact';
import { useState } from 'preact/hooks';
import type { SessionInfo } from '../../firmware/src/model/api.js';
import { ApiFailure, api, errorText } from '../api.js';
import { ErrorText } from '../components/common.js';
import { signedIn } from '../session.js';

interface FieldError {
  field?: string;
  message: string;
}

function failureOf(error: unknown): FieldError {
  return error instanceof ApiFailure ? { field: error.field, message: error.message } : { message: errorText(error) };
}

export const MIN_PASSWORD_LENGTH = 8;

export function SetupPage() {
  const [token, setToken] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<FieldError>();
  const submit = async (e: Event) => {
    e.preventDefault();
    if (password.length < MIN_PASSWORD_LENGTH)
      return setFailure({ field: 'password', message: `The password needs at least ${MIN_PASSWORD_LENGTH} characters.` });
    if (password !== again) return setFailure({ field: 'again', message: 'The two passwords differ.' });
    setBusy(true);
    setFailure(undefined);
    try {
      signedIn(await api<SessionInfo>('POST', '/auth/setup', { token: token.trim(), password }));
    } catch (error) {
      setFailure(failureOf(error));
    } finally {
      setBusy(false);
    }
  };
  const fieldError = (name: string) => (failure?.field === name ? failure.message : undefined);
  return (
    <main class="auth" id="main" tabIndex={-1}>
      <h1>Set up rackboot</h1>
      <p>Enter the one-time setup token (shown on the serial console and in the log when rackboot starts), then choose the admin password.</p>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field id="setup-token" label="Setup token" error={fieldError('token')}>
          <input id="setup-token" name="token" autocomplete="off" required value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        </Field>
        <Field id="setup-password" label="Admin password" error={fieldError('password')} hint={`At least ${MIN_PASSWORD_LENGTH} characters.`}>
          <input
            id="setup-password"
            name="password"
            type="password"
            autocomplete="new-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </Field>
        <Field id="setup-again" label="Admin password again" error={fieldError('again')}>
          <input
            id="setup-again"
            name="again"
            type="password"
            autocomplete="new-password"
            required
            value={again}
            onInput={(e) => setAgain(e.currentTarget.value)}
          />
        </Field>
        {failure && !failure.field && <ErrorText error={failure.message} />}
        {failure?.field && !['token', 'password', 'again'].includes(failure.field) && <ErrorText error={failure.message} />}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Setting up…' : 'Set password and log in'}
        </button>
      </form>
    </main>
  );
}

export function LoginPage({ reason }: { reason?: string }) {
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      signedIn(await api<SessionInfo>('POST', '/auth/login', { password }));
    } catch (failure) {
      setError(failure instanceof ApiFailure && failure.status === 401 ? 'Wrong password.' : errorText(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="auth" id="main" tabIndex={-1}>
      <h1>Log in to rackboot</h1>
      {reason && <p class="muted">{reason}</p>}
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field id="login-password" label="Admin password" error={error}>
          <input
            id="login-password"
            name="password"
            type="password"
            autocomplete="current-password"
            required
            autofocus
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </Field>
        <button type="submit" class="primary" disabled={busy || !password}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}

/** A labelled form field whose error is tied to the input for screen readers. */
export function Field({ id, label, error, hint, children }: { id: string; label: string; error?: string; hint?: string; children: VNode }) {
  const described = error ? `${id}-error` : hint ? `${id}-hint` : undefined;
  return (
    <div class={error ? 'field invalid' : 'field'}>
      <label for={id}>{label}</label>
      {cloneElement(children, { 'aria-invalid': error ? 'true' : undefined, 'aria-describedby': described })}
      {hint && !error && (
        <small id={`${id}-hint`} class="muted">
          {hint}
        </small>
      )}
      {error && (
        <small id={`${id}-error`} class="error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}
