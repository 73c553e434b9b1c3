/**
 * The container filesystem under file-heavy work: podvisor beside dockerd 20.10 + runc in the
 * same run (issue 26's table).
 *
 * The work is a tar of many small files made on the host from /usr/share/doc and
 * /usr/lib/python3 (the same trees as the issue's measurement; the file count is printed, as
 * it depends on what the host has installed). Each daemon runs one busybox container with a
 * named volume at /vol and, on podvisor, a guest tmpfs at /scratch (`--tmpfs`: the floor TCG
 * itself sets, with no file transport in the way); the tar is bind-mounted read-only at /in and
 * copied into the rootfs (untimed). Two podvisors run: one with `--rootfs-disk=false` (the
 * writable layer on the host, over 9p; BENCH_9P=0 leaves it out) and one in block mode, the
 * default (the layer on an ext4 disk of the container's own, mounted by the guest;
 * BENCH_BLOCK=0 leaves it out).
 * Then, ROUNDS times, alternating between the daemons, each step is one `docker exec`:
 *  - untar into the rootfs (`tar -xf /w.tar -C /x`), `find /x`, `rm -rf /x`;
 *  - untar into the named volume, then rm -rf it (not timed);
 *  - `fallocate -l 64M` of a new file in the named volume (over 9p, done by our guest kernel's
 *    9p client by writing zeros: guest/kernel/patches);
 *  - untar into the guest tmpfs (podvisor only; on dockerd the rootfs is already local);
 *  - many small files written by a shell loop (`FILES` files of a few bytes each), into the
 *    rootfs: the shape of a RUN step that installs a package;
 *  - a `docker build --no-cache` whose RUN step writes those files (the builder's own cost
 *    included: a container, its start and the commit of its layer).
 * Then the database rows of bench/fs-db.ts, each group with containers of its own (started on
 * every daemon before its rows, removed after them, so no idle VM of one group loads the
 * next): sqlite's committed inserts in WAL mode and python's TemporaryFile()s (O_TMPFILE), in
 * the rootfs, a volume and a guest tmpfs, and pgbench against PostgreSQL 15 with PGDATA in the
 * image's VOLUME, the rootfs and a guest tmpfs; on the block-mode podvisor also sqlite's inserts
 * and pgbench in a volume on the container's own disk (`--storage-opt image=disk`: the volume a
 * checkpoint saves), beside the same daemon's volume over 9p and its guest tmpfs. A time is the docker CLI's wall time of the exec
 * (which includes the exec itself, ~0.1 s on either daemon; measured alone as "exec true"),
 * except where a row measures inside the container (sqlite's inserts, the TemporaryFile()s;
 * pgbench's TPS). Last, the rows "first run of a large program" (bench/fs-first-run.ts):
 * `docker run --rm` of the debian-python:3 fixture image running `true`, `python3 -c pass` and
 * a few imports, on every daemon, and again on the block-mode podvisor with `--storage-opt
 * image=layers` (its image over the layers share, 9p, instead of its image disk); each is a
 * first run inside its VM (a new VM, a guest page cache of its own); they get a table of their
 * own too (image disk, layers share, dockerd). Each row prints the medians, the ratio of
 * podvisor to dockerd, and for the rootfs and volume rows the ratio to the guest tmpfs of the
 * same daemon (issue 26's goals: untar into the rootfs within 1.5x of the tmpfs, sqlite and
 * pgbench within 2x). For TPS rows the ratios are taken the other way round (reference TPS
 * over this TPS), so a ratio above 1 always means slower.
 *
 *   npm run bench:fs            (needs bootstrap --bench: docker.io, docker-registry, debootstrap)
 *   BENCH_ROUNDS=3 BENCH_FILES=3000 BENCH_TREES="/usr/share/doc /usr/lib/python3"
 *   BENCH_SQLITE_INSERTS=1000 BENCH_TMPFILES=1000 BENCH_PGBENCH_SECONDS=20
 *   BENCH_BLOCK=0 (no block-mode daemon) BENCH_9P=0 (no 9p one) BENCH_STEPS=<regex of step names>
 *   (e.g. BENCH_STEPS='sqlite|pgbench' for the database rows only, BENCH_STEPS='first run' for
 *   the first runs of python only: BENCH_9P=0 BENCH_STEPS='first run' npm run bench:fs)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { median, startDockerd, stopBench, runMain } from './common';
import { BLOCK_PODVISOR, docker, isPodvisor, removeContainers, runsOn, type Group, type Step } from './fs-parts';
import { pgbenchGroups, sqliteGroup, sqliteOnDiskGroup } from './fs-db';
import { firstRunGroup, firstRunTable } from './fs-first-run';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FILES = Number(process.env.BENCH_FILES ?? 3000);
const TREES = (process.env.BENCH_TREES ?? '/usr/share/doc /usr/lib/python3')
  .split(/\s+/)
  .filter((t) => fs.existsSync(t));
const IMAGE = (): string => `${fixtureRegistry()}/busybox`;
const CONTAINER = 'bench-fs';
const BLOCK = process.env.BENCH_BLOCK !== '0';
/** BENCH_9P=0: leave out podvisor with --rootfs-disk=false (the writable layer over 9p), slow on a loaded machine. */
const NINE_P = process.env.BENCH_9P !== '0';
/** Only the steps whose name matches (a smaller run on a loaded machine), e.g. 'tar|small'. */
const ONLY = process.env.BENCH_STEPS ? new RegExp(process.env.BENCH_STEPS) : undefined;

