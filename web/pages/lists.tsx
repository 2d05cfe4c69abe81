// Read-mostly pages: leases, boot profiles, appliance status.

import { Fragment } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ApplianceStatus, BootStats, LeaseView, ProfileView } from '../../firmware/src/model/api.js';
import { api } from '../api.js';
import { ErrorText } from '../components/common.js';
import { useLoad } from '../components/use-load.js';
import { BOOT_STAGES, diagnosisLabel, formatDuration, formatTime, stageLabel } from '../format.js';

export function LeasesPage() {
  const leases = useLoad(() => api<LeaseView[]>('GET', '/leases'), []);
  const [q, setQ] = useState('');
  const list = (leases.value ?? []).filter((l) => !q || [l.ip, l.mac, l.hostname, l.node, l.state].some((v) => v?.toLowerCase().includes(q.toLowerCase())));
  return (
    <main id="main" tabIndex={-1}>
      <div class="row between wrap">
        <h1>Leases</h1>
        <button type="button" onClick={leases.reload}>
          Reload
        </button>
      </div>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <div class="filter">
          <label for="f-search">Search</label>
          <input id="f-search" type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="IP, MAC, host name" />
        </div>
      </form>
      <ErrorText error={leases.error && `Could not load leases: ${leases.error}`} />
      {leases.value && list.length === 0 && <p class="muted">No leases{q ? ' match' : ' (in proxyDHCP mode the other DHCP server hands out addresses)'}.</p>}
      {list.length > 0 && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Address</th>
                <th scope="col">MAC</th>
                <th scope="col">State</th>
                <th scope="col">Node</th>
                <th scope="col">Host name</th>
                <th scope="col">Expires</th>
              </tr>
            </thead>
            <tbody>
              {list.map((l) => (
                <tr key={`${l.ip}-${l.mac}`}>
                  <td class="mono">{l.ip}</td>
                  <td class="mono">{l.mac}</td>
                  <td>{l.state}</td>
                  <td>{l.node ? <a href={`#/node/${encodeURIComponent(l.mac)}`}>{l.node}</a> : '—'}</td>
                  <td>{l.hostname ?? '—'}</td>
                  <td>{formatTime(l.expiresAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </main>
  );
}

export function ProfilesPage() {
  const profiles = useLoad(() => api<ProfileView[]>('GET', '/profiles'), []);
  return (
    <main id="main" tabIndex={-1}>
      <h1>Boot profiles</h1>
      <p class="muted">Profiles come from the configuration file; the default one is chosen in Settings.</p>
      <ErrorText error={profiles.error && `Could not load profiles: ${profiles.error}`} />
      <div class="cards">
        {(profiles.value ?? []).map((p) => (
          <section key={p.name} class="panel" aria-labelledby={`profile-${p.name}`}>
            <h2 id={`profile-${p.name}`}>
              {p.name} <span class="muted">{p.kind}</span> {p.isDefault && <span class="tag">default</span>}
            </h2>
            <dl class="facts">
              {Object.entries(p.settings).map(([key, value]) => (
                <Fragment key={key}>
                  <dt>{key}</dt>
                  <dd class="mono">{typeof value === 'string' ? value : JSON.stringify(value)}</dd>
                </Fragment>
              ))}
            </dl>
          </section>
        ))}
      </div>
    </main>
  );
}

const STATUS_REFRESH_MS = 10_000;

export function StatusPage() {
  const status = useLoad(() => api<ApplianceStatus>('GET', '/status'), []);
  const stats = useLoad(() => api<BootStats>('GET', '/stats'), []);
  const [counterFilter, setCounterFilter] = useState('');
  useEffect(() => {
    const timer = setInterval(() => {
      status.reload();
      stats.reload();
    }, STATUS_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  const s = status.value;
  const b = stats.value;
  const counters = Object.entries(s?.counters ?? {})
    .filter(([name]) => name.includes(counterFilter))
    .sort(([a], [c]) => a.localeCompare(c));
  return (
    <main id="main" tabIndex={-1}>
      <h1>Appliance status</h1>
      <ErrorText error={status.error && `Could not load the status: ${status.error}`} />
      {s && (
        <dl class="facts panel">
          <dt>Version</dt>
          <dd>{s.version}</dd>
          <dt>Host name</dt>
          <dd>{s.hostname}</dd>
          <dt>Interface</dt>
          <dd>
            {s.interface} ({s.address})
          </dd>
          <dt>Mode</dt>
          <dd>{s.mode === 'dhcp' ? 'DHCP server' : 'proxyDHCP (beside another DHCP server)'}</dd>
          <dt>Ports</dt>
          <dd>
            HTTP {s.httpPort}, TFTP {s.tftpPort}
          </dd>
          <dt>Uptime</dt>
          <dd>{formatDuration(s.uptimeSeconds)}</dd>
          <dt>Nodes</dt>
          <dd>
            {s.nodes} (
            {BOOT_STAGES.filter((st) => s.nodesByStage[st])
              .map((st) => `${stageLabel(st)} ${s.nodesByStage[st]}`)
              .join(', ') || 'none'}
            )
          </dd>
          <dt>Transfers now</dt>
          <dd>
            {s.activeTftpTransfers} TFTP, {s.activeHttpDownloads} HTTP
          </dd>
        </dl>
      )}
      <h2>Boots</h2>
      <ErrorText error={stats.error && `Could not load boot statistics: ${stats.error}`} />
      {b && (
        <dl class="facts panel">
          <dt>Started / completed</dt>
          <dd>
            {b.bootsStarted} / {b.bootsCompleted}
          </dd>
          <dt>Boot time</dt>
          <dd>
            {b.bootSeconds.count
              ? `median ${formatDuration(b.bootSeconds.median ?? 0)}, p95 ${formatDuration(b.bootSeconds.p95 ?? 0)}, min ${formatDuration(b.bootSeconds.min ?? 0)}, max ${formatDuration(b.bootSeconds.max ?? 0)} over ${b.bootSeconds.count} boots`
              : 'no completed boot yet'}
          </dd>
          <dt>Diagnoses</dt>
          <dd>
            {Object.entries(b.nodesByDiagnosis)
              .map(([d, n]) => `${diagnosisLabel(d)}: ${n}`)
              .join(', ') || 'none'}
          </dd>
          <dt>DHCP ACKs per boot</dt>
          <dd>
            {Object.entries(b.dhcpAcksPerBoot)
              .map(([kind, v]) => `${kind}: ${(v.acks / Math.max(1, v.boots)).toFixed(1)}`)
              .join(', ') || '—'}
          </dd>
        </dl>
      )}
      <h2>Counters</h2>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <div class="filter">
          <label for="f-filter-counters">Filter counters</label>
          <input
            id="f-filter-counters"
            type="search"
            value={counterFilter}
            onInput={(e) => setCounterFilter(e.currentTarget.value)}
            placeholder="dhcp., tftp., http."
          />
        </div>
      </form>
      {s && (
        <div class="table-wrap">
          <table class="counters">
            <tbody>
              {counters.map(([name, value]) => (
                <tr key={name}>
                  <th scope="row" class="mono">
                    {name}
                  </th>
                  <td class="num">{value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted">Refreshed every {STATUS_REFRESH_MS / 1000} s.</p>
    </main>
  );
}
