/**
 * Runs a fuzz campaign against a daemon socket: the generated cases (a few at a time), a few
 * slow-loris connections alongside, and a /_ping probe throughout. Judges every answer:
 * no hang, no 5xx unless dockerd answers 5xx to that class too (test/fuzz/expect.ts), error
 * answers in Docker's {"message"} format, and the daemon answering /_ping all along.
 */
import * as http from 'node:http';
import { generateCases, type FuzzCase, type Known } from './cases';
import { servedRoutes } from './routes';
import { sendCase, slowLoris, type Outcome } from './send';
import { dockerdAnswers5xx } from './expect';

/** Options of one campaign. */
export interface FuzzOptions {
  socketPath: string;
  seed: number;
  count: number;
  /** Stop starting new cases after this long (the run stays bounded). */
  timeBudgetMs: number;
  /** Connections in flight at once. */
  concurrency?: number;
  /** Slow-loris connections held during the run. */
  slowLoris?: number;
  /** How long a slow-loris connection is kept trickling before the fuzzer gives up on it. */
  slowLorisMaxMs?: number;
  known?: Known;
  /** Only cases for which this returns true are sent (e.g. no destructive ones on a shared dockerd). */
  filter?: (c: FuzzCase) => boolean;
}

/** One judged case. */
export interface Judged {
  c: FuzzCase;
  o: Outcome;
  problem?: string;
}

/** What a campaign found. */
export interface FuzzReport {
  seed: number;
  sent: number;
  results: Judged[];
  failures: Judged[];
  /** Case counts by kind, and status counts by kind ("closed", "hung" for no status). */
  byKind: Record<string, Record<string, number>>;
  pings: { sent: number; failed: number; maxMs: number };
  slowLoris: Array<{ closedByDaemon: boolean; ms: number }>;
  ms: number;
}

function pingOnce(socketPath: string, timeoutMs: number): Promise<number | undefined> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? Date.now() - t0 : undefined);
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
  });
}

/** Judge one outcome; returns the problem, or undefined when the answer is acceptable. */
export function judge(c: FuzzCase, o: Outcome): string | undefined {
  if (o.hung) return 'no answer and no close within the bound (hang)';
  if (c.delivery === 'abort' || o.status === undefined) return undefined;
  if (o.status >= 500 && !dockerdAnswers5xx(c, o.status, o.body))
    return `answered ${o.status} where dockerd answers 4xx: ${o.body?.trim().slice(0, 200)}`;
  if (o.status >= 400 && c.method !== 'HEAD') {
    let msg: unknown;
    try {
      msg = (JSON.parse(o.body ?? '') as { message?: unknown }).message;
    } catch {
      msg = undefined;
    }
    if (typeof msg !== 'string')
      return `error ${o.status} not in Docker's {"message"} format: ${JSON.stringify(o.body?.slice(0, 120))}`;
  }
  return undefined;
}

/** Run a campaign (never throws for what the daemon does; see the report). */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const t0 = Date.now();
  const all = generateCases(opts.seed, opts.count, servedRoutes(), opts.known ?? { containers: [], images: [] });
  const cases = opts.filter ? all.filter(opts.filter) : all;
  const results: Judged[] = [];
  const pings = { sent: 0, failed: 0, maxMs: 0 };
  let running = true;
  const pinger = (async () => {
    while (running) {
      pings.sent++;
      const ms = await pingOnce(opts.socketPath, 5000);
      if (ms === undefined) pings.failed++;
      else pings.maxMs = Math.max(pings.maxMs, ms);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const loris = Array.from({ length: opts.slowLoris ?? 3 }, () =>
    slowLoris(opts.socketPath, opts.slowLorisMaxMs ?? 30000),
  );
  let next = 0;
  const worker = async () => {
    while (next < cases.length && Date.now() - t0 < opts.timeBudgetMs) {
      const c = cases[next++];
      const o = await sendCase(opts.socketPath, c);
      results.push({ c, o, problem: judge(c, o) });
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 6 }, worker));
  const lorisOut = await Promise.all(loris);
  running = false;
  await pinger;
  const byKind: FuzzReport['byKind'] = {};
  for (const { c, o } of results) {
    const k = (byKind[c.kind] ??= {});
    const s = o.hung ? 'hung' : o.status === undefined ? 'closed' : String(o.status);
    k[s] = (k[s] ?? 0) + 1;
  }
  results.sort((a, b) => a.c.n - b.c.n);
  return {
    seed: opts.seed,
    sent: results.length,
    results,
    failures: results.filter((r) => r.problem),
    byKind,
    pings,
    slowLoris: lorisOut,
    ms: Date.now() - t0,
  };
}

/** A short human summary of a report. */
export function summarize(r: FuzzReport): string {
  const lines = [
    `fuzz: seed ${r.seed} (FUZZ_SEED=${r.seed} repeats it), ${r.sent} requests in ${(r.ms / 1000).toFixed(1)} s, ${r.failures.length} failures`,
    `  /_ping: ${r.pings.sent} probes, ${r.pings.failed} failed, slowest ${r.pings.maxMs} ms`,
    `  slow-loris: ${r.slowLoris.map((s) => `${s.closedByDaemon ? 'closed by daemon' : 'still open'} after ${(s.ms / 1000).toFixed(1)} s`).join(', ')}`,
  ];
  for (const [k, st] of Object.entries(r.byKind).sort())
    lines.push(
      `  ${k}: ${Object.entries(st)
        .map(([s, n]) => `${s}x${n}`)
        .join(' ')}`,
    );
  for (const f of r.failures.slice(0, 40))
    lines.push(
      `  FAIL #${f.c.n} ${f.c.kind} ${f.c.method} ${f.c.target.slice(0, 160)} body=${JSON.stringify(f.c.body.toString('latin1').slice(0, 120))}: ${f.problem}`,
    );
  return lines.join('\n');
}
