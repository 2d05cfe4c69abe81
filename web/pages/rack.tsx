// The rack: every node as a compact card (name, stage colour, diagnosis, IP,
// power buttons), live over SSE, with search and stage/diagnosis filters.
// 1,000 cards stay cheap: cards are memoised (a stage event re-renders one
// card) and off-screen cards skip layout and paint (content-visibility).

import { Component } from 'preact';
import { useMemo, useState } from 'preact/hooks';
import type { NodeView, PowerResult } from '../../firmware/src/model/api.js';
import { api } from '../api.js';
import { DiagnosisText, ErrorText, PowerButtons, StageBadge, type PowerAction } from '../components/common.js';
import { confirmAction } from '../components/confirm.js';
import { BOOT_STAGES, DIAGNOSES, diagnosisLabel, formatAgo, loaderLabel, stageColor, stageLabel } from '../format.js';
import { loadNodes, rack } from '../live.js';
import { track } from '../notices.js';
import { EMPTY_FILTER, countByStage, countFailed, visibleNodes, type RackFilter } from '../rack-model.js';
import { useStore } from '../store.js';

/** Re-renders only when its node object is replaced (the rack model replaces, never mutates, a changed node). */
class NodeCard extends Component<{ node: NodeView }> {
  override shouldComponentUpdate(next: { node: NodeView }): boolean {
    return next.node !== this.props.node;
  }

  override render() {
    return <NodeCardBody node={this.props.node} />;
  }
}

function NodeCardBody({ node }: { node: NodeView }) {
  const ip = node.currentIp ?? node.ip;
  return (
    <li class="card" data-mac={node.mac} data-stage={node.stage} style={{ borderLeftColor: stageColor(node.stage) }}>
      <a class="name" href={`#/node/${encodeURIComponent(node.mac)}`}>
        {node.name}
      </a>
      <StageBadge stage={node.stage} />
      <span class="ip">{ip ?? 'no address'}</span>
      <span class="platform" title="Architecture (from its firmware's DHCP request) and the boot loader rackboot hands it">
        {node.arch ?? 'arch unknown'} · {loaderLabel(node.loader)}
      </span>
      <DiagnosisText diagnosis={node.diagnosis} detail={node.diagnosisDetail} />
      {!node.approved && <span class="diag fail">Waiting for approval</span>}
      {node.recovery.on && (
        <span class="recovery" title="A failed boot of this node is power-cycled automatically">
          recovery on
        </span>
      )}
      <PowerButtons node={node} compact />
    </li>
  );
}

async function powerAll(action: PowerAction, count: number): Promise<void> {
  const words = { on: 'Power on', off: 'Power off', cycle: 'Power cycle' }[action];
  if (action !== 'on') {
    const ok = await confirmAction(
      `${words} the whole rack?`,
      `${words} every node with a power channel (${count} nodes). Everything running on them stops.`,
      `${words} all`,
    );
    if (!ok) return;
  }
  await track(
    `${words} all nodes`,
    () => api<PowerResult[]>('POST', '/power', { action }),
    (results) => {
      const failed = results.filter((r) => !r.ok);
      if (failed.length === 0) return `${words} all: ${results.length} nodes done`;
      const names = failed.slice(0, 5).map((r) => `${r.name}${r.message ? ` (${r.message})` : ''}`);
      return { error: `${words} all: ${failed.length} of ${results.length} failed: ${names.join(', ')}${failed.length > 5 ? '…' : ''}` };
    },
  );
}

