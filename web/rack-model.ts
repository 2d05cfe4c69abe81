// The rack as the UI holds it: nodes by MAC, kept current by applying
// server-sent events, plus the filter/search the rack page offers.
// Pure functions (unit-tested in test/unit/web-rack-model.test.ts).

import type { NodeView, RackbootEvent } from '../firmware/src/model/api.js';
import type { BootStage, Diagnosis } from '../firmware/src/model/boot.js';
import { naturalCompare } from './format.js';

/**
 * What an event means for the node list:
 * - 'updated': the node in the map was replaced by a patched copy;
 * - 'refetch': the event says the node changed in ways only a GET can tell (edits, power);
 * - 'removed': the node is gone;
 * - 'none': not about a node we know.
 */
export type EventEffect = 'updated' | 'refetch' | 'removed' | 'none';

/** Stages at which a new boot begins: the previous boot's diagnosis no longer applies. */
const BOOT_BEGINS: ReadonlySet<BootStage> = new Set(['off', 'power_on', 'dhcp_discover']);

export function applyEvent(nodes: Map<string, NodeView>, event: RackbootEvent): EventEffect {
  const mac = event.mac;
  if (!mac) return 'none';
  const node = nodes.get(mac);
  switch (event.type) {
    case 'stage': {
      if (!node) return 'refetch';
      if (!event.stage) return 'none';
      const patched: NodeView = { ...node, stage: event.stage, stageSince: event.at, lastSeenAt: Math.max(node.lastSeenAt ?? 0, event.at) };
      if (BOOT_BEGINS.has(event.stage)) {
        delete patched.diagnosis;
        delete patched.diagnosisDetail;
        if (event.stage !== 'off') patched.bootStartedAt = event.at;
      }
      if (event.diagnosis) patched.diagnosis = event.diagnosis;
      nodes.set(mac, patched);
      // A new architecture can change the loader the node gets (the boot policy's), which only the API knows.
      const arch = event.detail?.arch;
      if (typeof arch === 'string' && arch !== node.arch) return 'refetch';
      return 'updated';
    }
    case 'diagnosis': {
      if (!node) return 'refetch';
      if (!event.diagnosis) return 'none';
      nodes.set(mac, { ...node, diagnosis: event.diagnosis, diagnosisDetail: event.message });
      return 'updated';
    }
    case 'node.deleted':
      return nodes.delete(mac) ? 'removed' : 'none';
    case 'node.created':
    case 'node.updated':
    case 'node.discovered':
    case 'power':
    case 'recovery':
      return 'refetch';
    default:
      return 'none';
  }
}

export interface RackFilter {
  /** Free text: matches name, MAC, IP, tags, profile. */
  q: string;
  stage: BootStage | '';
  /** A diagnosis, or 'failed' for any failure. */
  diagnosis: Diagnosis | 'failed' | '';
}

export const EMPTY_FILTER: RackFilter = { q: '', stage: '', diagnosis: '' };

export function matchesFilter(node: NodeView, filter: RackFilter): boolean {
  if (filter.stage && node.stage !== filter.stage) return false;
  if (filter.diagnosis === 'failed') {
    if (!node.diagnosis || node.diagnosis === 'booted') return false;
  } else if (filter.diagnosis && node.diagnosis !== filter.diagnosis) return false;
  const q = filter.q.trim().toLowerCase();
  if (!q) return true;
  return q.split(/\s+/).every((word) => searchText(node).includes(word));
}

function searchText(node: NodeView): string {
  return [node.name, node.mac, node.mac.replaceAll(':', ''), node.ip, node.currentIp, node.profile, node.powerChannel, ...node.tags]
    .filter(Boolean)
    .join(' ')
    .toLowerCase();
}

export function visibleNodes(nodes: Iterable<NodeView>, filter: RackFilter): NodeView[] {
  const list: NodeView[] = [];
  for (const node of nodes) if (matchesFilter(node, filter)) list.push(node);
  return list.sort((a, b) => naturalCompare(a.name, b.name));
}

export function countByStage(nodes: Iterable<NodeView>): Partial<Record<BootStage, number>> {
  const counts: Partial<Record<BootStage, number>> = {};
  for (const node of nodes) counts[node.stage] = (counts[node.stage] ?? 0) + 1;
  return counts;
}

export function countFailed(nodes: Iterable<NodeView>): number {
  let failed = 0;
  for (const node of nodes) if (node.diagnosis && node.diagnosis !== 'booted') failed++;
  return failed;
}
