// The rack command line's way to the running server: its REST API over HTTPS.
// Trust, in this order: --insecure-pin sha256//BASE64 (the SubjectPublicKeyInfo
// hash rackboot logs at start, as curl's --pinnedpubkey takes it), --ca FILE,
// the management certificate in the state directory (on the box itself), the
// system's certificate authorities. Nothing, not even the request line, is sent
// before the server has passed that check. The token comes from --token-file,
// RACKBOOT_TOKEN, or the default token file; errors carry the API's own message.

import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity, type PeerCertificate, type TLSSocket } from 'node:tls';
import { DEFAULTS } from '../../config/defaults.js';
import { GENERATED_CERT_FILE } from '../../http/tls/cert-store.js';
import type { ApiError } from '../../model/api.js';

export const DEFAULT_SERVER = 'https://127.0.0.1';
/** Where `rackboot token create --save` writes and every verb looks when neither --token-file nor RACKBOOT_TOKEN is given. */
export function defaultTokenFile(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(env.HOME ?? homedir(), '.config');
  return join(base, 'rackboot', 'token');
}

/** A refusal the operator must see as it is: the API's message, or why the server could not be reached. Exit status 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface ConnectionOptions {
  server?: string;
  ca?: string;
  'insecure-pin'?: string;
  'token-file'?: string;
  'state-dir'?: string;
}

type Trust = { kind: 'pin'; spkiSha256: string } | { kind: 'ca'; file: string; pem: string; fingerprint: string } | { kind: 'system' };

export interface Answer<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export class Connection {
  private constructor(
    readonly server: URL,
    private readonly trust: Trust,
    private readonly tokenSource: () => string,
  ) {}

  static open(opts: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): Connection {
    const serverText = opts.server ?? (env.RACKBOOT_SERVER || DEFAULT_SERVER);
    let server: URL;
    try {
      server = new URL(/^[a-z]+:\/\//i.test(serverText) ? serverText : `https://${serverText}`);
    } catch {
      throw new CliError(`--server: found '${serverText}', expected a URL like https://10.0.0.1`);
    }
    if (server.protocol !== 'https:') throw new CliError(`--server: found '${serverText}', expected https:// (the API is served over HTTPS only)`);
    return new Connection(server, trustOf(opts), () => readToken(opts, env));
  }

  /** One API call with the bearer token. Non-2xx answers throw CliError with the API's message. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.send<T>(method, path, body, { Authorization: `Bearer ${this.tokenSource()}` });
    return answer.body;
  }

  /** A call without the token (login); `headers` are added as given. */
  async send<T>(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<Answer<T>> {
    const { res, text } = await this.exchange(method, path, body, headers);
    let parsed: unknown = undefined;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const apiError = parsed as Partial<ApiError> | undefined;
      const message = typeof apiError === 'object' && apiError !== null && typeof apiError.message === 'string' ? apiError.message : `HTTP ${status}`;
      throw new CliError(`${message} (HTTP ${status}${apiError && typeof apiError === 'object' && apiError.error ? ` ${apiError.error}` : ''})`, status);
    }
    return { status, body: parsed as T, headers: res.headers };
  }

  /** Opens a streaming GET (Server-Sent Events); `onChunk` gets the text as it arrives. Resolves when the server ends it. */
  async stream(path: string, onChunk: (text: string) => void): Promise<void> {
    const res = await this.open('GET', path, undefined, { Authorization: `Bearer ${this.tokenSource()}`, Accept: 'text/event-stream' });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const text = await readAll(res);
      let message = `HTTP ${status}`;
      try {
        message = `${(JSON.parse(text) as ApiError).message} (HTTP ${status})`;
      } catch {
        // not the API's JSON: the status says it
      }
      throw new CliError(message, status);
    }
    res.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: string) => onChunk(chunk));
      res.on('end', resolve);
      res.on('error', reject);
      res.on('close', resolve);
    });
  }

  private async exchange(method: string, path: string, body: unknown, headers: Record<string, string>) {
    const res = await this.open(method, path, body, headers);
    return { res, text: await readAll(res) };
  }

  private open(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<import('node:http').IncomingMessage> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const trust = this.trust;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        {
          protocol: 'https:',
          hostname: this.server.hostname.replace(/^\[|\]$/g, ''),
          port: this.server.port === '' ? 443 : Number(this.server.port),
          method,
          path: `${this.server.pathname.replace(/\/$/, '')}${path}`,
          agent: false,
          headers: { Accept: 'application/json', ...headers, ...(payload !== undefined && { 'Content-Type': 'application/json' }) },
          // The pin is checked on the connected socket below; a CA file is the whole trust store.
          rejectUnauthorized: trust.kind !== 'pin',
          ...(trust.kind === 'ca' && { ca: trust.pem }),
          checkServerIdentity: (host: string, cert: PeerCertificate) => {
            // The generated certificate is trusted as that exact certificate, whatever address it is reached at.
            if (trust.kind === 'ca' && cert.fingerprint256 === trust.fingerprint) return undefined;
            return checkServerIdentity(host, cert);
          },
        },
        resolve,
      );
      req.on('error', (error) => reject(new CliError(`cannot reach ${this.server.origin}: ${error.message}`)));
      req.on('socket', (socket) => {
        const tls = socket as TLSSocket;
        const go = () => {
          if (trust.kind === 'pin') {
            const peer = tls.getPeerX509Certificate();
            const got = peer
              ? createHash('sha256')
                  .update(peer.publicKey.export({ type: 'spki', format: 'der' }))
                  .digest('base64')
              : '';
            if (got !== trust.spkiSha256) {
              req.destroy(new Error(`the server's key is sha256//${got}, not the pinned sha256//${trust.spkiSha256}`));
              return;
            }
          }
          req.end(payload);
        };
        tls.once('secureConnect', go);
      });
    });
  }
}

function readAll(res: import('node:http').IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function trustOf(opts: ConnectionOptions): Trust {
  const pin = opts['insecure-pin'];
  if (pin !== undefined) {
    const m = /^sha256\/\/([A-Za-z0-9+/]{43}=)$/.exec(pin);
    if (!m) throw new CliError(`--insecure-pin: found '${pin}', expected sha256//BASE64 as rackboot logs it at start ("pin")`);
    return { kind: 'pin', spkiSha256: m[1] };
  }
  const onBox = join(opts['state-dir'] ?? DEFAULTS.stateDir, GENERATED_CERT_FILE);
  const file = opts.ca ?? (existsSync(onBox) ? onBox : undefined);
  if (file === undefined) return { kind: 'system' };
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`--ca: cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return { kind: 'ca', file, pem, fingerprint: new X509Certificate(pem).fingerprint256 };
  } catch {
    throw new CliError(`--ca: ${file} is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  }
}

function readToken(opts: ConnectionOptions, env: NodeJS.ProcessEnv): string {
  const explicit = opts['token-file'];
  if (explicit === undefined && env.RACKBOOT_TOKEN) return env.RACKBOOT_TOKEN.trim();
  const file = explicit ?? defaultTokenFile(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as Error).message;
    throw new CliError(
      `no API token: cannot read ${file} (${why}); give --token-file FILE or RACKBOOT_TOKEN, or make one with 'rackboot token create NAME --save'`,
    );
  }
  if (text === '') throw new CliError(`no API token: ${file} is empty`);
  return text;
}
