// Fuzz target: the journal loader at restart (ISC CVE-2021-25217 / Kea CVE-2019-6474: a
// lease file that crashes the server when it starts). Arbitrary file contents for
// leases.journal, leases.snapshot and leases.journal.old (split at SPLIT), then
// Journal.open, a put, a close and a second open; then LeaseTable.open on the same files.
// Invariants: opening never throws, whatever the files hold; every value loaded passes
// validation; after the put, the reopened store holds exactly what the first open loaded
// plus the new record (nothing lost, nothing resurrected), with no torn tail left behind;
// the lease table (the real validator) opens the same files too.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../../firmware/src/store/journal.js';
import { LeaseTable } from '../../../firmware/src/dhcp/leases.js';
import { check } from './_support.js';

export const maxLen = 4096;
export const SPLIT = '\0SPLIT\0';
export const dictionary = [SPLIT, '{"k":', '"v":', '"d":1', '}\n', ' {"k":"a","v":{"n":1}}\n', '00000000 '];

interface Value {
  n: number;
}
const isValue = (value: unknown): value is Value => typeof value === 'object' && value !== null && typeof (value as Value).n === 'number';

export async function fuzz(data: Buffer): Promise<void> {
  const dir = mkdtempSync(join('/dev/shm', 'rbfuzz-journal-'));
  try {
    const [journal, snapshot, old] = data.toString('latin1').split(SPLIT);
    writeFileSync(join(dir, 'leases.journal'), Buffer.from(journal ?? '', 'latin1'));
    if (snapshot !== undefined) writeFileSync(join(dir, 'leases.snapshot'), Buffer.from(snapshot, 'latin1'));
    if (old !== undefined) writeFileSync(join(dir, 'leases.journal.old'), Buffer.from(old, 'latin1'));

    const first = await Journal.open<Value>(dir, 'leases', { validate: isValue, compactAfterBytes: 1 << 20 });
    const loaded = new Map([...first.entries()].map(([k, v]) => [k, JSON.stringify(v)]));
    for (const value of first.values()) check(isValue(value), 'a loaded value failed validation');
    await first.put('fuzz-after-restart', { n: 42 });
    await first.close();

    const second = await Journal.open<Value>(dir, 'leases', { validate: isValue });
    check(second.get('fuzz-after-restart')?.n === 42, 'the record put after a load was lost on reopen');
    loaded.set('fuzz-after-restart', JSON.stringify({ n: 42 }));
    check(second.size === loaded.size, `reopen holds ${second.size} records, the first open had ${loaded.size}`);
    for (const [key, value] of second.entries()) check(loaded.get(key) === JSON.stringify(value), `record ${JSON.stringify(key)} changed across a reopen`);
    // (A damaged snapshot is reported again on every open; only the journal is appended to, so only its tail is cut.)
    const journalAfter = readFileSync(join(dir, 'leases.journal'));
    check(journalAfter.length === 0 || journalAfter.at(-1) === 0x0a, 'the journal was left with a torn tail after a clean close');
    await second.close();

    const leases = await LeaseTable.open(dir, { now: () => 1_700_000_000_000 });
    await leases.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
