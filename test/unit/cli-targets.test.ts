// The rack command line's targets: MAC spellings, name ranges, tags, and the
// refusal that names every target matching no node (before anything is changed).
import { describe, expect, it } from 'vitest';
import { expandRange, MAX_RANGE, parseMac, resolveTargets, TargetError } from '../../firmware/src/app/cli/targets.js';
import type { NodeView } from '../../firmware/src/model/api.js';

const node = (name: string, mac: string, tags: string[] = []) => ({ name, mac, tags }) as unknown as NodeView;
const NODES = [
  node('rack1-n01', '52:54:00:00:00:01', ['gpu']),
  node('rack1-n02', '52:54:00:00:00:02'),
  node('rack1-n03', '52:54:00:00:00:03', ['gpu']),
  node('deadbeefcafe', '52:54:00:00:00:04'),
];

describe('rack command line targets', () => {
  it('reads a MAC in colon, dash, dot and bare spelling', () => {
    for (const spelling of ['52:54:00:AB:cd:ef', '52-54-00-ab-cd-ef', '5254.00ab.cdef', '525400ABCDEF']) expect(parseMac(spelling)).toBe('52:54:00:ab:cd:ef');
    for (const bad of ['52:54:00:ab:cd', '52:54-00:ab:cd:ef', 'rack1-n01', '525400abcdeg']) expect(parseMac(bad)).toBeUndefined();
  });

  it('expands ranges with the width of the first bound, nested ones too', () => {
    expect(expandRange('rack1-n[01-03]')).toEqual(['rack1-n01', 'rack1-n02', 'rack1-n03']);
    expect(expandRange('r[1-2]-n[8-10]')).toEqual(['r1-n8', 'r1-n9', 'r1-n10', 'r2-n8', 'r2-n9', 'r2-n10']);
    expect(expandRange('plain')).toEqual(['plain']);
    expect(() => expandRange('n[5-1]')).toThrow(/backwards/);
    expect(() => expandRange(`n[1-${MAX_RANGE + 1}]`)).toThrow(/at most/);
    expect(() => expandRange('n[1-')).toThrow(TargetError);
  });

  it('resolves names, MACs, ranges and tags, each node once, in the order given', () => {
    const names = (targets: string[]) => resolveTargets(targets, NODES).map((n) => n.name);
    expect(names(['rack1-n[01-03]'])).toEqual(['rack1-n01', 'rack1-n02', 'rack1-n03']);
    expect(names(['tag:gpu', 'rack1-n01'])).toEqual(['rack1-n01', 'rack1-n03']);
    expect(names(['5254.0000.0002', '52-54-00-00-00-03'])).toEqual(['rack1-n02', 'rack1-n03']);
    // A name that looks like a bare-hex MAC is the node of that name.
    expect(names(['deadbeefcafe'])).toEqual(['deadbeefcafe']);
  });

  it('refuses the whole request when any target matches no node, naming them all', () => {
    expect(() => resolveTargets(['rack1-n[02-05]', 'tag:arm'], NODES)).toThrow('no node rack1-n04, rack1-n05, tag:arm');
  });
});