/** The shell loop that writes FILES small files under `dir` (a RUN step's shape). */
const smallFiles = (dir: string) =>
  `mkdir -p ${dir} && cd ${dir} && i=0; while [ $i -lt ${FILES} ]; do echo "file $i" > f$i; i=$((i+1)); done`;

const exec = (env: NodeJS.ProcessEnv, script: string) => docker(env, ['exec', CONTAINER, 'sh', '-c', script]);

/** The file rows (issue 26's table): one busybox container per daemon, the tar copied into its rootfs. */
function filesGroup(tarDir: string, buildCtx: string): Group {
  const untarFloor = 'tar -x into a guest tmpfs';
  const smallFloor = `${FILES} small files, guest tmpfs`;
  const steps: Step[] = [
    { name: 'exec true (the exec itself)', run: (env) => void exec(env, 'true') },
    {
      name: 'tar -x into the rootfs',
      floor: untarFloor,
      run: (env) => void exec(env, 'mkdir -p /x && tar -xf /w.tar -C /x'),
    },
    { name: 'find over them (rootfs)', run: (env) => void exec(env, 'find /x | wc -l >/dev/null') },
    { name: 'rm -rf them (rootfs)', run: (env) => void exec(env, 'rm -rf /x') },
    {
      name: 'tar -x into a named volume',
      floor: untarFloor,
      run: (env) => void exec(env, 'mkdir -p /vol/x && tar -xf /w.tar -C /vol/x'),
      after: (env) => void exec(env, 'rm -rf /vol/x'),
    },
    {
      // Over 9p, our guest kernel's 9p client writes the zeros (guest/kernel/patches).
      name: 'fallocate -l 64M in a named volume',
      run: (env) => void exec(env, 'fallocate -l 64M /vol/fa'),
      after: (env) => void exec(env, 'rm -f /vol/fa'),
    },
    {
      name: untarFloor,
      podvisorOnly: true,
      run: (env) => void exec(env, 'mkdir -p /scratch/x && tar -xf /w.tar -C /scratch/x'),
      after: (env) => void exec(env, 'rm -rf /scratch/x'),
    },
    {
      name: `${FILES} small files, rootfs`,
      floor: smallFloor,
      run: (env) => void exec(env, smallFiles('/s')),
      after: (env) => void exec(env, 'rm -rf /s'),
    },
    {
      name: smallFloor,
      podvisorOnly: true,
      run: (env) => void exec(env, smallFiles('/scratch/s')),
      after: (env) => void exec(env, 'rm -rf /scratch/s'),
    },
    {
      name: `build: RUN writes ${FILES} files`,
      run: (env) => void docker(env, ['build', '--no-cache', '-q', '-t', 'bench-fs-build', buildCtx]),
    },
  ];
  return {
    name: 'files',
    containers: [CONTAINER],
    start: (who, env) => {
      docker(env, ['pull', '-q', IMAGE()]);
      // 1 GiB for both (on podvisor, a VM of that size): the guest tmpfs holds the untarred
      // trees (~200 MiB) in the container's memory.
      const tmpfs = isPodvisor(who) ? ['--tmpfs', '/scratch:size=512m'] : [];
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
        `${tarDir}:/in:ro`,
        ...tmpfs,
        IMAGE(),
        'sleep',
        '36000',
      ]);
      exec(env, 'cp /in/w.tar /w.tar');
    },
    steps,
  };
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

