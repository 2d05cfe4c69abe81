// The event log: ids that keep increasing across restarts, bounded retention,
// queries, subscriptions, and appends that never throw at the caller.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog, MAX_QUERY_LIMIT } from '../../firmware/src/inventory/events.js';
import type { RackbootEvent } from '../../firmware/src/model/event.js';
import { FakeClock } from '../helpers/fake-clock.js';
import type { Logger, LogFields } from '../../firmware/src/util/log.js';

function recordingLogger() {
  const lines: { level: string; msg: string; fields?: LogFields }[] = [];
  const logger: Logger = {
    debug: (msg, fields) => lines.push({ level: 'debug', msg, fields }),
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
    child: () => logger,
  };
  return { lines, logger };
}

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';

describe('EventLog', () => {
  let dir: string;
  let clock: FakeClock;
  const open = (extra: Partial<Parameters<typeof EventLog.open>[1]> = {}) =>
    EventLog.open(dir, { clock: { now: () => clock.now }, log: recordingLogger().logger, ...extra });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rbinv-events-'));
    clock = new FakeClock();
    clock.now = 1_700_000_000_000;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('assigns increasing ids and times, and keeps them across a restart', async () => {
    const log = await open();
    expect(log.lastId).toBe(0);
    const first = log.append({ type: 'system', message: 'started' });
    clock.now += 5;
    const second = log.append({ type: 'stage', mac: A, node: 'n1', stage: 'offered', message: 'n1: offered', detail: { from: 'dhcp_discover' } });
    expect([first.id, second.id]).toEqual([1, 2]);
    expect(second.at).toBe(first.at + 5);
    expect(log.lastId).toBe(2);
    await log.close();

    expect(await EventLog.read(dir)).toEqual([first, second]);
    const again = await open();
    expect(again.lastId).toBe(2);
    expect(again.query()).toEqual([first, second]);
    expect(again.append({ type: 'system', message: 'started again' }).id).toBe(3);
    await again.close();
  });

  it('survives a torn final write: the whole events before it come back, ids go on from them', async () => {
    const log = await open();
    for (let i = 0; i < 5; i++) log.append({ type: 'system', message: `e${i}` });
    await log.close();
    // A crash in the middle of the next record.
    await appendFile(join(dir, 'events.journal'), '0badc0de {"k":"6","v":{"id":6,"at":1,"ty');
    const again = await open();
    expect(again.loadReport.truncatedTail).toBeGreaterThan(0);
    expect(again.query().map((e) => e.message)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
    expect(again.append({ type: 'system', message: 'next' }).id).toBe(6);
    await again.close();
    const text = await readFile(join(dir, 'events.journal'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const third = await open();
    expect(third.lastId).toBe(6);
    await third.close();
  });

  it('keeps the newest `retain` events, pruning the oldest in batches, also on disk', async () => {
    const log = await open({ retain: 100, pruneBatch: 10 });
    for (let i = 1; i <= 109; i++) log.append({ type: 'system', message: `e${i}` });
    expect(log.size).toBe(109); // below retain + batch: nothing pruned yet
    log.append({ type: 'system', message: 'e110' });
    expect(log.size).toBe(100);
    expect(log.query({ limit: 1 })[0].message).toBe('e110');
    expect(log.query({ after: 0, limit: 1 })[0].id).toBe(11);
    await log.close();
    const again = await open({ retain: 100, pruneBatch: 10 });
    expect(again.size).toBe(100);
    expect(again.lastId).toBe(110);
    await again.close();
    // Opening with a smaller retention prunes at once.
    const smaller = await open({ retain: 20, pruneBatch: 1 });
    expect(smaller.size).toBe(20);
    expect(smaller.query({ after: 0 })[0].id).toBe(91);
    await smaller.close();
  });

  it('queries by node, type, time and id, oldest first, bounded', async () => {
    const log = await open();
    const all: RackbootEvent[] = [];
    for (let i = 0; i < 30; i++) {
      clock.now += 1000;
      all.push(log.append({ type: i % 3 === 0 ? 'diagnosis' : 'stage', mac: i % 2 === 0 ? A : B, message: `m${i}` }));
    }
    expect(log.query().map((e) => e.id)).toEqual(all.map((e) => e.id));
    expect(log.query({ mac: A }).every((e) => e.mac === A)).toBe(true);
    expect(log.query({ mac: A })).toHaveLength(15);
    expect(log.query({ type: 'diagnosis' })).toHaveLength(10);
    expect(log.query({ type: ['diagnosis', 'stage'] })).toHaveLength(30);
    expect(log.query({ mac: B, type: 'diagnosis' }).map((e) => e.message)).toEqual(['m3', 'm9', 'm15', 'm21', 'm27']);
    // Without a starting point: the newest `limit`, oldest first.
    expect(log.query({ limit: 3 }).map((e) => e.message)).toEqual(['m27', 'm28', 'm29']);
    // From a starting point: paging forward.
    expect(log.query({ after: all[4].id, limit: 3 }).map((e) => e.message)).toEqual(['m5', 'm6', 'm7']);
    expect(log.query({ since: all[10].at, limit: 2 }).map((e) => e.message)).toEqual(['m10', 'm11']);
    expect(log.query({ after: log.lastId })).toEqual([]);
    expect(log.query({ limit: 0 })).toEqual([]);
    expect(log.query({ limit: 10 * MAX_QUERY_LIMIT })).toHaveLength(30);
    expect(
      log
        .timeline(B)
        .map((e) => e.message)
        .slice(0, 2),
    ).toEqual(['m1', 'm3']);
    await log.close();
  });

  it('tells subscribers at once; a failing subscriber is logged and harms nobody', async () => {
    const { lines, logger } = recordingLogger();
    const log = await open({ log: logger });
    const seen: number[] = [];
    log.subscribe(() => {
      throw new Error('boom');
    });
    const stop = log.subscribe((e) => seen.push(e.id));
    log.append({ type: 'system', message: 'one' });
    stop();
    log.append({ type: 'system', message: 'two' });
    expect(seen).toEqual([1]);
    expect(lines.filter((l) => l.msg === 'event listener failed')).toHaveLength(2);
    await log.close();
  });

  it('never throws at the caller when the disk refuses; logs the failure once and counts every one', async () => {
    const { lines, logger } = recordingLogger();
    const log = await open({ log: logger });
    await log.close();
    const event = log.append({ type: 'system', message: 'after close' });
    log.append({ type: 'system', message: 'again' });
    expect(event.id).toBe(1);
    await log.flush();
    expect(log.failedWriteCount).toBe(2);
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(log.query()).toHaveLength(2); // still readable from memory
  });

  it('ignores stored records that are not events', async () => {
    const log = await open();
    log.append({ type: 'system', message: 'good' });
    await log.close();
    const { crc32 } = await import('../../firmware/src/store/crc32.js');
    const body = JSON.stringify({ k: '7', v: { id: 8, at: 1, type: 'system', message: 'key does not match id' } });
    await appendFile(join(dir, 'events.journal'), `${crc32(Buffer.from(body)).toString(16).padStart(8, '0')} ${body}\n`);
    const again = await open();
    expect(again.loadReport.skippedCorrupt).toBe(1);
    expect(again.lastId).toBe(1);
    await again.close();
  });
});
