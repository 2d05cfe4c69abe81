// The event log: stage changes, diagnoses, edits, power and auth events, with
// filters, and new events appended live while following.

import { useEffect, useState } from 'preact/hooks';
import type { RackbootEvent } from '../../firmware/src/model/api.js';
import { api } from '../api.js';
import { ErrorText } from '../components/common.js';
import { useLoad } from '../components/use-load.js';
import { formatTime, stageLabel } from '../format.js';
import { EVENT_TYPES, onLiveEvent } from '../live.js';

const LIMITS = [100, 500, 2000];
/** The page keeps at most this many rows; older ones drop off while following. */
const MAX_ROWS = 2000;

interface EventFilter {
  type: string;
  node: string;
  limit: number;
}

function matches(event: RackbootEvent, filter: EventFilter): boolean {
  if (filter.type && event.type !== filter.type) return false;
  const q = filter.node.trim().toLowerCase();
  if (q && !(event.mac?.toLowerCase().includes(q) || event.node?.toLowerCase().includes(q))) return false;
  return true;
}

export function EventsPage() {
  const [filter, setFilter] = useState<EventFilter>({ type: '', node: '', limit: LIMITS[0] });
  const [follow, setFollow] = useState(true);
  const [events, setEvents] = useState<RackbootEvent[]>([]);
  const loaded = useLoad(() => {
    const query = new URLSearchParams({ limit: String(filter.limit) });
    if (filter.type) query.set('type', filter.type);
    // The API filters by MAC; a name is filtered here.
    if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(filter.node.trim())) query.set('mac', filter.node.trim().toLowerCase());
    return api<RackbootEvent[]>('GET', `/events?${query}`);
  }, [filter.type, filter.node, filter.limit]);

  useEffect(() => {
    if (loaded.value) setEvents(loaded.value.filter((e) => matches(e, filter)).reverse());
  }, [loaded.value]);

  useEffect(() => {
    if (!follow) return;
    return onLiveEvent((event) => {
      if (matches(event, filter)) setEvents((list) => (list.some((e) => e.id === event.id) ? list : [event, ...list].slice(0, MAX_ROWS)));
    });
  }, [follow, filter]);

  return (
    <main id="main" tabIndex={-1}>
      <h1>Event log</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <div class="filter">
          <label for="f-type">Type</label>
          <select id="f-type" value={filter.type} onChange={(e) => setFilter({ ...filter, type: e.currentTarget.value })}>
            <option value="">All types</option>
            {EVENT_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div class="filter">
          <label for="f-node-name-or-mac">Node (name or MAC)</label>
          <input id="f-node-name-or-mac" type="search" value={filter.node} onChange={(e) => setFilter({ ...filter, node: e.currentTarget.value })} />
        </div>
        <div class="filter">
          <label for="f-show">Show</label>
          <select id="f-show" value={filter.limit} onChange={(e) => setFilter({ ...filter, limit: Number(e.currentTarget.value) })}>
            {LIMITS.map((n) => (
              <option key={n} value={n}>
                last {n}
              </option>
            ))}
          </select>
        </div>
        <label class="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Follow live
        </label>
        <button type="button" onClick={loaded.reload}>
          Reload
        </button>
      </form>
      <ErrorText error={loaded.error && `Could not load events: ${loaded.error}`} />
      <p class="muted">{loaded.loading ? 'Loading…' : `${events.length} events, newest first`}</p>
      <EventTable events={events} showNode />
    </main>
  );
}

export function EventTable({ events, showNode }: { events: readonly RackbootEvent[]; showNode: boolean }) {
  if (events.length === 0) return <p class="muted">No events.</p>;
  return (
    <div class="table-wrap">
      <table class="events">
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Type</th>
            {showNode && <th scope="col">Node</th>}
            <th scope="col">What happened</th>
            <th scope="col">By</th>
          </tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.id} data-type={e.type}>
              <td class="mono">{formatTime(e.at)}</td>
              <td>{e.type === 'stage' && e.stage ? `stage: ${stageLabel(e.stage)}` : e.type}</td>
              {showNode && <td>{e.mac ? <a href={`#/node/${encodeURIComponent(e.mac)}`}>{e.node ?? e.mac}</a> : '—'}</td>}
              <td>{e.message}</td>
              <td>{e.by ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
