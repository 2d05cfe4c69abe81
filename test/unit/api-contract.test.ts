// The API serves exactly the routes contract.ts lists (its header comment is
// the route table), with the same public/authenticated split.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AuthService } from '../../firmware/src/auth/service.js';
import { createApi } from '../../firmware/src/http/api/routes.js';
import type { ApiHost } from '../../firmware/src/http/api/host.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';

function contractRoutes(): { method: string; path: string; public: boolean }[] {
  const text = readFileSync(new URL('../../firmware/src/model/api.ts', import.meta.url), 'utf8');
  const routes: { method: string; path: string; public: boolean }[] = [];
  for (const line of text.split('\n')) {
    const m = /^\/\/\s+(GET|POST|PUT|PATCH|DELETE)\s+\/api\/v1\/(\S+?)(\?\S*)?\s(.*)$/.exec(line);
    if (!m) continue;
    const path = m[2];
    const isPublic = /\bPUBLIC\b/.test(m[4]);
    routes.push({ method: m[1], path, public: isPublic });
    if (/also accepts POST/.test(m[4])) routes.push({ method: 'POST', path, public: isPublic });
  }
  return routes;
}

describe('API routes', () => {
  it('match the contract', () => {
    const auth = { activeSessions: 0, onAccessEnded: () => () => {} } as unknown as AuthService;
    const api = createApi({ host: {} as ApiHost, auth, log: silentLogger, counters: new Counters(), clock: { now: () => 0 } });
    const key = (r: { method: string; path: string; public: boolean }) => `${r.method} ${r.path}${r.public ? ' PUBLIC' : ''}`;
    const expected = contractRoutes().map(key).sort();
    expect(expected.length).toBeGreaterThan(25);
    expect(api.endpoints.map(key).sort()).toEqual(expected);
    expect(api.routes.map((r) => r.prefix)).toEqual(['/api/v1', '/metrics']);
    api.close();
  });
});