const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Run each group's steps ROUNDS times, alternating between the daemons; the figures by step and daemon. */
async function measure(groups: Group[], clients: Record<string, NodeJS.ProcessEnv>) {
  const times: Record<string, Record<string, number[]>> = {};
  for (const group of groups) {
    for (const [who, env] of Object.entries(clients)) group.start(who, env);
    for (const [who, env] of Object.entries(clients)) await group.ready?.(who, env);
    for (let r = 0; r < ROUNDS; r++) {
      for (const step of group.steps) {
        for (const [who, env] of Object.entries(clients)) {
          if (!runsOn(step, who)) continue;
          const t0 = process.hrtime.bigint();
          const own = step.run(env);
          const wall = Number(process.hrtime.bigint() - t0) / 1e9;
          step.after?.(env);
          const t = typeof own === 'number' ? own : wall;
          ((times[step.name] ??= {})[who] ??= []).push(t);
          const unit = step.unit === 'tps' ? 'tps' : 's';
          process.stdout.write(
            `round ${r + 1}/${ROUNDS} ${who.padEnd(12)} ${step.name}: ${t.toFixed(2)} ${unit} (load ${loadavg()})\n`,
          );
        }
      }
    }
    for (const env of Object.values(clients)) removeContainers(env, group.containers);
  }
  return times;
}

/** Print the table: medians, podvisor against dockerd, rootfs and volume rows against their guest tmpfs floor. */
function report(steps: Step[], times: Record<string, Record<string, number[]>>, pv: string[]): void {
  const med = (step: string, who: string) => (times[step]?.[who] ? median(times[step][who]) : NaN);
  // A ratio above 1 means slower than the reference, for times and for rates alike.
  const slower = (st: Step, x: number, ref: number) => (st.unit === 'tps' ? ref / x : x / ref);
  const short = (who: string) => (who === 'podvisor' ? '9p' : 'blk');
  const cell = (x: number, unit: string) => (Number.isFinite(x) ? `${x.toFixed(2)}${unit}` : '');
  process.stdout.write(
    `  ${'step'.padEnd(46)} ${pv.map((w) => short(w).padStart(10)).join(' ')} ${'dockerd'.padStart(10)} ` +
      `${pv.map((w) => `${short(w)} x dockerd`.padStart(14)).join(' ')} ${pv.map((w) => `${short(w)} x tmpfs`.padStart(12)).join(' ')}\n`,
  );
  for (const st of steps) {
    const unit = st.unit === 'tps' ? ' tps' : ' s';
    const d = med(st.name, 'dockerd');
    const p = pv.map((w) => med(st.name, w));
    const floors = pv.map((w) => (st.floor ? med(st.floor, w) : NaN));
    process.stdout.write(
      `  ${st.name.padEnd(46)} ${p.map((x) => cell(x, unit).padStart(10)).join(' ')} ${cell(d, unit).padStart(10)} ` +
        `${p.map((x) => cell(slower(st, x, d), 'x').padStart(14)).join(' ')} ` +
        `${p.map((x, i) => cell(slower(st, x, floors[i]), 'x').padStart(12)).join(' ')}\n`,
    );
  }
}

