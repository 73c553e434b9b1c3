/**
 * The daemon under test beside a private baseline dockerd 20.10 + runc (bench/common.ts; dockerd
 * 26.1 when PODVISOR_BASELINE=dockerd26: ./baseline-choice.ts), each
 * with the same images pulled, for suites that run one command on both and compare:
 *
 *   beforeAll(async () => ({ d, base, dir } = await startBesideBaseline('pv-cgroup-', {}, [IMAGE])));
 *   afterAll(() => stopBesideBaseline({ d, base, dir }));
 *
 * or beside both baselines at once (startBesideBaselines, onEach, expectSameAsEach), so that one
 * run compares podvisor's answer with dockerd 20.10's and dockerd 26.1's and podvisor does each
 * case once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDockerd, type BaselineDockerd } from '../../bench/common';
import { startNetnsDockerd } from '../../bench/netns-dockerd';
import { baselineRoot, dockerd26Root, type BaselineName } from './baseline-choice';
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

/** A baseline dockerd, its name, and the API version a side-by-side comparison speaks to it (its own). */
export interface NamedBaseline {
  name: BaselineName;
  daemon: BaselineDockerd;
  version: '1.41' | '1.45';
}

/** The daemon under test beside both baselines, and a temp directory of the suite's own. */
export interface BesideBaselines {
  d: TestDaemon;
  bases: NamedBaseline[];
  dir: string;
}

/**
 * Start podvisor (with `opts`) beside both baselines, dockerd 20.10 and dockerd 26.1, in a new
 * temp directory named from `prefix`, and pull each of `images` on all three: one run of a
 * suite compares podvisor's answer with both, so podvisor does each case once. What was
 * started is stopped again if a later step fails.
 */
export async function startBesideBaselines(
  prefix: string,
  opts: Parameters<typeof startDaemon>[0],
  images: string[],
): Promise<BesideBaselines> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const started: BesideBaselines = { dir, bases: [] } as unknown as BesideBaselines;
  try {
    started.d = await startDaemon(opts);
    started.bases.push({
      name: 'dockerd 20.10',
      daemon: await startDockerd(path.join(dir, 'dockerd')),
      version: '1.41',
    });
    const root = dockerd26Root();
    const networkArgs = ['--bridge=none', '--iptables=false'];
    const dockerd26 = await startNetnsDockerd(path.join(dir, 'dockerd26'), { networkArgs, root });
    started.bases.push({ name: 'dockerd 26.1', daemon: dockerd26, version: '1.45' });
    const daemons = [started.d, ...started.bases.map((b) => b.daemon)];
    await Promise.all(
      daemons.map(async (daemon) => {
        for (const image of images) await pull(daemon, image);
      }),
    );
    return started;
  } catch (err) {
    await stopBesideBaselines(started);
    throw err;
  }
}

/** Stop what startBesideBaselines started (the baselines, then podvisor, leaving nothing) and remove its directory. */
export async function stopBesideBaselines(s: Partial<BesideBaselines>): Promise<void> {
  for (const b of s.bases ?? []) await b.daemon.stop().catch(() => undefined);
  if (s.d) await stopDaemonLeavingNothing(s.d);
  if (s.dir) fs.rmSync(s.dir, { recursive: true, force: true });
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
  const [a, [b]] = await onEach(ours, [theirs], args);
  return [a, b];
}

/**
 * The same docker CLI command on podvisor (once) and on each baseline, all at once: podvisor's
 * answer and the baselines' in their order. A baseline's lost `run` output is taken once more,
 * as onBoth says.
 */
export async function onEach(
  ours: { env: NodeJS.ProcessEnv },
  theirs: Array<{ env: NodeJS.ProcessEnv }>,
  args: string[],
): Promise<[CliResult, CliResult[]]> {
  const [a, ...bs] = await Promise.all([ours, ...theirs].map((x) => dockerCli(x, args)));
  const lost = (b: CliResult) => args[0] === 'run' && b.code === 0 && b.out === '' && a.out !== '';
  return [a, await Promise.all(bs.map((b, i) => (lost(b) ? dockerCli(theirs[i], args) : b)))];
}

/** Expect podvisor's `ours` to equal each baseline's answer in `theirs` (in `bases`' order), naming any that differs. */
export function expectSameAsEach<T>(bases: NamedBaseline[], ours: T, theirs: T[]): void {
  expect(Object.fromEntries(theirs.map((t, i) => [bases[i]?.name ?? `baseline ${i}`, t]))).toEqual(
    Object.fromEntries(bases.map((b) => [b.name, ours])),
  );
}
