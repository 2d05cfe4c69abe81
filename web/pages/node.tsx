// One node: facts, boot timeline chart and events, profile and next-boot
// selection, approval and power actions. Follows the live stream.

import { useEffect, useState } from 'preact/hooks';
import type { NodeUpdate, NodeView, ProfileView, RackbootEvent } from '../../firmware/src/model/api.js';
import { api, nodePath } from '../api.js';
import { DiagnosisText, ErrorText, PowerButtons, StageBadge } from '../components/common.js';
import { TimelineChart } from '../components/timeline-chart.js';
import { useLoad } from '../components/use-load.js';
import { formatAgo, formatTime, loaderLabel } from '../format.js';
import { onLiveEvent, putNode, rack } from '../live.js';
import { track } from '../notices.js';
import { useStore } from '../store.js';
import { EventTable } from './events.js';

export function NodePage({ id }: { id: string }) {
  const snapshot = useStore(rack);
  const loaded = useLoad(() => api<NodeView>('GET', nodePath(id)), [id]);
  const profiles = useLoad(() => api<ProfileView[]>('GET', '/profiles'), []);
  const [events, setEvents] = useState<RackbootEvent[]>([]);
  const [eventsError, setEventsError] = useState<string>();
  const [now, setNow] = useState(Date.now());
  const [allBoots, setAllBoots] = useState(false);

  // The rack's copy is the live one once the node is known there.
  const node = (loaded.value && snapshot.nodes.get(loaded.value.mac)) ?? loaded.value;
  const mac = node?.mac;

  useEffect(() => {
    if (!mac) return;
    let current = true;
    api<RackbootEvent[]>('GET', `${nodePath(mac)}/timeline`).then(
      (list) => current && (setEvents(list), setEventsError(undefined)),
      (error: Error) => current && setEventsError(error.message),
    );
    const stop = onLiveEvent((event) => {
      if (event.mac === mac) setEvents((list) => (list.some((e) => e.id === event.id) ? list : [...list, event]));
    });
    return () => {
      current = false;
      stop();
    };
  }, [mac]);

  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);

  if (loaded.error && !node) {
    return (
      <main id="main" tabIndex={-1}>
        <h1>Node {id}</h1>
        <ErrorText error={loaded.error} />
        <a href="#/rack">Back to the rack</a>
      </main>
    );
  }
  if (!node)
    return (
      <main id="main" tabIndex={-1} aria-busy="true">
        <p>Loading {id}…</p>
      </main>
    );

  return (
    <main id="main" tabIndex={-1}>
      <p>
        <a href="#/rack">← Rack</a>
      </p>
      <div class="row between wrap">
        <h1>{node.name}</h1>
        <PowerButtons node={node} />
      </div>
      <p class="row wrap">
        <StageBadge stage={node.stage} />{' '}
        <span class="muted">
          since {formatTime(node.stageSince)} ({formatAgo(node.stageSince, now)})
        </span>
        <DiagnosisText diagnosis={node.diagnosis} detail={node.diagnosisDetail} />
      </p>
      {node.diagnosisDetail && <p class="detail">{node.diagnosisDetail}</p>}
      {!node.approved && <Approve node={node} />}

      <section aria-labelledby="timeline-heading">
        <div class="row between wrap">
          <h2 id="timeline-heading">Timeline</h2>
          <label class="check">
            <input type="checkbox" checked={allBoots} onChange={(e) => setAllBoots(e.currentTarget.checked)} /> Show earlier boots
          </label>
        </div>
        <TimelineChart events={events} now={now} current={node} allBoots={allBoots} />
        <ErrorText error={eventsError && `Could not load the timeline: ${eventsError}`} />
      </section>

      <div class="columns">
        <section aria-labelledby="facts-heading">
          <h2 id="facts-heading">Node</h2>
          <dl class="facts">
            <dt>MAC</dt>
            <dd class="mono">{node.mac}</dd>
            <dt>Fixed address</dt>
            <dd>{node.ip ?? '—'}</dd>
            <dt>Current address</dt>
            <dd>{node.currentIp ?? '—'}</dd>
            <dt>Architecture</dt>
            <dd class="arch">{node.arch ?? 'not seen yet'}</dd>
            <dt>Boot loader</dt>
            <dd class="loader">{loaderLabel(node.loader)}</dd>
            <dt>Firmware</dt>
            <dd>{node.firmware ?? '—'}</dd>
            <dt>Power</dt>
            <dd>
              {node.power} {node.powerChannel ? `(channel ${node.powerChannel})` : '(no power channel)'}
            </dd>
            <dt>Recovery</dt>
            <dd class="recovery">{recoveryText(node.recovery, now)}</dd>
            <dt>Boots</dt>
            <dd>
              {node.booted} of {node.boots} booted · {node.dhcpAcks} DHCP ACKs this boot
            </dd>
            <dt>Last seen</dt>
            <dd>{formatAgo(node.lastSeenAt, now)}</dd>
            <dt>Tags</dt>
            <dd>{node.tags.length ? node.tags.join(', ') : '—'}</dd>
            <dt>Origin</dt>
            <dd>{node.origin}</dd>
            {node.notes && (
              <>
                <dt>Notes</dt>
                <dd>{node.notes}</dd>
              </>
            )}
          </dl>
        </section>
        <section aria-labelledby="boot-heading">
          <h2 id="boot-heading">Boot profile</h2>
          {profiles.error && <ErrorText error={`Could not load profiles: ${profiles.error}`} />}
          <ProfileForm node={node} profiles={profiles.value ?? []} />
          <NextBootForm node={node} profiles={profiles.value ?? []} />
        </section>
      </div>

      {node.evidence.length > 0 && (
        <section aria-labelledby="evidence-heading">
          <h2 id="evidence-heading">Evidence</h2>
          <ol class="evidence">
            {node.evidence.map((item, i) => (
              <li key={i}>
                <time class="mono">{formatTime(item.at)}</time> {item.text}
              </li>
            ))}
          </ol>
        </section>
      )}

      <section aria-labelledby="events-heading">
        <h2 id="events-heading">Events</h2>
        <EventTable events={[...events].reverse()} showNode={false} />
      </section>
    </main>
  );
}

