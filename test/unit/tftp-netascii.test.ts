// netascii converted as it is sent (tftp/netascii.ts streamNetascii): pairs that straddle
// chunk and block boundaries against a reference conversion, memory bounded by what the
// transfer may still resend, and files over 4 GiB (sparse, made with truncate).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamNetascii, type ByteSource } from '../../firmware/src/tftp/netascii.js';
import { FileCache } from '../../firmware/src/tftp/file-cache.js';

/** RFC 764 as a reader of the RFC would write it, independent of the product's code. */
function reference(local: Buffer): Buffer {
  const out: number[] = [];
  for (const byte of local) {
    if (byte === 0x0a) out.push(0x0d, 0x0a);
    else if (byte === 0x0d) out.push(0x0d, 0x00);
    else out.push(byte);
  }
  return Buffer.from(out);
}

function memory(data: Buffer): ByteSource & { reads: number } {
  const source = {
    size: data.length,
    reads: 0,
    read(offset: number, length: number) {
      source.reads++;
      return data.subarray(offset, offset + length);
    },
  };
  return source;
}

/** Reads the stream the way a lock-step transfer does: block by block, releasing each ACKed block. */
function drain(data: Buffer, chunk: number, blksize: number): Buffer {
  const stream = streamNetascii(memory(data), chunk);
  const blocks: Buffer[] = [];
  for (let offset = 0; ; offset += blksize) {
    const block = Buffer.from(stream.read(offset, blksize));
    blocks.push(block);
    stream.release(offset + block.length);
    if (block.length < blksize) break;
  }
  return Buffer.concat(blocks);
}

describe('streamNetascii: conversion across chunk and block boundaries', () => {
  it('CR, LF, CR LF and LF CR at every position, for small chunk and block sizes, equal the reference', () => {
    const base = Buffer.from('ab\ncd\re\r\nf\n\rg\n\n\r\rh');
    for (let shift = 0; shift < 5; shift++) {
      const local = Buffer.concat([Buffer.alloc(shift, 0x78), base]);
      const expected = reference(local);
      for (const chunk of [1, 2, 3, 5, 7, 64]) {
        for (const blksize of [1, 2, 3, 4, 8, 512]) {
          expect(drain(local, chunk, blksize), `shift ${shift}, chunk ${chunk}, blksize ${blksize}`).toEqual(expected);
        }
      }
    }
  });

  it('random text with many line ends, random chunk and block sizes', () => {
    let seed = 19;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 40; round++) {
      const local = Buffer.alloc(Math.floor(random() * 5000));
      for (let i = 0; i < local.length; i++) {
        const r = random();
        local[i] = r < 0.15 ? 0x0a : r < 0.3 ? 0x0d : r < 0.35 ? 0x00 : 0x20 + Math.floor(random() * 95);
      }
      const chunk = 1 + Math.floor(random() * 700);
      const blksize = 1 + Math.floor(random() * 1500);
      expect(drain(local, chunk, blksize), `round ${round}`).toEqual(reference(local));
    }
  });

  it('a converted size that is a multiple of blksize ends with an empty block', () => {
    const local = Buffer.from('abc\n'); // 5 bytes on the wire
    const stream = streamNetascii(memory(local));
    expect(stream.read(0, 5).toString('latin1')).toBe('abc\r\n');
    expect(stream.read(5, 5).length).toBe(0);
  });

  it('re-reads of blocks not yet released give the same bytes (go-back-N); released ones throw', () => {
    const local = Buffer.from('x\n'.repeat(3000));
    const stream = streamNetascii(memory(local), 100);
    const first = Buffer.from(stream.read(0, 512));
    const second = Buffer.from(stream.read(512, 512));
    expect(stream.read(0, 512)).toEqual(first);
    stream.release(512);
    expect(stream.read(512, 512)).toEqual(second);
    expect(() => stream.read(0, 512)).toThrow(/released/);
  });

  it('a file that shrinks underneath is an error, never a short block', () => {
    let data = Buffer.alloc(300_000, 0x41);
    const source: ByteSource = { size: data.length, read: (o, l) => data.subarray(o, o + l) };
    const stream = streamNetascii(source);
    stream.read(0, 512);
    data = data.subarray(0, 100_000);
    expect(() => stream.read(200_000, 512)).toThrow(/file changed/);
  });

  it('reads the file only as far as it sends: the first block of a large file reads one chunk', () => {
    const source = memory(Buffer.alloc(10 * 1024 * 1024, 0x61));
    const stream = streamNetascii(source);
    expect(stream.read(0, 512).length).toBe(512);
    expect(source.reads).toBe(1);
  });
});

describe('streamNetascii: memory and files over 4 GiB', () => {
  let work: string;
  const big = 5 * 1024 ** 3; // 5 GiB, sparse
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'rb-tftp-netascii-'));
    const path = join(work, 'big.txt');
    const fd = openSync(path, 'w');
    writeSync(fd, Buffer.from('line one\nline two\r\n'), 0, 19, 0);
    closeSync(fd);
    truncateSync(path, big);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('streams a 5 GiB sparse file through the file cache in bounded memory (a window of 64 blocks of 1468 bytes)', async () => {
    const cache = new FileCache();
    const file = await cache.get(join(work, 'big.txt'));
    expect(file.size).toBe(big);
    expect(file.inMemory).toBe(false);
    const stream = streamNetascii(file);
    const blksize = 1468;
    const window = 64;
    const head = stream.read(0, blksize);
    expect(head.subarray(0, 22).toString('latin1')).toBe('line one\r\nline two\r\0\r\n');
    // 16 MiB worth of windows: every ACK of a window releases it, the next window is read.
    let maxBuffered = 0;
    for (let block = 0; block < (16 * 1024 * 1024) / blksize; block += window) {
      for (let b = block; b < block + window; b++) expect(stream.read(b * blksize, blksize).length).toBe(blksize);
      maxBuffered = Math.max(maxBuffered, stream.buffered);
      stream.release((block + window) * blksize);
    }
    // The window plus at most two chunks of 64 KiB, converted (each up to twice its size).
    expect(maxBuffered).toBeLessThanOrEqual(window * blksize + 4 * 64 * 1024);
    stream.close();
  });

  it('a source of 4 GiB + 6 bytes ending in line ends converts to the right size and last block (no 32-bit size math)', () => {
    const size = 2 ** 32 + 6;
    const tail = Buffer.from('ab\ncd\r');
    const zeros = Buffer.alloc(64 * 1024);
    const source: ByteSource = {
      size,
      read(offset, length) {
        const end = offset + length;
        if (end <= size - tail.length) return zeros.subarray(0, length);
        const out = Buffer.alloc(length);
        for (let i = offset; i < end; i++) if (i >= size - tail.length) out[i - offset] = tail[i - (size - tail.length)];
        return out;
      },
    };
    const stream = streamNetascii(source);
    const step = 64 * 1024;
    let offset = 0;
    let lastBlock: Buffer;
    for (;;) {
      const block = stream.read(offset, step);
      if (block.length < step) {
        lastBlock = Buffer.from(block);
        offset += block.length;
        break;
      }
      offset += step;
      stream.release(offset);
      expect(stream.buffered).toBeLessThanOrEqual(4 * step);
    }
    expect(offset).toBe(size + 2);
    expect(lastBlock.subarray(lastBlock.length - 8).toString('latin1')).toBe('ab\r\ncd\r\0');
  }, 120_000);
});
