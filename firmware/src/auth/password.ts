// Password hashing for the admin account: scrypt (memory-hard, in Node's
// crypto, no dependency) with a random salt per hash. The parameters are stored
// with the hash, so they can be raised later without invalidating old hashes.

import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. 2^15 with r = 8 uses 32 MiB and takes ~0.1 s on a Pi 4. */
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 1 << 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
/** Stored parameters beyond these are refused: a tampered state file must not make a login take minutes or gigabytes. */
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 16;

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

export interface PasswordHash {
  algorithm: 'scrypt';
  N: number;
  r: number;
  p: number;
  /** base64 */
  salt: string;
  /** base64, KEY_LENGTH bytes */
  hash: string;
}

/** Why a new password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return `expected at least ${MIN_PASSWORD_LENGTH} characters, found ${password.length}`;
  if (password.length > MAX_PASSWORD_LENGTH) return `expected at most ${MAX_PASSWORD_LENGTH} characters, found ${password.length}`;
  if (password.trim().length === 0) return 'expected something other than blanks';
  return undefined;
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT_PARAMS): Promise<PasswordHash> {
  const salt = randomBytes(SALT_LENGTH);
  const hash = await derive(password, salt, params);
  return { algorithm: 'scrypt', N: params.N, r: params.r, p: params.p, salt: salt.toString('base64'), hash: hash.toString('base64') };
}

/** Constant-time comparison of the derived key with the stored one. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  if (!isPasswordHash(stored)) return false;
  const expected = Buffer.from(stored.hash, 'base64');
  const actual = await derive(password, Buffer.from(stored.salt, 'base64'), stored);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

export function isPasswordHash(value: unknown): value is PasswordHash {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v.algorithm === 'scrypt' &&
    isPowerOfTwo(v.N) &&
    (v.N as number) <= MAX_N &&
    Number.isInteger(v.r) &&
    (v.r as number) >= 1 &&
    (v.r as number) <= MAX_R &&
    Number.isInteger(v.p) &&
    (v.p as number) >= 1 &&
    (v.p as number) <= MAX_P &&
    typeof v.salt === 'string' &&
    Buffer.from(v.salt, 'base64').length >= 8 &&
    typeof v.hash === 'string' &&
    Buffer.from(v.hash, 'base64').length === KEY_LENGTH
  );
}

function isPowerOfTwo(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 2 && ((value as number) & ((value as number) - 1)) === 0;
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  // maxmem must exceed 128 * N * r (Node refuses at the boundary); give it twice that.
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + (1 << 20) };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}