export function RackPage() {
  const snapshot = useStore(rack);
  const [filter, setFilter] = useState<RackFilter>(EMPTY_FILTER);
  const all = snapshot.nodes;
  const shown = useMemo(() => visibleNodes(all.values(), filter), [snapshot.version, filter]);
  const counts = useMemo(() => countByStage(all.values()), [snapshot.version]);
  const failed = useMemo(() => countFailed(all.values()), [snapshot.version]);
  const powered = useMemo(() => [...all.values()].filter((n) => n.powerChannel).length, [snapshot.version]);
  const set = (change: Partial<RackFilter>) => setFilter((f) => ({ ...f, ...change }));
  const newest = useMemo(() => Math.max(0, ...[...all.values()].map((n) => n.lastSeenAt ?? 0)), [snapshot.version]);

  return (
    <main id="main" tabIndex={-1}>
      <div class="row between wrap">
        <h1>Rack</h1>
        <div class="row wrap" role="group" aria-label="Power for the whole rack">
          <button type="button" disabled={!powered} onClick={() => void powerAll('on', powered)}>
            Power on all
          </button>
          <button type="button" class="warn" disabled={!powered} onClick={() => void powerAll('cycle', powered)}>
            Power cycle all
          </button>
          <button type="button" class="danger" disabled={!powered} onClick={() => void powerAll('off', powered)}>
            Power off all
          </button>
        </div>
      </div>
      <ul class="chips" aria-label="Nodes by stage">
        {BOOT_STAGES.filter((s) => counts[s]).map((stage) => (
          <li key={stage}>
            <button type="button" class="chip" aria-pressed={filter.stage === stage} onClick={() => set({ stage: filter.stage === stage ? '' : stage })}>
              <span class="dot" style={{ background: stageColor(stage) }} aria-hidden="true" />
              {stageLabel(stage)} <strong>{counts[stage]}</strong>
            </button>
          </li>
        ))}
        {failed > 0 && (
          <li>
            <button
              type="button"
              class="chip fail"
              aria-pressed={filter.diagnosis === 'failed'}
              onClick={() => set({ diagnosis: filter.diagnosis === 'failed' ? '' : 'failed' })}
            >
              Failed <strong>{failed}</strong>
            </button>
          </li>
        )}
      </ul>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <div class="filter">
          <label for="f-search">Search</label>
          <input id="f-search" type="search" name="q" placeholder="name, MAC, IP, tag" value={filter.q} onInput={(e) => set({ q: e.currentTarget.value })} />
        </div>
        <div class="filter">
          <label for="f-stage">Stage</label>
          <select id="f-stage" name="stage" value={filter.stage} onChange={(e) => set({ stage: e.currentTarget.value as RackFilter['stage'] })}>
            <option value="">Any stage</option>
            {BOOT_STAGES.map((s) => (
              <option key={s} value={s}>
                {stageLabel(s)}
              </option>
            ))}
          </select>
        </div>
        <div class="filter">
          <label for="f-diagnosis">Diagnosis</label>
          <select
            id="f-diagnosis"
            name="diagnosis"
            value={filter.diagnosis}
            onChange={(e) => set({ diagnosis: e.currentTarget.value as RackFilter['diagnosis'] })}
          >
            <option value="">Any</option>
            <option value="failed">Any failure</option>
            {DIAGNOSES.map((d) => (
              <option key={d} value={d}>
                {diagnosisLabel(d)}
              </option>
            ))}
          </select>
        </div>
        {(filter.q || filter.stage || filter.diagnosis) && (
          <button type="button" onClick={() => setFilter(EMPTY_FILTER)}>
            Clear filters
          </button>
        )}
      </form>
      <p class="muted" aria-live="polite" id="rack-count">
        {snapshot.loaded ? `Showing ${shown.length} of ${all.size} nodes` : 'Loading nodes…'}
        {newest > 0 && ` · last activity ${formatAgo(newest)}`}
      </p>
      {snapshot.error && (
        <div class="row">
          <ErrorText error={`Could not load the nodes: ${snapshot.error}`} />
          <button type="button" onClick={() => void loadNodes()}>
            Retry
          </button>
        </div>
      )}
      {snapshot.loaded && all.size === 0 && (
        <p>No nodes yet. Nodes appear here as soon as they send their first DHCP request, or add them in the config file.</p>
      )}
      <ul class="grid" aria-label="Nodes">
        {shown.map((node) => (
          <NodeCard key={node.mac} node={node} />
        ))}
      </ul>
    </main>
  );
}
