/**
 * `npm run fuzz`: the long fuzz campaign against the real compiled daemon (pool size 0),
 * or against any socket. Environment:
 *   FUZZ_SEED     seed (default: random, printed)
 *   FUZZ_COUNT    number of requests (default 5000)
 *   FUZZ_TIME_S   time budget in seconds (default 600)
 *   FUZZ_SOCKET   fuzz this socket instead of starting a daemon
 *   FUZZ_DOCKERD  also send the same (non-destructive) cases to this dockerd socket and
 *                 print, per kind and route, where the two answer differently
 * Exits 1 when the campaign finds a crash, a hang, a /_ping failure or a 5xx dockerd would not give.
 */
import { runFuzz, summarize, type FuzzReport } from './run';
import { prepareTarget } from './target';
import type { Known } from './cases';
import { startDaemon } from '../helpers/daemon';

async function main(): Promise<void> {
  const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const count = Number(process.env.FUZZ_COUNT ?? 5000);
  const timeBudgetMs = Number(process.env.FUZZ_TIME_S ?? 600) * 1000;
  let socketPath = process.env.FUZZ_SOCKET?.replace(/^unix:\/\//, '');
  const daemon = socketPath ? undefined : await startDaemon();
  socketPath ??= daemon!.socketPath;
  let failed = false;
  try {
    const known = await prepareTarget(socketPath);
    const ours = await runFuzz({ socketPath, seed, count, timeBudgetMs, known, slowLoris: 4, slowLorisMaxMs: 40000 });
    console.log(summarize(ours));
    const alive = daemon ? await stillAlive(daemon.socketPath) : true;
    console.log(`daemon alive after the run: ${alive}`);
    failed = ours.failures.length > 0 || ours.pings.failed > 0 || !alive;
    if (process.env.FUZZ_DOCKERD)
      await compare(ours, process.env.FUZZ_DOCKERD.replace(/^unix:\/\//, ''), seed, count, timeBudgetMs, known);
  } finally {
    if (daemon) {
      if (failed)
        console.log(
          daemon
            .logs()
            .split('\n')
            .filter((l) => /error|unexpected/i.test(l))
            .slice(-30)
            .join('\n'),
        );
      await daemon.stop();
    }
  }
  process.exitCode = failed ? 1 : 0;
}

async function stillAlive(socketPath: string): Promise<boolean> {
  const { ping } = await import('../helpers/daemon');
  return ping(socketPath);
}

async function compare(
  ours: FuzzReport,
  dockerd: string,
  seed: number,
  count: number,
  timeBudgetMs: number,
  known: Known,
): Promise<void> {
  // The same known names, so that both runs generate the same cases (they do not exist there).
  const theirs = await runFuzz({
    socketPath: dockerd,
    seed,
    count,
    timeBudgetMs,
    slowLoris: 0,
    known,
    filter: (c) => !c.destructive,
  });
  const byN = new Map(theirs.results.map((r) => [r.c.n, r.o]));
  const diff = new Map<string, number>();
  for (const r of ours.results) {
    const t = byN.get(r.c.n);
    if (!t) continue;
    const a = r.o.status === undefined ? (r.o.hung ? 'hung' : 'closed') : String(r.o.status);
    const b = t.status === undefined ? (t.hung ? 'hung' : 'closed') : String(t.status);
    if (a[0] === b[0]) continue;
    const key = `${r.c.kind} ${r.c.method} ${r.c.route}: podvisor ${a}, dockerd ${b}`;
    diff.set(key, (diff.get(key) ?? 0) + 1);
  }
  console.log(`dockerd (${dockerd}):\n${summarize(theirs)}`);
  console.log('different status class (kind method route: ours, dockerd):');
  for (const [k, n] of [...diff.entries()].sort()) console.log(`  ${k} (x${n})`);
}

void main();
