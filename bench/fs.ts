/**
 * The container filesystem under file-heavy work: podvisor beside dockerd 20.10 + runc in the
 * same run (issue 26's table).
 *
 * The work is a tar of many small files made on the host from /usr/share/doc and
 * /usr/lib/python3 (the same trees as the issue's measurement; the file count is printed, as
 * it depends on what the host has installed). Each daemon runs one busybox container with a
 * named volume at /vol and, on podvisor, a guest tmpfs at /scratch (`--tmpfs`: the floor TCG
 * itself sets, with no file transport in the way); the tar is bind-mounted read-only at /in and
 * copied into the rootfs (untimed). Beside podvisor's default (the writable layer on the host,
 * over 9p) a second podvisor runs in block mode (`--rootfs-disk`: the layer on an ext4 disk
 * of the container's own, mounted by the guest; BENCH_BLOCK=0 leaves it out).
 * Then, ROUNDS times, alternating between the daemons, each step is one `docker exec`:
 *  - untar into the rootfs (`tar -xf /w.tar -C /x`), `find /x`, `rm -rf /x`;
 *  - untar into the named volume, then rm -rf it (not timed);
 *  - untar into the guest tmpfs (podvisor only; on dockerd the rootfs is already local);
 *  - many small files written by a shell loop (`FILES` files of a few bytes each), into the
 *    rootfs: the shape of a RUN step that installs a package;
 *  - a `docker build --no-cache` whose RUN step writes those files (the builder's own cost
 *    included: a container, its start and the commit of its layer).
 * The time is the docker CLI's wall time of the exec (which includes the exec itself, ~0.1 s
 * on either daemon; measured alone as "exec true"). Each row prints the medians, the ratio of
 * podvisor to dockerd, and for the rootfs rows the ratio to the guest tmpfs of the same daemon
 * (issue 26's goal: untar into the rootfs within 1.5x of the tmpfs).
 *
 *   npm run bench:fs            (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_ROUNDS=3 BENCH_FILES=3000 BENCH_TREES="/usr/share/doc /usr/lib/python3"
 *   BENCH_BLOCK=0 (no block-mode daemon) BENCH_9P=0 (no 9p one) BENCH_STEPS=<regex of step names>
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, FIXTURE_REGISTRY } from '../test/fixtures/registry';
import { median, startDockerd, timeIt, stopBench, runMain } from './common';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FILES = Number(process.env.BENCH_FILES ?? 3000);
const TREES = (process.env.BENCH_TREES ?? '/usr/share/doc /usr/lib/python3')
  .split(/\s+/)
  .filter((t) => fs.existsSync(t));
const IMAGE = `${FIXTURE_REGISTRY}/busybox`;
const CONTAINER = 'bench-fs';
const BLOCK = process.env.BENCH_BLOCK !== '0';
/** BENCH_9P=0: leave out podvisor's default mode (the writable layer over 9p), slow on a loaded machine. */
const NINE_P = process.env.BENCH_9P !== '0';
/** Only the steps whose name matches (a smaller run on a loaded machine), e.g. 'tar|small'. */
const ONLY = process.env.BENCH_STEPS ? new RegExp(process.env.BENCH_STEPS) : undefined;
/** Whether a client is one of the podvisor daemons (the guest tmpfs rows run there only). */
const isPodvisor = (name: string) => name.startsWith('podvisor');

const docker = (env: NodeJS.ProcessEnv, args: string[], timeout = 900000) =>
  execFileSync('docker', args, {
    env: { ...env, DOCKER_BUILDKIT: '0' },
    encoding: 'utf8',
    timeout,
    maxBuffer: 64 << 20,
  }).trim();

/** The shell loop that writes FILES small files under `dir` (a RUN step's shape). */
const smallFiles = (dir: string) =>
  `mkdir -p ${dir} && cd ${dir} && i=0; while [ $i -lt ${FILES} ]; do echo "file $i" > f$i; i=$((i+1)); done`;