async function updateNode(node: NodeView, label: string, change: NodeUpdate): Promise<void> {
  const updated = await track(
    label,
    () => api<NodeView>('PATCH', nodePath(node.mac), change),
    () => `${label}: saved`,
  );
  if (updated) putNode(updated);
}

function Approve({ node }: { node: NodeView }) {
  const approve = async () => {
    const updated = await track(
      `Approve ${node.name}`,
      () => api<NodeView>('POST', `${nodePath(node.mac)}/approve`),
      (n) => `${n.name} approved: it gets a boot file from now on`,
    );
    if (updated) putNode(updated);
  };
  return (
    <div class="callout row wrap between">
      <span>This node was discovered and is held: it gets no boot file until you approve it.</span>
      <button type="button" class="primary" onClick={() => void approve()}>
        Approve {node.name}
      </button>
    </div>
  );
}

function ProfileForm({ node, profiles }: { node: NodeView; profiles: ProfileView[] }) {
  const defaultProfile = profiles.find((p) => p.isDefault)?.name;
  const [choice, setChoice] = useState(node.profile ?? '');
  useEffect(() => setChoice(node.profile ?? ''), [node.profile]);
  const submit = (e: Event) => {
    e.preventDefault();
    if (choice) void updateNode(node, `Profile of ${node.name} set to ${choice}`, { profile: choice });
  };
  return (
    <form class="inline-form" onSubmit={submit}>
      <label for="profile">Profile</label>
      <select id="profile" value={choice} onChange={(e) => setChoice(e.currentTarget.value)}>
        {!node.profile && <option value="">Default{defaultProfile ? ` (${defaultProfile})` : ''}</option>}
        {profiles.map((p) => (
          <option key={p.name} value={p.name}>
            {p.name} ({p.kind})
          </option>
        ))}
      </select>
      <button type="submit" disabled={!choice || choice === (node.profile ?? '')}>
        Save profile
      </button>
    </form>
  );
}

function NextBootForm({ node, profiles }: { node: NodeView; profiles: ProfileView[] }) {
  const [choice, setChoice] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!choice) return;
    const updated = await track(
      `Next boot of ${node.name}`,
      () => api<NodeView>('POST', `${nodePath(node.mac)}/next-boot`, { profile: choice }),
      (n) => `${n.name} boots ${choice} once, next time`,
    );
    if (updated) putNode(updated);
  };
  return (
    <form class="inline-form" onSubmit={(e) => void submit(e)}>
      <label for="next-boot">Next boot only</label>
      <select id="next-boot" value={choice} onChange={(e) => setChoice(e.currentTarget.value)}>
        <option value="">Choose a profile…</option>
        {profiles.map((p) => (
          <option key={p.name} value={p.name}>
            {p.name}
          </option>
        ))}
      </select>
      <button type="submit" disabled={!choice}>
        Set next boot
      </button>
      {node.nextBootProfile && (
        <p class="muted">
          Next boot: <strong>{node.nextBootProfile}</strong>{' '}
          <button type="button" class="link" onClick={() => void updateNode(node, `Next boot of ${node.name} cleared`, { nextBootProfile: null })}>
            Clear
          </button>
        </p>
      )}
      <p class="muted">
        For a re-image: the profile is used for one boot (until its boot script is served), then the node returns to {node.profile ?? 'the default profile'}.
      </p>
    </form>
  );
}

/** "recovery on · 1 power-cycle since an operator switched it · boot window until 10:42:07", or "recovery off". */
function recoveryText(recovery: NodeView['recovery'], now: number): string {
  if (!recovery.on) return 'recovery off (failed boots are not power-cycled)';
  const parts = ['recovery on', `${recovery.attempts} power-cycle${recovery.attempts === 1 ? '' : 's'} since an operator switched it`];
  if (recovery.bootWindowEndsAt !== undefined && recovery.bootWindowEndsAt > now) parts.push(`boot window until ${formatTime(recovery.bootWindowEndsAt, now)}`);
  return parts.join(' · ');
}
