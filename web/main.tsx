// The web UI's entry: session gate (setup / login / app), hash routing, the
// header with navigation and the live-stream indicator.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { NoticeRegion } from './components/common.js';
import { ConfirmHost } from './components/confirm.js';
import { startLive, stopLive, streamState } from './live.js';
import { LoginPage, SetupPage } from './pages/auth.js';
import { EventsPage } from './pages/events.js';
import { LeasesPage, ProfilesPage, StatusPage } from './pages/lists.js';
import { NodePage } from './pages/node.js';
import { RackPage } from './pages/rack.js';
import { SettingsPage } from './pages/settings.js';
import { checkSession, session, signedOut } from './session.js';
import { useStore } from './store.js';
import './style.css';

const NAV = [
  ['#/rack', 'Rack'],
  ['#/events', 'Events'],
  ['#/leases', 'Leases'],
  ['#/profiles', 'Profiles'],
  ['#/status', 'Status'],
  ['#/settings', 'Settings'],
] as const;

function currentHash(): string {
  return location.hash || '#/rack';
}

function useHash(): string {
  const [hash, setHash] = useState(currentHash());
  useEffect(() => {
    const changed = () => setHash(currentHash());
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

function Page({ hash }: { hash: string }) {
  const [, route = 'rack', arg = ''] = hash.split('/');
  switch (route) {
    case 'node':
      return <NodePage id={decodeURIComponent(arg)} />;
    case 'events':
      return <EventsPage />;
    case 'leases':
      return <LeasesPage />;
    case 'profiles':
      return <ProfilesPage />;
    case 'status':
      return <StatusPage />;
    case 'settings':
      return <SettingsPage />;
    default:
      return <RackPage />;
  }
}

const STREAM_WORDS = { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…', stopped: 'Offline' };

function Shell() {
  const hash = useHash();
  const stream = useStore(streamState);
  useEffect(() => {
    startLive();
    return stopLive;
  }, []);
  useEffect(() => {
    // Move focus to the new page's content so keyboard and screen-reader users land on it.
    document.getElementById('main')?.focus({ preventScroll: true });
    const title = hash.split('/')[1] || 'rack';
    document.title = `rackboot · ${title}`;
  }, [hash]);
  const logout = async () => {
    try {
      await api('POST', '/auth/logout');
    } finally {
      stopLive();
      signedOut('You logged out.');
    }
  };
  const section = `#/${hash.split('/')[1] || 'rack'}`;
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="#/rack">
          rackboot
        </a>
        <nav aria-label="Pages">
          {NAV.map(([href, label]) => (
            <a key={href} href={href} aria-current={section === href || (href === '#/rack' && section === '#/node') ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <span class={`stream ${stream}`} role="status" title="Live updates from the appliance">
          {STREAM_WORDS[stream]}
        </span>
        <button type="button" class="link" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      <Page hash={hash} />
      <NoticeRegion />
      <ConfirmHost />
    </>
  );
}

function App() {
  const phase = useStore(session);
  useEffect(() => {
    void checkSession();
  }, []);
  switch (phase.kind) {
    case 'loading':
      return (
        <main class="auth" id="main" tabIndex={-1} aria-busy="true">
          <p>Connecting to rackboot…</p>
        </main>
      );
    case 'unreachable':
      return (
        <main class="auth" id="main" tabIndex={-1}>
          <h1>rackboot is not answering</h1>
          <p class="error" role="alert">
            {phase.message}
          </p>
          <button type="button" onClick={() => void checkSession()}>
            Try again
          </button>
        </main>
      );
    case 'setup':
      return <SetupPage />;
    case 'login':
      return <LoginPage reason={phase.reason} />;
    case 'ready':
      return <Shell />;
  }
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
