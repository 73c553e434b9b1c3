/**
 * The daemon under test beside a private baseline dockerd 20.10 + runc (bench/common.ts; dockerd
 * 26.1 in the compat-dockerd26 project: ./baseline-choice.ts), each
 * with the same images pulled, for suites that run one command on both and compare:
 *
 *   beforeAll(async () => ({ d, base, dir } = await startBesideBaseline('pv-run-flags-', { vmPoolSize: 2 }, [IMAGE])));
 *   afterAll(() => stopBesideBaseline({ d, base, dir }));
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDockerd, type BaselineDockerd } from '../../bench/common';
import { startNetnsDockerd } from '../../bench/netns-dockerd';
import { baselineRoot } from './baseline-choice';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from './daemon';
import { dockerCli, type CliResult } from './docker-cli';

/** The two daemons, and a temp directory of the suite's own (the baseline's data is in it). */
export interface BesideBaseline {
  d: TestDaemon;
  base: BaselineDockerd;
  dir: string;
}

/** Pull `image` on `daemon`, or fail with the CLI's words. */
async function pull(daemon: { env: NodeJS.ProcessEnv }, image: string): Promise<void> {
  const r = await dockerCli(daemon, ['pull', '-q', image]);
  if (r.code !== 0) throw new Error(`docker pull ${image}: ${r.err.trim()}`);
}

/**
 * Start podvisor (with `opts`) and the baseline in a new temp directory named from `prefix`,
 * and pull each of `images` on both. What was started is stopped again if a later step fails.
 */
export async function startBesideBaseline(
  prefix: string,
  opts: Parameters<typeof startDaemon>[0],
  images: string[],
): Promise<BesideBaseline> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const started: Partial<BesideBaseline> = { dir };
  try {
    started.d = await startDaemon(opts);
    const root = baselineRoot();
    started.base = root
      ? await startNetnsDockerd(path.join(dir, 'dockerd'), { networkArgs: ['--bridge=none', '--iptables=false'], root })
      : await startDockerd(path.join(dir, 'dockerd'));
    for (const daemon of [started.d, started.base]) for (const image of images) await pull(daemon, image);
    return started as BesideBaseline;
  } catch (err) {
    await stopBesideBaseline(started);
    throw err;
  }
}

/** Stop what startBesideBaseline started (the baseline, then podvisor, leaving nothing) and remove its directory. */
export async function stopBesideBaseline(s: Partial<BesideBaseline>): Promise<void> {
  await s.base?.stop().catch(() => undefined);
  if (s.d) await stopDaemonLeavingNothing(s.d);
  if (s.dir) fs.rmSync(s.dir, { recursive: true, force: true });
}

/**
 * The same docker CLI command on both daemons. dockerd's attach can lose the whole output of
 * a container that ends at once (its attach answers before its streams are attached:
 * moby/moby#29285): when the baseline's `run` printed nothing on stdout and exited 0 where
 * podvisor printed something there, the baseline's is taken once more (its stderr may still
 * hold the CLI's own lines, such as a create's warnings, which do not come through the
 * attach). A real difference stays one: the second run prints nothing again.
 */
export async function onBoth(
  ours: { env: NodeJS.ProcessEnv },
  theirs: { env: NodeJS.ProcessEnv },
  args: string[],
): Promise<[CliResult, CliResult]> {
  const [a, b] = await Promise.all([dockerCli(ours, args), dockerCli(theirs, args)]);
  const lost = args[0] === 'run' && b.code === 0 && b.out === '' && a.out !== '';
  return [a, lost ? await dockerCli(theirs, args) : b];
}
