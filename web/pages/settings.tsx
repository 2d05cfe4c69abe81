// Settings: the run-time config keys (ConfigPatch) with the server's
// validation messages shown at the field they name, the admin password, API
// tokens, and the rest of the effective configuration read-only.

import { useEffect, useState } from 'preact/hooks';
import type { ApiTokenCreated, ApiTokenInfo, ConfigPatch, ConfigView, ProfileView } from '../../firmware/src/model/api.js';
import { ApiFailure, api, errorText } from '../api.js';
import { ErrorText } from '../components/common.js';
import { confirmAction } from '../components/confirm.js';
import { useLoad } from '../components/use-load.js';
import { formatAgo, formatTime } from '../format.js';
import { track } from '../notices.js';
import { Field, MIN_PASSWORD_LENGTH } from './auth.js';

interface FormError {
  field?: string;
  message: string;
}

function formError(error: unknown): FormError {
  return error instanceof ApiFailure ? { field: error.field, message: error.message } : { message: errorText(error) };
}

export function SettingsPage() {
  return (
    <main id="main" tabIndex={-1}>
      <h1>Settings</h1>
      <ConfigForm />
      <PasswordForm />
      <TokensPanel />
    </main>
  );
}

const CONFIG_FIELDS = ['defaultProfile', 'unknownNodes'];

function ConfigForm() {
  const config = useLoad(() => api<ConfigView>('GET', '/config'), []);
  const profiles = useLoad(() => api<ProfileView[]>('GET', '/profiles'), []);
  const [patch, setPatch] = useState<Required<ConfigPatch>>({ defaultProfile: '', unknownNodes: 'boot' });
  const [error, setError] = useState<FormError>();
  const [saved, setSaved] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (config.value) setPatch({ defaultProfile: config.value.defaultProfile, unknownNodes: config.value.unknownNodes });
  }, [config.value]);

  const submit = async (e: Event) => {
    e.preventDefault();
    const current = config.value;
    if (!current) return;
    // Send only what changed: the API applies exactly the keys it is given.
    const change: ConfigPatch = {};
    if (patch.defaultProfile !== current.defaultProfile) change.defaultProfile = patch.defaultProfile;
    if (patch.unknownNodes !== current.unknownNodes) change.unknownNodes = patch.unknownNodes;
    if (Object.keys(change).length === 0) return setSaved('Nothing changed.');
    setBusy(true);
    setError(undefined);
    setSaved(undefined);
    try {
      await api<ConfigView>('PATCH', '/config', change);
      setSaved(`Saved at ${formatTime(Date.now())}.`);
      config.reload();
    } catch (failure) {
      setError(formError(failure));
    } finally {
      setBusy(false);
    }
  };
  const fieldError = (name: string) => (error?.field === name ? error.message : undefined);
  const profileNames = (profiles.value ?? []).map((p) => p.name);
  if (patch.defaultProfile && !profileNames.includes(patch.defaultProfile)) profileNames.push(patch.defaultProfile);

  return (
    <section class="panel" aria-labelledby="config-heading">
      <h2 id="config-heading">Boot policy</h2>
      <ErrorText error={config.error && `Could not load the configuration: ${config.error}`} />
      {config.value && (
        <form onSubmit={(e) => void submit(e)} noValidate>
          <Field id="defaultProfile" label="Default profile" error={fieldError('defaultProfile')} hint="Nodes without their own profile boot this one.">
            <select
              id="defaultProfile"
              name="defaultProfile"
              value={patch.defaultProfile}
              onChange={(e) => setPatch({ ...patch, defaultProfile: e.currentTarget.value })}
            >
              {profileNames.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          </Field>
          <fieldset
            class={fieldError('unknownNodes') ? 'field invalid' : 'field'}
            aria-describedby={fieldError('unknownNodes') ? 'unknownNodes-error' : undefined}
          >
            <legend>Unknown nodes</legend>
            <label class="check">
              <input
                type="radio"
                name="unknownNodes"
                value="boot"
                checked={patch.unknownNodes === 'boot'}
                onChange={() => setPatch({ ...patch, unknownNodes: 'boot' })}
              />{' '}
              Boot them with the default profile
            </label>
            <label class="check">
              <input
                type="radio"
                name="unknownNodes"
                value="hold"
                checked={patch.unknownNodes === 'hold'}
                onChange={() => setPatch({ ...patch, unknownNodes: 'hold' })}
              />{' '}
              Hold them until approved
            </label>
            {fieldError('unknownNodes') && (
              <small id="unknownNodes-error" class="error" role="alert">
                {fieldError('unknownNodes')}
              </small>
            )}
          </fieldset>
          {error && (!error.field || !CONFIG_FIELDS.includes(error.field)) && (
            <ErrorText error={error.field ? `${error.field}: ${error.message}` : error.message} />
          )}
          <div class="row">
            <button type="submit" class="primary" disabled={busy}>
              {busy ? 'Saving…' : 'Save'}
            </button>
            {saved && (
              <span class="ok" role="status">
                {saved}
              </span>
            )}
          </div>
        </form>
      )}
      {config.value && (
        <details>
          <summary>Effective configuration (read-only, from {config.value.source})</summary>
          <dl class="facts">
            <dt>Interface</dt>
            <dd>{config.value.interface}</dd>
            <dt>Mode</dt>
            <dd>{config.value.mode}</dd>
            <dt>Server address</dt>
            <dd>{config.value.serverAddress}</dd>
          </dl>
          <pre class="json">{JSON.stringify(config.value.effective, null, 2)}</pre>
        </details>
      )}
    </section>
  );
}

