/**
 * A bounded load of Docker API clients on a unix socket, shared by the load test
 * (test/compat/load.test.ts) and the load benchmark (bench/load.ts):
 *
 *   const r = await runLoad({ socketPath, containerIds, clients: 50, requestsPerClient: 40 });
 *   r.errors;                      // non-2xx answers, bad bodies, connection errors
 *   r.latencies['inspect'];        // milliseconds, one per request
 *
 * Every client keeps its own keep-alive connection (as one docker CLI or SDK client does)
 * and makes its requests one after another, each chosen from a seeded mix of list, inspect,
 * logs and version; all clients run at once.
 */
import * as http from 'node:http';
import { Rng } from './rng';

/** The endpoints of the mix. */
export const ENDPOINTS = ['list', 'inspect', 'logs', 'version'] as const;
/** One endpoint of the mix. */
export type Endpoint = (typeof ENDPOINTS)[number];

/** What runLoad is asked to do. */
export interface LoadOptions {
  socketPath: string;
  /** Containers to inspect and read logs of (running ones). */
  containerIds: string[];
  clients: number;
  requestsPerClient: number;
  /** Seed of the mix (default 18). */
  seed?: number;
  /** Per-request timeout, ms (default 30 s): a request past it counts as an error. */
  timeoutMs?: number;
}

/** What a load run saw. */
export interface LoadResult {
  /** Milliseconds per request, by endpoint (successful requests only). */
  latencies: Record<Endpoint, number[]>;
  /** One line per failed request. */
  errors: string[];
  /** Wall time of the whole run, ms. */
  wallMs: number;
}

function pathOf(e: Endpoint, id: string): string {
  switch (e) {
    case 'list':
      return '/v1.41/containers/json';
    case 'inspect':
      return `/v1.41/containers/${id}/json`;
    case 'logs':
      return `/v1.41/containers/${id}/logs?stdout=1&stderr=1&tail=100`;
    case 'version':
      return '/v1.41/version';
  }
}

/** Check the body is what that endpoint answers; a message when it is not. */
function checkBody(e: Endpoint, id: string, body: Buffer): string | undefined {
  if (e === 'logs') return undefined; // a stdcopy stream; its length depends on the container
  try {
    const v = JSON.parse(body.toString()) as Record<string, unknown> | unknown[];
    if (e === 'list' && !Array.isArray(v)) return 'list: not an array';
    if (e === 'inspect' && (v as Record<string, unknown>).Id !== id) return 'inspect: wrong Id';
    if (e === 'version' && typeof (v as Record<string, unknown>).ApiVersion !== 'string')
      return 'version: no ApiVersion';
  } catch {
    return `${e}: body is not JSON`;
  }
  return undefined;
}

function request(
  agent: http.Agent,
  socketPath: string,
  p: string,
  timeoutMs: number,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: p, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Run the load; resolves when every client made all its requests. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const latencies = Object.fromEntries(ENDPOINTS.map((e) => [e, [] as number[]])) as Record<Endpoint, number[]>;
  const errors: string[] = [];
  const rand = new Rng(o.seed ?? 18);
  const plans = Array.from({ length: o.clients }, () =>
    Array.from({ length: o.requestsPerClient }, () => ({
      e: ENDPOINTS[rand.int(ENDPOINTS.length)],
      id: o.containerIds[rand.int(o.containerIds.length)],
    })),
  );
  const t0 = performance.now();
  await Promise.all(
    plans.map(async (plan) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (const { e, id } of plan) {
          const t = performance.now();
          try {
            const r = await request(agent, o.socketPath, pathOf(e, id), o.timeoutMs ?? 30_000);
            const bad =
              r.status !== 200
                ? `${e}: status ${r.status}: ${r.body.toString().slice(0, 200)}`
                : checkBody(e, id, r.body);
            if (bad) errors.push(bad);
            else latencies[e].push(performance.now() - t);
          } catch (err) {
            errors.push(`${e}: ${(err as Error).message}`);
          }
        }
      } finally {
        agent.destroy();
      }
    }),
  );
  return { latencies, errors, wallMs: performance.now() - t0 };
}

/** The q-quantile (0..1) of a list, nearest rank; NaN when empty. */
export function quantile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
