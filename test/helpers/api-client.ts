// Talks to a real rackboot's REST API from a namespace on the lab's segment, with
// curl, the way a script on the management network would: over HTTPS, trusting
// only the certificate rackboot logged at start (curl --cacert), reads the setup
// token from rackboot's log, sets the admin password, then makes an API token
// and uses it (bearer tokens need no CSRF header).
import type { Netns } from './netns.js';
import type { RackbootProcess } from './rackboot-process.js';
import type { NodeView, RackbootEvent } from '../../firmware/src/model/api.js';

export const TEST_ADMIN_PASSWORD = 'correct horse battery staple';

export interface ApiAnswer<T = unknown> {
  status: number;
  body: T;
}

export class ApiClient {
  private constructor(
    private readonly ns: Netns,
    readonly baseUrl: string,
    private readonly token: string,
    private readonly caFile: string,
  ) {}

  /**
   * Sets the admin password with the logged setup token, then makes and uses an API token.
   * `baseUrl` names the server (`http://10.0.0.1` is taken as `https://10.0.0.1`: the API is served over HTTPS).
   */
  static async setUp(ns: Netns, baseUrl: string, server: RackbootProcess): Promise<ApiClient> {
    const line = await server.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('setup token: '));
    const setupToken = line.msg.slice('setup token: '.length);
    const caFile = await managementCa(server);
    baseUrl = baseUrl.replace(/^http:/, 'https:');
    const curl = <T>(n: Netns, args: string[]) => curlOver<T>(n, ['--cacert', caFile, ...args]);
    const jar = `/tmp/rackboot-api-${process.pid}-${Date.now()}.cookies`;
    const setup = await curl(ns, [
      '-c',
      jar,
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '--data',
      JSON.stringify({ token: setupToken, password: TEST_ADMIN_PASSWORD }),
      `${baseUrl}/api/v1/auth/setup`,
    ]);
    if (setup.status !== 200) throw new Error(`setup failed: ${setup.status} ${JSON.stringify(setup.body)}`);
    const { csrfToken } = setup.body as { csrfToken: string };
    const made = await curl(ns, [
      '-b',
      jar,
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '-H',
      `X-CSRF-Token: ${csrfToken}`,
      '--data',
      '{"name":"tests"}',
      `${baseUrl}/api/v1/auth/tokens`,
    ]);
    await ns.exec(['rm', '-f', jar]);
    if (made.status !== 200 && made.status !== 201) throw new Error(`token creation failed: ${made.status} ${JSON.stringify(made.body)}`);
    return new ApiClient(ns, baseUrl, (made.body as { token: string }).token, caFile);
  }

  request<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
    const args = ['-X', method, '-H', `Authorization: Bearer ${this.token}`];
    if (body !== undefined) args.push('-H', 'Content-Type: application/json', '--data', JSON.stringify(body));
    return curlOver<T>(this.ns, ['--cacert', this.caFile, ...args, `${this.baseUrl}${path}`]);
  }

  async get<T = unknown>(path: string): Promise<T> {
    const answer = await this.request<T>('GET', path);
    if (answer.status !== 200) throw new Error(`GET ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  node(id: string): Promise<NodeView> {
    return this.get<NodeView>(`/api/v1/nodes/${encodeURIComponent(id)}`);
  }

  timeline(id: string): Promise<RackbootEvent[]> {
    return this.get<RackbootEvent[]>(`/api/v1/nodes/${encodeURIComponent(id)}/timeline`);
  }

  /** Polls the node until `done` holds (or the time is up: then the last view is in the error). */
  async waitForNode(id: string, done: (node: NodeView) => boolean, timeoutMs: number): Promise<NodeView> {
    const deadline = Date.now() + timeoutMs;
    let last: NodeView | undefined;
    for (;;) {
      last = await this.node(id);
      if (done(last)) return last;
      if (Date.now() > deadline) {
        throw new Error(
          `node ${id} did not get there in ${timeoutMs} ms; last seen: stage ${last.stage}, diagnosis ${last.diagnosis ?? '-'} (${last.diagnosisDetail ?? ''})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** The management certificate's file, from the line rackboot logs when HTTPS starts. */
export async function managementCa(server: RackbootProcess): Promise<string> {
  const line = await server.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('management https certificate SHA-256 '));
  return line.certFile as string;
}

export async function curlOver<T>(ns: Netns, args: string[]): Promise<ApiAnswer<T>> {
  const out = await ns.exec(['curl', '-sS', '--max-time', '20', '-w', '\n%{http_code}', ...args]);
  const cut = out.lastIndexOf('\n');
  const status = Number(out.slice(cut + 1));
  const text = out.slice(0, cut);
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status, body: body as T };
}
