// Boot files (kernels, initrds, iPXE binaries, scripts) from the boot root over
// HTTP: GET and HEAD, one byte range, conditional requests, keep-alive.
//
// Memory: every body is streamed from the file with backpressure (pipeline)
// in 256 KiB reads, so a download holds at most one read buffer plus what the
// socket has not taken, whatever the file size or the number of clients; a
// client that goes away destroys its stream and closes its file. The one
// JavaScript thread pays per write, not per byte, hence the large reads; reads
// go through libuv's thread pool in turn, which shares the link evenly between
// downloads.
//
// Optionally (`hotFiles`, config http.memory_cache_mb) files are kept in
// memory once read (hot-files.ts) and downloads write 1 MiB slices of the one
// copy: less CPU per byte, but with no read queue pacing them, downloads racing
// for a busy CPU finish unevenly. Off by default for that reason
// (docs/bench.md has the figures).
//
// Confinement: the request path is decoded once and checked segment by
// segment before it touches the file system (confinePath); the boot root
// (boot-policy/boot-root.ts) then decides what the segments name.

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { systemClock, type Clock } from '../util/clock.js';
import type { BootRoot, RootRefusal } from '../boot-policy/boot-root.js';
import type { Counters } from '../util/counters.js';
import type { Logger } from '../util/log.js';
import {
  contentRange,
  decideRange,
  evaluatePreconditions,
  formatHttpDate,
  ifRangeAllowsRange,
  unsatisfiedRange,
  type ConditionalHeaders,
  type Validators,
} from './range.js';
import { isBootTokenText } from '../boot-policy/boot-token.js';
import { HotFiles, type HotFilesOptions } from './hot-files.js';
import { sendText, truncate, type RequestContext, type RouteHandler } from './router.js';

/** One per boot-file request, when its response is over (sent, refused or cut off). */
export interface HttpDownloadEvent {
  type: 'http-download';
  /** Decoded path under the root, "/images/vmlinuz"; the raw request path (shortened) when refused. */
  path: string;
  method: string;
  /** 200, 206, 304, 403, 404, 412, 416... */
  status: number;
  /** Body bytes handed to the connection. */
  bytes: number;
  /** Whether the whole body (the file, or the range) was sent: a GET that "fetched the kernel". */
  complete: boolean;
  ms: number;
  remote: string;
  /** `?token=` when it has a boot token's form (boot-policy/boot-token.ts); whose it is, boot tracking decides. */
  token?: string;
}

export interface BootFilesOptions {
  /** Only files the boot root locates are served. */
  root: BootRoot;
  log: Logger;
  counters: Counters;
  onEvent?: (event: HttpDownloadEvent) => void;
  clock?: Clock;
  /** Read buffer per streamed download (default 256 KiB): the per-client memory cost of files not kept in memory. */
  highWaterMark?: number;
  /** Files kept in memory and served from there (see above); absent or false streams every file. */
  hotFiles?: HotFilesOptions | false;
  /** Slice size of a body written from memory (default 1 MiB). */
  memoryChunkBytes?: number;
}

const DEFAULT_HIGH_WATER_MARK = 256 * 1024;
const MiB = 1024 * 1024;
/** Largest file kept in memory when a budget is set: kernels and initrds fit, live images stream. */
const MAX_HOT_FILE_BYTES = 128 * MiB;
const DEFAULT_MEMORY_CHUNK = MiB;

/** The hot-file budget for `http.memory_cache_mb` (0: stream every file); one file may take all of it up to 128 MiB. */
export function hotFilesFor(memoryMb: number): HotFilesOptions | false {
  if (memoryMb <= 0) return false;
  return { maxTotalBytes: memoryMb * MiB, maxFileBytes: Math.min(memoryMb * MiB, MAX_HOT_FILE_BYTES) };
}

/** Boot scripts and configuration files are text; everything else is opaque to us. */
const TEXT_EXTENSIONS = new Set(['.ipxe', '.cfg', '.txt']);

export function contentTypeFor(name: string): string {
  return TEXT_EXTENSIONS.has(extname(name).toLowerCase()) ? 'text/plain; charset=utf-8' : 'application/octet-stream';
}

