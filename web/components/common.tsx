// Small shared pieces: stage badge, error text, the notices region, power buttons.

import type { NodeView, PowerResult } from '../../firmware/src/model/api.js';
import type { Diagnosis } from '../../firmware/src/model/boot.js';
import { useState } from 'preact/hooks';
import { api, nodePath } from '../api.js';
import { diagnosisLabel, isFailure, stageColor, stageLabel } from '../format.js';
import { putNode } from '../live.js';
import { dismiss, notices, track } from '../notices.js';
import { useStore } from '../store.js';
import { confirmAction } from './confirm.js';

export function StageBadge({ stage }: { stage: string }) {
  return (
    <span class="badge" data-stage={stage}>
      <span class="dot" style={{ background: stageColor(stage) }} aria-hidden="true" />
      {stageLabel(stage)}
    </span>
  );
}

export function DiagnosisText({ diagnosis, detail }: { diagnosis?: Diagnosis; detail?: string }) {
  if (!diagnosis) return null;
  return (
    <span class={isFailure(diagnosis) ? 'diag fail' : 'diag ok'} title={detail}>
      {diagnosisLabel(diagnosis)}
    </span>
  );
}

export function ErrorText({ error }: { error?: string }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

export function NoticeRegion() {
  const list = useStore(notices);
  return (
    <div class="notices" role="status" aria-live="polite">
      {list.map((n) => (
        <div key={n.id} class={`notice ${n.kind}`}>
          <span>{n.text}</span>
          {n.kind !== 'busy' && (
            <button type="button" class="link" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
              ×
            </button>
          )}
        </div>
      ))}
    </div>
  );
}

export type PowerAction = 'on' | 'off' | 'cycle';
const ACTION_WORDS: Record<PowerAction, string> = { on: 'Power on', off: 'Power off', cycle: 'Power cycle' };

export async function powerNode(node: Pick<NodeView, 'mac' | 'name'>, action: PowerAction): Promise<void> {
  if (action !== 'on') {
    const ok = await confirmAction(
      `${ACTION_WORDS[action]} ${node.name}?`,
      `The node ${node.name} (${node.mac}) loses power${action === 'cycle' ? ' briefly and boots again' : ''}. Anything running on it stops.`,
      ACTION_WORDS[action],
    );
    if (!ok) return;
  }
  await track(
    `${ACTION_WORDS[action]} ${node.name}`,
    () => api<PowerResult>('POST', `${nodePath(node.mac)}/power`, { action }),
    (r) =>
      r.ok
        ? `${ACTION_WORDS[action]} ${r.name}: done, power is ${r.state}`
        : { error: `${ACTION_WORDS[action]} ${r.name} failed: ${r.message ?? `power is ${r.state}`}` },
  );
  // The power event refreshes the rack too; a direct read makes the page right even without the stream.
  try {
    putNode(await api<NodeView>('GET', nodePath(node.mac)));
  } catch {
    // the notice already told the story
  }
}

export function PowerButtons({ node, compact }: { node: Pick<NodeView, 'mac' | 'name' | 'powerChannel'>; compact?: boolean }) {
  // One action at a time per node: a second click while the first runs would queue a second relay switch.
  const [busy, setBusy] = useState(false);
  const run = async (action: PowerAction) => {
    setBusy(true);
    try {
      await powerNode(node, action);
    } finally {
      setBusy(false);
    }
  };
  const disabled = !node.powerChannel || busy;
  const why = !node.powerChannel ? 'No power channel configured for this node' : undefined;
  return (
    <div class="power" role="group" aria-label={`Power ${node.name}`}>
      {(['on', 'off', 'cycle'] as const).map((action) => (
        <button
          type="button"
          key={action}
          class={action === 'on' ? '' : 'warn'}
          disabled={disabled}
          title={why ?? `${ACTION_WORDS[action]} ${node.name}`}
          aria-label={`${ACTION_WORDS[action]} ${node.name}`}
          aria-busy={busy || undefined}
          onClick={() => void run(action)}
        >
          {compact ? (action === 'on' ? 'On' : action === 'off' ? 'Off' : 'Cycle') : ACTION_WORDS[action]}
        </button>
      ))}
    </div>
  );
}
