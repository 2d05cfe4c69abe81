// web/rack-model.ts: applying SSE events to the node map, and the rack's filters.

import { describe, expect, it } from 'vitest';
import type { NodeView, RackbootEvent } from '../../firmware/src/model/api.js';
import { applyEvent, countByStage, countFailed, matchesFilter, visibleNodes, EMPTY_FILTER } from '../../web/rack-model.js';

function node(name: string, mac: string, extra: Partial<NodeView> = {}): NodeView {
  return {
    mac,
    name,
    tags: [],
    notes: '',
    origin: 'config',
    approved: true,
    createdAt: 0,
    updatedAt: 0,
    stage: 'off',
    loader: 'ipxe',
    stageSince: 0,
    boots: 0,
    booted: 0,
    dhcpAcks: 0,
    evidence: [],
    power: 'off',
    recovery: { on: false, attempts: 0 },
    ...extra,
  };
}

const A = '52:54:00:00:00:01';
let id = 1;
const event = (e: Omit<RackbootEvent, 'id' | 'message'> & { message?: string }): RackbootEvent => ({ id: id++, message: 'm', ...e });

describe('applyEvent', () => {
  it('moves a node to the event stage, replacing (not mutating) the node', () => {
    const before = node('n1', A);
    const nodes = new Map([[A, before]]);
    expect(applyEvent(nodes, event({ type: 'stage', mac: A, stage: 'kernel', at: 500 }))).toBe('updated');
    const after = nodes.get(A)!;
    expect(after).not.toBe(before);
    expect(before.stage).toBe('off');
    expect(after.stage).toBe('kernel');
    expect(after.stageSince).toBe(500);
    expect(after.lastSeenAt).toBe(500);
  });

  it('clears the previous diagnosis when a new boot begins, keeps it otherwise', () => {
    const nodes = new Map([[A, node('n1', A, { stage: 'offered', diagnosis: 'no_offer', diagnosisDetail: 'lost' })]]);
    applyEvent(nodes, event({ type: 'stage', mac: A, stage: 'acknowledged', at: 1 }));
    expect(nodes.get(A)!.diagnosis).toBe('no_offer');
    applyEvent(nodes, event({ type: 'stage', mac: A, stage: 'dhcp_discover', at: 2 }));
    expect(nodes.get(A)!.diagnosis).toBeUndefined();
    expect(nodes.get(A)!.diagnosisDetail).toBeUndefined();
    expect(nodes.get(A)!.bootStartedAt).toBe(2);
  });

  it('takes a diagnosis and its words from a diagnosis event', () => {
    const nodes = new Map([[A, node('n1', A)]]);
    expect(applyEvent(nodes, event({ type: 'diagnosis', mac: A, diagnosis: 'tftp_read_timeout', message: 'block 17', at: 3 }))).toBe('updated');
    expect(nodes.get(A)).toMatchObject({ diagnosis: 'tftp_read_timeout', diagnosisDetail: 'block 17' });
  });

  it('asks for a refetch for unknown nodes, edits and power; removes deleted nodes', () => {
    const nodes = new Map([[A, node('n1', A)]]);
    expect(applyEvent(nodes, event({ type: 'stage', mac: '52:54:00:00:00:99', stage: 'offered', at: 1 }))).toBe('refetch');
    expect(applyEvent(nodes, event({ type: 'node.updated', mac: A, at: 1 }))).toBe('refetch');
    expect(applyEvent(nodes, event({ type: 'power', mac: A, at: 1 }))).toBe('refetch');
    expect(applyEvent(nodes, event({ type: 'auth', at: 1 }))).toBe('none');
    expect(applyEvent(nodes, event({ type: 'config', mac: A, at: 1 }))).toBe('none');
    expect(applyEvent(nodes, event({ type: 'node.deleted', mac: A, at: 1 }))).toBe('removed');
    expect(nodes.size).toBe(0);
    expect(applyEvent(nodes, event({ type: 'node.deleted', mac: A, at: 1 }))).toBe('none');
  });

  it('a stage event naming a new architecture asks for a refetch (the loader may change with it); the same one does not', () => {
    const nodes = new Map([[A, node('n1', A, { arch: 'x86 BIOS' })]]);
    expect(applyEvent(nodes, event({ type: 'stage', mac: A, stage: 'offered', at: 1, detail: { arch: 'x86 BIOS' } }))).toBe('updated');
    expect(applyEvent(nodes, event({ type: 'stage', mac: A, stage: 'dhcp_discover', at: 2, detail: { arch: 'x64 UEFI' } }))).toBe('refetch');
    expect(nodes.get(A)!.stage).toBe('dhcp_discover');
  });

  it('ignores a stage event without a stage', () => {
    const nodes = new Map([[A, node('n1', A)]]);
    expect(applyEvent(nodes, event({ type: 'stage', mac: A, at: 1 }))).toBe('none');
    expect(nodes.get(A)!.stage).toBe('off');
  });
});

describe('filters', () => {
  const list = [
    node('node-10', '52:54:00:00:00:0a', { ip: '10.0.0.10', stage: 'booted', diagnosis: 'booted', tags: ['gpu'] }),
    node('node-2', '52:54:00:00:00:02', { currentIp: '10.0.0.2', stage: 'offered', diagnosis: 'no_offer' }),
    node('node-1', '52:54:00:00:00:01', { stage: 'kernel', profile: 'rescue' }),
  ];

  it('sorts names the way people count', () => {
    expect(visibleNodes(list, EMPTY_FILTER).map((n) => n.name)).toEqual(['node-1', 'node-2', 'node-10']);
  });

  it('searches name, MAC (with or without colons), IPs, tags and profile; every word must match', () => {
    const names = (q: string) => visibleNodes(list, { ...EMPTY_FILTER, q }).map((n) => n.name);
    expect(names('10.0.0.2')).toEqual(['node-2']);
    expect(names('52540000000a')).toEqual(['node-10']);
    expect(names('GPU')).toEqual(['node-10']);
    expect(names('rescue')).toEqual(['node-1']);
    expect(names('node gpu')).toEqual(['node-10']);
    expect(names('node nothing')).toEqual([]);
  });

  it('filters by stage, by diagnosis, and by any failure', () => {
    expect(list.filter((n) => matchesFilter(n, { ...EMPTY_FILTER, stage: 'kernel' })).map((n) => n.name)).toEqual(['node-1']);
    expect(list.filter((n) => matchesFilter(n, { ...EMPTY_FILTER, diagnosis: 'booted' })).map((n) => n.name)).toEqual(['node-10']);
    expect(list.filter((n) => matchesFilter(n, { ...EMPTY_FILTER, diagnosis: 'failed' })).map((n) => n.name)).toEqual(['node-2']);
  });

  it('counts nodes by stage and failures', () => {
    expect(countByStage(list)).toEqual({ booted: 1, offered: 1, kernel: 1 });
    expect(countFailed(list)).toBe(1);
  });
});
