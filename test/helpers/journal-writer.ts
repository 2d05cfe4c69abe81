// Child process for the crash test (test/integration/journal-crash.test.ts):
// binds leases as fast as it can and prints "<ip> <mac>" on stdout only after
// bind() resolved — the moment the server would send its ACK. The parent kills
// it with SIGKILL at random moments and checks every printed lease survived.
//
//   node journal-writer.mjs DIR COMPACT_AFTER_BYTES [CONCURRENCY]
//
// stdout writes to a pipe are synchronous on Linux, so a printed line is in the
// pipe before the next bind starts: nothing is "ACKed" that the parent cannot see.

import { LeaseTable } from '../../firmware/src/dhcp/leases.js';

/** Addresses cycle through this many clients, so leases are re-bound and compaction has work to fold. */
const CLIENTS = 1024;

const [dir, compactArg, concurrencyArg] = process.argv.slice(2);
if (!dir || !compactArg) {
  process.stderr.write('usage: journal-writer DIR COMPACT_AFTER_BYTES [CONCURRENCY]\n');
  process.exit(2);
}
const concurrency = Number(concurrencyArg ?? 16);

const table = await LeaseTable.open(dir, { now: () => Date.now() }, { compactAfterBytes: Number(compactArg) });
process.stdout.write('ready\n');

// Each client owns one address, so every lease ever printed must come back bound to its MAC.
let next = Math.floor(Math.random() * CLIENTS);

async function client(): Promise<never> {
  for (;;) {
    const n = next++ % CLIENTS;
    const ip = `10.77.${n >> 8}.${n & 0xff}`;
    const mac = `52:54:00:77:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
    await table.bind(ip, { key: mac, mac }, 3600, `node-${n}`);
    process.stdout.write(`${ip} ${mac}\n`);
  }
}

await Promise.all(Array.from({ length: concurrency }, client));