/**
 * A strong entity tag from inode, size and modification time in nanoseconds
 * (RFC 9110 8.8.3). Strong because a boot file changes by being rewritten or
 * replaced, and any rewrite moves mtime (nanosecond resolution on ext4, xfs,
 * tmpfs) and a rename-into-place changes the inode; a weak tag would also make
 * If-Range useless (13.1.5 requires strong comparison), and If-Range is what
 * lets an interrupted download resume safely.
 */
export function makeEtag(stat: { ino: bigint; size: bigint; mtimeNs: bigint }): string {
  return `"${stat.ino.toString(16)}-${stat.size.toString(16)}-${stat.mtimeNs.toString(16)}"`;
}

export type ConfinedPath = { ok: true; segments: string[]; directory: boolean } | { ok: false; status: 400 | 403; reason: string };

/**
 * Checks a raw request path (as sent, starting with "/") and decodes it once.
 * Refused with 403: empty segments ("//", which some path joins read as
 * absolute), encoded "/" or "\" inside a segment (%2f, %5c), and after decoding:
 * "." or ".." segments, NUL, backslashes, other control characters. Bad
 * percent-encoding is 400. A path ending in "/" names a directory (`directory`),
 * which is never listed. "%252e" decodes to the literal name "%2e" — decoding
 * happens exactly once.
 */
export function confinePath(rawPath: string): ConfinedPath {
  if (!rawPath.startsWith('/')) return { ok: false, status: 400, reason: 'path does not start with /' };
  const raw = rawPath.slice(1).split('/');
  const directory = raw[raw.length - 1] === '';
  if (directory) raw.pop();
  const segments: string[] = [];
  for (const segment of raw) {
    if (segment === '') return { ok: false, status: 403, reason: 'empty path segment (//)' };
    if (/%(2f|5c)/i.test(segment)) return { ok: false, status: 403, reason: 'encoded slash or backslash in a path segment' };
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return { ok: false, status: 400, reason: 'malformed percent-encoding' };
    }
    if (decoded === '.' || decoded === '..') return { ok: false, status: 403, reason: 'dot segment' };
    if (decoded.includes('\u0000')) return { ok: false, status: 403, reason: 'NUL in path' };
    if (decoded.includes('\\')) return { ok: false, status: 403, reason: 'backslash in path' };
    if (decoded.includes('/')) return { ok: false, status: 403, reason: 'slash in a path segment' };
    // eslint-disable-next-line no-control-regex -- refusing control characters is the point
    if (/[\u0001-\u001f\u007f]/.test(decoded)) return { ok: false, status: 403, reason: 'control character in path' };
    segments.push(decoded);
  }
  return { ok: true, segments, directory };
}

/** What a refusal of the boot root answers over HTTP, and the reason logged for a 403. */
const REFUSAL_STATUS: Record<RootRefusal, { status: 403 | 404; reason?: string }> = {
  missing: { status: 404 },
  'no-root': { status: 404 },
  'name-too-long': { status: 404 },
  'symlink-loop': { status: 404 },
  directory: { status: 404 },
  'not-regular': { status: 404 },
  outside: { status: 403, reason: 'resolves outside the boot root (symlink)' },
  denied: { status: 403, reason: 'permission denied' },
};

type Finish = (status: number, bytes: number, complete: boolean) => void;
type Refuse = (status: 400 | 403 | 404, reason: string) => void;