async function main(): Promise<void> {
  if (TREES.length === 0) throw new Error('none of BENCH_TREES exists on this host');
  // First: the fixture registries' addresses are known only once they run (IMAGE() below).
  const registries = await ensureFixtureRegistries();
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-fs-'));
  fs.mkdirSync(path.join(base, 'in'));
  const tarFile = path.join(base, 'in', 'w.tar');
  const entries = makeTar(tarFile);
  const buildCtx = path.join(base, 'build');
  fs.mkdirSync(buildCtx);
  fs.writeFileSync(path.join(buildCtx, 'Dockerfile'), `FROM ${IMAGE()}\nRUN ${smallFiles('/opt/files')}\n`);
  const groups = [
    filesGroup(path.dirname(tarFile), buildCtx),
    sqliteGroup(),
    sqliteOnDiskGroup(),
    ...pgbenchGroups(),
    firstRunGroup(),
  ]
    .map((g) => ({ ...g, steps: g.steps.filter((st) => !ONLY || ONLY.test(st.name)) }))
    .filter((g) => g.steps.length > 0);
  // podvisor's writable layer over 9p (block mode, the default, is the second daemon).
  const podvisor = await startDaemon({ vmPoolSize: 0, args: ['--rootfs-disk=false'] });
  let blk: Awaited<ReturnType<typeof startDaemon>> | undefined;
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  try {
    if (BLOCK) blk = await startDaemon({ vmPoolSize: 0, args: ['--rootfs-disk'] });
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    const clients: Record<string, NodeJS.ProcessEnv> = {
      ...(NINE_P ? { podvisor: podvisor.env } : {}),
      ...(blk ? { [BLOCK_PODVISOR]: blk.env } : {}),
      dockerd: dockerd.env,
    };
    const loadBefore = loadavg();
    const times = await measure(groups, clients);
    for (const env of Object.values(clients)) {
      for (const args of [
        ['volume', 'rm', 'bench-fs-vol'],
        ['rmi', '-f', 'bench-fs-build'],
      ]) {
        try {
          execFileSync('docker', args, { env, stdio: 'ignore', timeout: 300000 });
        } catch {
          // Not made: the files group, or its build step, was left out (BENCH_STEPS).
        }
      }
    }
    process.stdout.write(
      `\n${entries} tar entries (${TREES.join(' ')}), ${FILES} small files; medians of ${ROUNDS} rounds ` +
        `(docker CLI wall time of each exec, or the container's own figure for sqlite and pgbench TPS); ` +
        `load average before ${loadBefore}, at the end ${loadavg()}:\n`,
    );
    report(
      groups.flatMap((g) => g.steps),
      times,
      Object.keys(clients).filter(isPodvisor),
    );
    const firstRun = firstRunTable(times, Object.keys(clients));
    if (firstRun.length > 0) {
      process.stdout.write(`\nfirst run of a large program (medians of ${ROUNDS} rounds, docker CLI wall time):\n\n`);
      for (const l of firstRun) process.stdout.write(`${l}\n`);
    }
  } finally {
    // A step that failed (an exec past its time) leaves its container writing into its layer:
    // remove it first, or removing the daemon's data root meets ENOTEMPTY and that error hides
    // the step's own.
    for (const env of [podvisor.env, blk?.env, dockerd?.env]) {
      if (env) removeContainers(env, [CONTAINER, ...groups.flatMap((g) => g.containers)]);
    }
    if (blk) await blk.stop().catch(() => undefined);
    await stopBench({ dockerd, podvisor, registries, base });
  }
}

runMain(main);
