// The rack, live: loads the node list, then follows /api/v1/events/stream
// (Server-Sent Events) and patches nodes as stage events arrive. Changes are
// published at most once per animation frame, so a boot storm of 1,000 nodes
// re-renders the grid a few times a second, not a thousand.

import type { NodeView, RackbootEvent } from '../firmware/src/model/api.js';
import { EVENT_TYPES } from '../firmware/src/model/event.js';
import { API_BASE, api, errorText, nodePath } from './api.js';
import { applyEvent } from './rack-model.js';
import { Store } from './store.js';

export { EVENT_TYPES };

export interface RackSnapshot {
  nodes: Map<string, NodeView>;
  /** Bumped on every change so components can tell. */
  version: number;
  loaded: boolean;
  error?: string;
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export const rack = new Store<RackSnapshot>({ nodes: new Map(), version: 0, loaded: false });
export const streamState = new Store<StreamState>('stopped');

const eventListeners = new Set<(event: RackbootEvent) => void>();

/** Every event from the stream, after the rack has applied it (node and event pages listen). */
export function onLiveEvent(listener: (event: RackbootEvent) => void): () => void {
  eventListeners.add(listener);
  return () => eventListeners.delete(listener);
}

let source: EventSource | undefined;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let publishPending = false;
const refetchQueue = new Set<string>();
let refetchTimer: ReturnType<typeof setTimeout> | undefined;
/** Past this many nodes to re-read, one list GET is cheaper than many node GETs. */
const REFETCH_ALL_ABOVE = 20;

function publish(): void {
  if (publishPending) return;
  publishPending = true;
  const flush = () => {
    publishPending = false;
    rack.update((r) => ({ ...r, version: r.version + 1 }));
  };
  if (typeof requestAnimationFrame === 'function' && !document.hidden) requestAnimationFrame(flush);
  else setTimeout(flush, 100);
}

let loadSequence = 0;
/** Events that arrive while a list load is in flight; replayed onto the new list, which may predate them. */
let arrivedDuringLoad: RackbootEvent[] | undefined;

export async function loadNodes(): Promise<void> {
  const sequence = ++loadSequence;
  arrivedDuringLoad ??= [];
  try {
    const list = await api<NodeView[]>('GET', '/nodes');
    if (sequence !== loadSequence) return; // a newer load is under way; its answer wins
    const nodes = new Map(list.map((node) => [node.mac, node]));
    for (const event of arrivedDuringLoad ?? []) applyEvent(nodes, event);
    rack.update((r) => ({ nodes, version: r.version + 1, loaded: true }));
  } catch (error) {
    if (sequence !== loadSequence) return;
    rack.update((r) => ({ ...r, version: r.version + 1, error: errorText(error) }));
  } finally {
    if (sequence === loadSequence) arrivedDuringLoad = undefined;
  }
}

/** Replaces one node by a fresh copy (after an action or an edit event). */
export function putNode(node: NodeView): void {
  rack.value.nodes.set(node.mac, node);
  publish();
}

function queueRefetch(mac: string): void {
  refetchQueue.add(mac);
  refetchTimer ??= setTimeout(() => void runRefetch(), 250);
}

async function runRefetch(): Promise<void> {
  refetchTimer = undefined;
  const macs = [...refetchQueue];
  refetchQueue.clear();
  if (macs.length > REFETCH_ALL_ABOVE) return loadNodes();
  await Promise.all(
    macs.map(async (mac) => {
      try {
        putNode(await api<NodeView>('GET', nodePath(mac)));
      } catch {
        // Gone (404) or unreachable: the next list load settles it.
        if (rack.value.nodes.delete(mac)) publish();
      }
    }),
  );
}

function handleEvent(message: MessageEvent<string>): void {
  let event: RackbootEvent;
  try {
    event = JSON.parse(message.data) as RackbootEvent;
  } catch {
    return; // not ours to crash on; the server only sends JSON
  }
  arrivedDuringLoad?.push(event);
  const effect = applyEvent(rack.value.nodes, event);
  if (effect === 'updated' || effect === 'removed') publish();
  if (effect === 'refetch' && event.mac) queueRefetch(event.mac);
  for (const listener of eventListeners) listener(event);
}

export function startLive(): void {
  stopLive();
  connect();
  // The list is read on every (re)open of the stream too; this first read just shows the rack sooner.
  void loadNodes();
}

function connect(): void {
  streamState.set(source ? 'reconnecting' : 'connecting');
  const es = new EventSource(`${API_BASE}/events/stream`);
  source = es;
  es.onopen = () => {
    // Events between a list read and the stream opening would be lost; reading the list
    // after every open (first or resumed) closes that gap.
    void loadNodes();
    streamState.set('live');
  };
  es.onerror = () => {
    streamState.set('reconnecting');
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (401, 503...) and the browser gave up: check the
      // session (a 401 sends the UI to the login page) and retry ourselves.
      void api('GET', '/auth/session').catch(() => undefined);
      retryTimer = setTimeout(connect, 5000);
    }
  };
  for (const type of EVENT_TYPES) es.addEventListener(type, handleEvent as EventListener);
  es.onmessage = handleEvent;
}

export function stopLive(): void {
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = undefined;
  source?.close();
  source = undefined;
  streamState.set('stopped');
}