/** The route handler serving files of `opts.root`, for GET and HEAD. */
export function createBootFilesHandler(opts: BootFilesOptions): RouteHandler {
  const clock = opts.clock ?? systemClock;
  const { log, counters } = opts;
  const body: BodyWriter = {
    hotFiles: opts.hotFiles ? new HotFiles(opts.hotFiles) : undefined,
    memoryChunk: opts.memoryChunkBytes ?? DEFAULT_MEMORY_CHUNK,
    highWaterMark: opts.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    counters,
    log,
  };

  return async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const started = clock.now();
    let eventPath = truncate(ctx.path, 200);
    const finish: Finish = (status, bytes, complete) => {
      if (bytes > 0) counters.inc('http.bytes_sent', bytes);
      const token = ctx.query.get('token');
      opts.onEvent?.({
        type: 'http-download',
        path: eventPath,
        method: ctx.method,
        status,
        bytes,
        complete,
        ms: clock.now() - started,
        remote: ctx.remote,
        ...(isBootTokenText(token) && { token }),
      });
    };
    const refuse: Refuse = (status, reason) => {
      if (status === 403) {
        counters.inc('http.refused');
        log.warn('refused boot file request', { remote: ctx.remote, path: truncate(ctx.path, 200), reason });
      }
      sendText(res, status, status === 400 ? 'Bad Request' : status === 403 ? 'Forbidden' : 'Not Found');
      finish(status, 0, false);
    };

    const confined = confinePath(ctx.path);
    if (!confined.ok) return refuse(confined.status, confined.reason);
    eventPath = truncate(`/${confined.segments.join('/')}`, 200);
    if (confined.directory || confined.segments.length === 0) return refuse(404, 'directory');

    const located = await opts.root.locate(confined.segments.join('/'));
    if (!located.ok) {
      if (located.refusal === 'no-root') log.error('boot root is not accessible', { root: opts.root.dir, reason: located.reason });
      const { status, reason } = REFUSAL_STATUS[located.refusal];
      return refuse(status, reason ?? located.reason);
    }

    // O_NONBLOCK: opening a FIFO put there since it was located must not hang a libuv thread.
    // O_NOFOLLOW: the located path has no symlinks; if one appeared since, refuse rather than follow it.
    let file: FileHandle;
    try {
      file = await open(located.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'ELOOP') return refuse(403, code);
      return refuse(404, code ?? 'cannot open');
    }
    let streaming = false;
    const send: Sending = { clock, body, finish, refuse, logPath: eventPath, handOver: () => (streaming = true) };
    try {
      await respondWithFile(req, res, ctx, file, located.path, confined.segments[confined.segments.length - 1], send);
    } finally {
      if (!streaming) await file.close().catch(() => undefined);
    }
  };
}

interface Sending {
  clock: Clock;
  body: BodyWriter;
  finish: Finish;
  refuse: Refuse;
  /** The request's decoded path, for the log. */
  logPath: string;
  /** Called when a read stream takes the file over (it closes it from then on). */
  handOver: () => void;
}

interface BodyWriter {
  hotFiles: HotFiles | undefined;
  memoryChunk: number;
  highWaterMark: number;
  counters: Counters;
  log: Logger;
}