/** One timed step: a name, the daemons it runs on, and what it runs. */
interface Step {
  name: string;
  podvisorOnly?: boolean;
  run(env: NodeJS.ProcessEnv): void;
  /** Untimed work after the step (removing what it made). */
  after?(env: NodeJS.ProcessEnv): void;
}

const exec = (env: NodeJS.ProcessEnv, script: string) => docker(env, ['exec', CONTAINER, 'sh', '-c', script]);

function steps(buildCtx: string): Step[] {
  return [
    { name: 'exec true (the exec itself)', run: (env) => exec(env, 'true') },
    { name: 'tar -x into the rootfs', run: (env) => exec(env, 'mkdir -p /x && tar -xf /w.tar -C /x') },
    { name: 'find over them (rootfs)', run: (env) => exec(env, 'find /x | wc -l >/dev/null') },
    { name: 'rm -rf them (rootfs)', run: (env) => exec(env, 'rm -rf /x') },
    {
      name: 'tar -x into a named volume',
      run: (env) => exec(env, 'mkdir -p /vol/x && tar -xf /w.tar -C /vol/x'),
      after: (env) => exec(env, 'rm -rf /vol/x'),
    },
    {
      name: 'tar -x into a guest tmpfs',
      podvisorOnly: true,
      run: (env) => exec(env, 'mkdir -p /scratch/x && tar -xf /w.tar -C /scratch/x'),
      after: (env) => exec(env, 'rm -rf /scratch/x'),
    },
    {
      name: `${FILES} small files, rootfs`,
      run: (env) => exec(env, smallFiles('/s')),
      after: (env) => exec(env, 'rm -rf /s'),
    },
    {
      name: `${FILES} small files, guest tmpfs`,
      podvisorOnly: true,
      run: (env) => exec(env, smallFiles('/scratch/s')),
      after: (env) => exec(env, 'rm -rf /scratch/s'),
    },
    {
      name: `build: RUN writes ${FILES} files`,
      run: (env) => docker(env, ['build', '--no-cache', '-q', '-t', 'bench-fs-build', buildCtx]),
    },
  ];
}

