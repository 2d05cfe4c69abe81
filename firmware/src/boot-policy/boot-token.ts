// Per-boot tokens. Anything on the boot network can send any `?mac=` and forge
// ARP, so neither says which node a request comes from. Each node's boot gets
// a random 128-bit token, handed only to the node itself: in its boot script's
// kernel, initrd and retry URLs and in the `rackboot.booted=URL` callback on its
// kernel command line. Only the holder of the current token can confirm that
// boot (the booted callback) or consume its one-shot next-boot profile.
//
// A token lives in memory only: after a restart nodes get new ones with their
// next script. It is kept while the node presents it again (iPXE's retry loop
// and a menu choice are the same boot) and replaced by a script request without
// it (a new boot). Comparisons take constant time.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Mac } from '../net/addr.js';

/** 128 bits, as 32 lower-case hex digits: inert in URLs, iPXE scripts and kernel command lines. */
export const BOOT_TOKEN_BYTES = 16;
const TOKEN_TEXT = /^[0-9a-f]{32}$/;
/** Nodes whose tokens are kept; the least recently issued go first (a flood of forged MACs stays bounded). */
const DEFAULT_CAPACITY = 8192;

/** Whether `text` has the form of a boot token (says nothing of whose). */
export function isBootTokenText(text: string | null | undefined): text is string {
  return typeof text === 'string' && TOKEN_TEXT.test(text);
}

export class BootTokens {
  /** Insertion-ordered: the oldest issued first. */
  private readonly tokens = new Map<Mac, Buffer>();

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  /**
   * The token for the script being served to `mac`: the current one when the
   * request presented it (same boot), else a fresh one that replaces it.
   */
  forScript(mac: Mac, presented?: string): string {
    if (this.matches(mac, presented)) return presented as string;
    const token = randomBytes(BOOT_TOKEN_BYTES);
    this.tokens.delete(mac);
    this.tokens.set(mac, token);
    if (this.tokens.size > this.capacity) this.tokens.delete(this.tokens.keys().next().value as Mac);
    return token.toString('hex');
  }

  /** True only for the node's current token; constant time in the token's value. */
  matches(mac: Mac, presented: string | null | undefined): boolean {
    const current = this.tokens.get(mac);
    if (!current || !isBootTokenText(presented)) return false;
    return timingSafeEqual(current, Buffer.from(presented, 'hex'));
  }

  /** Drops the node's token (a deleted node). */
  forget(mac: Mac): void {
    this.tokens.delete(mac);
  }

  get size(): number {
    return this.tokens.size;
  }
}