function PasswordForm() {
  const [current, setCurrent] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<FormError>();
  const [done, setDone] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setDone(false);
    if (password.length < MIN_PASSWORD_LENGTH)
      return setError({ field: 'password', message: `The new password needs at least ${MIN_PASSWORD_LENGTH} characters.` });
    setError(undefined);
    try {
      await api('POST', '/auth/password', { current, password });
      setDone(true);
      setCurrent('');
      setPassword('');
    } catch (failure) {
      setError(formError(failure));
    }
  };
  const fieldError = (name: string) => (error?.field === name ? error.message : undefined);
  return (
    <section class="panel" aria-labelledby="password-heading">
      <h2 id="password-heading">Admin password</h2>
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field id="pw-current" label="Current password" error={fieldError('current')}>
          <input id="pw-current" type="password" autocomplete="current-password" value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
        </Field>
        <Field id="pw-new" label="New password" error={fieldError('password')} hint={`At least ${MIN_PASSWORD_LENGTH} characters.`}>
          <input id="pw-new" type="password" autocomplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </Field>
        {error && (!error.field || !['current', 'password'].includes(error.field)) && <ErrorText error={error.message} />}
        <div class="row">
          <button type="submit">Change password</button>
          {done && (
            <span class="ok" role="status">
              Password changed.
            </span>
          )}
        </div>
      </form>
    </section>
  );
}

function TokensPanel() {
  const tokens = useLoad(() => api<ApiTokenInfo[]>('GET', '/auth/tokens'), []);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<ApiTokenCreated>();
  const [error, setError] = useState<string>();
  const create = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      setCreated(await api<ApiTokenCreated>('POST', '/auth/tokens', { name: name.trim() }));
      setName('');
      tokens.reload();
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  const revoke = async (token: ApiTokenInfo) => {
    if (!(await confirmAction(`Revoke token ${token.name}?`, 'Scripts using this token lose access at once.', 'Revoke'))) return;
    await track(
      `Revoke token ${token.name}`,
      () => api('DELETE', `/auth/tokens/${encodeURIComponent(token.name)}`),
      () => `Token ${token.name} revoked`,
    );
    tokens.reload();
  };
  return (
    <section class="panel" aria-labelledby="tokens-heading">
      <h2 id="tokens-heading">API tokens</h2>
      <p class="muted">
        For scripts: send <code>Authorization: Bearer &lt;token&gt;</code>.
      </p>
      <ErrorText error={tokens.error} />
      {(tokens.value ?? []).length > 0 && (
        <ul class="plain">
          {tokens.value!.map((t) => (
            <li key={t.name} class="row between">
              <span>
                <strong>{t.name}</strong>{' '}
                <span class="muted">
                  created {formatTime(t.createdAt)}, last used {t.lastUsedAt ? formatAgo(t.lastUsedAt) : 'never'}
                </span>
              </span>
              <button type="button" class="warn" onClick={() => void revoke(t)}>
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}
      <form class="inline-form" onSubmit={(e) => void create(e)}>
        <label for="token-name">New token name</label>
        <input id="token-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <button type="submit" disabled={!name.trim()}>
          Create token
        </button>
      </form>
      <ErrorText error={error} />
      {created && (
        <div class="callout" role="status">
          Token <strong>{created.name}</strong> (shown once, copy it now): <code class="secret">{created.token}</code>
        </div>
      )}
    </section>
  );
}