/** A tar of the host's TREES (paths relative to /), and how many entries it holds. */
function makeTar(file: string): number {
  execFileSync('tar', ['-cf', file, '--ignore-failed-read', ...TREES.map((t) => t.replace(/^\//, ''))], {
    cwd: '/',
    stdio: 'ignore',
  });
  return execFileSync('tar', ['-tf', file], { encoding: 'utf8', maxBuffer: 256 << 20 })
    .split('\n')
    .filter(Boolean).length;
}

async function main(): Promise<void> {
  if (TREES.length === 0) throw new Error('none of BENCH_TREES exists on this host');
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-fs-'));
  fs.mkdirSync(path.join(base, 'in'));
  const tarFile = path.join(base, 'in', 'w.tar');
  const entries = makeTar(tarFile);
  const buildCtx = path.join(base, 'build');
  fs.mkdirSync(buildCtx);
  fs.writeFileSync(path.join(buildCtx, 'Dockerfile'), `FROM ${IMAGE}\nRUN ${smallFiles('/opt/files')}\n`);
  const registries = await ensureFixtureRegistries();
  const podvisor = await startDaemon({ vmPoolSize: 0 });
  let blk: Awaited<ReturnType<typeof startDaemon>> | undefined;
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  try {
    if (BLOCK) blk = await startDaemon({ vmPoolSize: 0, args: ['--rootfs-disk'] });
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const clients: Record<string, NodeJS.ProcessEnv> = {
      ...(NINE_P ? { podvisor: podvisor.env } : {}),
      ...(blk ? { 'podvisor-blk': blk.env } : {}),
      dockerd: dockerd.env,
    };
    for (const [name, env] of Object.entries(clients)) {
      docker(env, ['pull', '-q', IMAGE]);
      // 1 GiB for both (on podvisor, a VM of that size): the guest tmpfs holds the untarred
      // trees (~200 MiB) in the container's memory.
      const tmpfs = isPodvisor(name) ? ['--tmpfs', '/scratch:size=512m'] : [];
      docker(env, [
        'run',
        '-d',
        '--name',
        CONTAINER,
        '-m',
        '1g',
        '-v',
        'bench-fs-vol:/vol',
        '-v',
        `${path.dirname(tarFile)}:/in:ro`,
        ...tmpfs,
        IMAGE,
        'sleep',
        '36000',
      ]);
      exec(env, 'cp /in/w.tar /w.tar');
    }
    const all = steps(buildCtx).filter((st) => !ONLY || ONLY.test(st.name));
    const times: Record<string, Record<string, number[]>> = {};
    for (let r = 0; r < ROUNDS; r++) {
      for (const step of all) {
        for (const [name, env] of Object.entries(clients)) {
          if (step.podvisorOnly && !isPodvisor(name)) continue;
          const t = timeIt(() => step.run(env));
          step.after?.(env);
          ((times[step.name] ??= {})[name] ??= []).push(t);
          process.stdout.write(`round ${r + 1}/${ROUNDS} ${name.padEnd(8)} ${step.name}: ${t.toFixed(2)} s\n`);
        }
      }
    }
    for (const env of Object.values(clients)) {
      docker(env, ['rm', '-f', CONTAINER]);
      docker(env, ['volume', 'rm', 'bench-fs-vol']);
      docker(env, ['rmi', '-f', 'bench-fs-build']);
    }
    const med = (step: string, who: string) => (times[step]?.[who] ? median(times[step][who]) : NaN);
    const floorOf = (step: string, who: string) =>
      step === 'tar -x into the rootfs'
        ? med('tar -x into a guest tmpfs', who)
        : step === `${FILES} small files, rootfs`
          ? med(`${FILES} small files, guest tmpfs`, who)
          : NaN;
    process.stdout.write(
      `\n${entries} tar entries (${TREES.join(' ')}), ${FILES} small files; medians of ${ROUNDS} rounds (docker CLI wall time of each exec), ` +
        `load average at the end ${os
          .loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}:\n`,
    );
    const pv = Object.keys(clients).filter(isPodvisor);
    const short = (who: string) => (who === 'podvisor' ? '9p' : 'blk');
    process.stdout.write(
      `  ${'step'.padEnd(36)} ${pv.map((w) => short(w).padStart(9)).join(' ')} ${'dockerd'.padStart(9)} ` +
        `${pv.map((w) => `${short(w)} x dockerd`.padStart(14)).join(' ')} ${pv.map((w) => `${short(w)} x tmpfs`.padStart(12)).join(' ')}\n`,
    );
    const cell = (x: number, unit: string) => (Number.isFinite(x) ? `${x.toFixed(2)}${unit}` : '');
    for (const step of all) {
      const d = med(step.name, 'dockerd');
      const p = pv.map((w) => med(step.name, w));
      process.stdout.write(
        `  ${step.name.padEnd(36)} ${p.map((x) => cell(x, ' s').padStart(9)).join(' ')} ${cell(d, ' s').padStart(9)} ` +
          `${p.map((x) => cell(x / d, 'x').padStart(14)).join(' ')} ` +
          `${p.map((x, i) => cell(x / floorOf(step.name, pv[i]), 'x').padStart(12)).join(' ')}\n`,
      );
    }
  } finally {
    // A step that failed (an exec past its time) leaves its container writing into its layer:
    // remove it first, or removing the daemon's data root meets ENOTEMPTY and that error hides
    // the step's own.
    for (const env of [podvisor.env, blk?.env, dockerd?.env]) {
      try {
        if (env) execFileSync('docker', ['rm', '-f', CONTAINER], { env, stdio: 'ignore', timeout: 120000 });
      } catch {
        // Already gone, or the daemon is: stopBench says what matters.
      }
    }
    if (blk) await blk.stop().catch(() => undefined);
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