/** Answers from an open file: validators, preconditions, the range, the headers, then the body; resolves when the response is over. */
async function respondWithFile(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
  file: FileHandle,
  realPath: string,
  name: string,
  done: Sending,
): Promise<void> {
  const { finish, body } = done;
  // Size, dates and tag come from the open file, so they describe exactly the bytes sent.
  const stat = await file.stat({ bigint: true });
  if (!stat.isFile()) {
    return done.refuse(404, stat.isDirectory() ? 'directory' : 'not a regular file');
  }
  const size = Number(stat.size);
  const nowSeconds = Math.floor(done.clock.now() / 1000);
  // RFC 9110 8.8.2.1: Last-Modified is never later than the response's Date.
  const validators: Validators = {
    etag: makeEtag(stat),
    lastModified: Math.min(Number(stat.mtimeNs / 1_000_000_000n), nowSeconds),
  };
  const common = {
    ETag: validators.etag,
    'Last-Modified': formatHttpDate(validators.lastModified),
    // Boot files change in place (a new kernel): caches may keep them but must revalidate.
    'Cache-Control': 'no-cache',
    'Accept-Ranges': 'bytes',
  };

  const precondition = evaluatePreconditions(ctx.method, conditionalHeaders(req), validators);
  if (precondition === 'not-modified') {
    // RFC 9110 15.4.5: a 304 carries the validator, no content metadata.
    res.writeHead(304, { ETag: common.ETag, 'Cache-Control': common['Cache-Control'] });
    res.end();
    return finish(304, 0, true);
  }
  if (precondition === 'precondition-failed') {
    sendText(res, 412, 'Precondition Failed', { ETag: common.ETag });
    return finish(412, 0, false);
  }

  // RFC 9110 14.2: Range is only defined for GET; If-Range gates it (13.1.5).
  const rangeHeader = ctx.method === 'GET' ? req.headers.range : undefined;
  const range =
    rangeHeader !== undefined && ifRangeAllowsRange(single(req.headers['if-range']), validators, nowSeconds)
      ? decideRange(rangeHeader, size)
      : decideRange(undefined, size);
  if (range.kind === 'unsatisfiable') {
    body.counters.inc('http.range_unsatisfiable');
    sendText(res, 416, 'Range Not Satisfiable', { 'Content-Range': unsatisfiedRange(size), 'Accept-Ranges': 'bytes' });
    return finish(416, 0, false);
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : size - 1;
  const length = end - start + 1;
  const status = range.kind === 'partial' ? 206 : 200;
  res.writeHead(status, {
    ...common,
    'Content-Type': contentTypeFor(name),
    'Content-Length': String(length),
    ...(status === 206 && { 'Content-Range': contentRange(start, end, size) }),
  });
  if (ctx.method === 'HEAD' || length === 0) {
    res.end();
    return finish(status, 0, ctx.method !== 'HEAD');
  }

  const hot = body.hotFiles ? await body.hotFiles.get(realPath, validators.etag, size, file) : undefined;
  if (hot) {
    const handed = await writeSlices(res, hot, start, end + 1, body.memoryChunk);
    if (handed < length) body.counters.inc('http.aborted');
    return finish(status, handed, handed === length);
  }
  done.handOver();
  await streamBody(res, ctx, file, { start, end, length, status }, done);
}

/** Streams file[start..end] to the response; the stream owns the file from here and closes it at the end, on error, or when destroyed. */
async function streamBody(
  res: ServerResponse,
  ctx: RequestContext,
  file: FileHandle,
  span: { start: number; end: number; length: number; status: number },
  { body, finish, logPath }: Sending,
): Promise<void> {
  const stream = file.createReadStream({ start: span.start, end: span.end, highWaterMark: body.highWaterMark, autoClose: true });
  let handed = 0;
  stream.on('data', (chunk: Buffer | string) => {
    handed += chunk.length;
  });
  try {
    // pipeline: backpressure from the socket pauses the file reads; if the
    // client goes away, the response closes and pipeline destroys the stream.
    await pipeline(stream, res);
    finish(span.status, handed, handed === span.length);
  } catch (error) {
    const sent = Math.max(0, handed - res.writableLength);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE') {
      body.counters.inc('http.aborted');
      body.log.debug('client went away during download', { remote: ctx.remote, path: logPath, sent, length: span.length });
    } else {
      body.counters.inc('http.read_errors');
      body.log.warn('boot file read failed during download', { remote: ctx.remote, path: logPath, error: error as Error });
    }
    finish(span.status, sent, false);
  }
}

/**
 * Writes data[start, end) to the response in slices of `chunk` bytes, waiting
 * for 'drain' when the socket is full, then ends it. Resolves to the bytes
 * the client took (0..end-start): short when it went away.
 */
function writeSlices(res: ServerResponse, data: Buffer, start: number, end: number, chunk: number): Promise<number> {
  return new Promise((resolve) => {
    let offset = start;
    let done = false;
    const settle = () => {
      if (done) return;
      done = true;
      res.off('drain', pump);
      res.off('close', settle);
      // Bytes still in Node's buffer when the connection closed never reached the client.
      resolve(res.writableFinished ? end - start : Math.max(0, offset - start - res.writableLength));
    };
    function pump(): void {
      while (offset < end && !res.destroyed) {
        const next = Math.min(end, offset + chunk);
        const more = res.write(data.subarray(offset, next));
        offset = next;
        if (!more) return;
      }
      if (res.destroyed) return settle();
      res.end(settle);
    }
    res.on('drain', pump);
    res.once('close', settle);
    pump();
  });
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

function conditionalHeaders(req: IncomingMessage): ConditionalHeaders {
  return {
    ifMatch: single(req.headers['if-match']),
    ifNoneMatch: single(req.headers['if-none-match']),
    ifModifiedSince: single(req.headers['if-modified-since']),
    ifUnmodifiedSince: single(req.headers['if-unmodified-since']),
  };
}
