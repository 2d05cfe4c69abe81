// Random secrets and their comparison: session ids, CSRF tokens, API tokens and
// the one-time setup token (typed by a person from a serial console, so it uses
// an unambiguous alphabet in groups).

import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** `bytes` random bytes as base64url (URL- and cookie-safe, no padding). */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Compares two strings without leaking where they differ (both are hashed to equal length first). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** Crockford's base32: no I, L, O, U, so a token read aloud or off a console is typed right. */
const SETUP_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const SETUP_GROUPS = 5;
const SETUP_GROUP_LENGTH = 4;

/** 20 symbols of 5 bits (100 bits), shown as XXXX-XXXX-XXXX-XXXX-XXXX. */
export function createSetupToken(): string {
  const groups: string[] = [];
  for (let g = 0; g < SETUP_GROUPS; g++) {
    let group = '';
    for (let i = 0; i < SETUP_GROUP_LENGTH; i++) group += SETUP_ALPHABET[randomInt(SETUP_ALPHABET.length)];
    groups.push(group);
  }
  return groups.join('-');
}

/** What a person typed, in the token's canonical form: case, blanks and dashes ignored, O→0 and I/L→1 as Crockford reads them. */
export function canonicalSetupToken(typed: string): string {
  return typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}
