/**
 * Time to a container answering after a start from a checkpoint, beside dockerd 20.10 + runc's
 * cold start of the same image in the same run (issues 44 and 56; restore and forks near the
 * limit).
 *
 * busybox (a counter, plain `docker run -d`: its image on the image's disk, the daemon's
 * default): "answering" is the first `docker exec NAME true` that passes (polled every 20 ms on
 * both daemons). Per round:
 *   dockerd    docker run -d, cold
 *   podvisor   docker checkpoint create (its run ends), its fork template made in the
 *              background, then docker start --checkpoint: the RAM mapped from the template
 *   podvisor   the same with the template removed first: the whole state loaded (a checkpoint
 *              made before saves made templates)
 * PostgreSQL: the fixture image debian-postgres:15 (Debian's PostgreSQL run as the official
 * image runs it), run as users run it, plain `docker run -d`: its data in the image's VOLUME
 * (/var/lib/postgresql/data), an anonymous volume, which a container reading its image from the
 * image's disk (the default) keeps on its own disk (so its VM can be saved with it). "Ready" is
 * `pg_isready -h 127.0.0.1` passing inside the container (polled through docker exec every
 * 100 ms on both daemons, several containers' polls side by side; over TCP, as the official entrypoint's temporary server listens on
 * the unix socket only). Per round:
 *   dockerd    docker run -d, cold (initdb, first start)
 *   podvisor   docker run -d --storage-opt image=layers, cold (the image read over the 9p
 *              layers share, the volume over the volume share: the daemon of before)
 *   podvisor   docker run -d, cold (the default: the image on its disk, the volume on the
 *              container's disk)
 *   podvisor   docker checkpoint create of that container (the VM saved, its run ended), then
 *              docker start --checkpoint once its fork template is made (RAM mapped), and
 *              again from a second checkpoint whose template was removed (whole state loaded)
 *   podvisor   podvisor fork: one fork to ready, then 10 forks at once, all ready
 * A pod of two busybox counters: on dockerd, two `docker run -d`, the second in the first's
 * network namespace (`--network container:`), cold; on podvisor, a pod file's pod of two
 * (`podvisor run-pod -f`) saved with `podvisor checkpoint`, then, once its fork template is
 * made, `podvisor start --checkpoint` (RAM mapped) and one `podvisor fork`;
 * each timed to an exec answered in both containers (`docker exec bpod`, `bpod.b`).
 * Then the checkpoint's size (state, its template's RAM file and the disk copy, allocated),
 * the PSS of the ten forks' QEMUs, and the daemon's own account (debug log) of where each VM
 * start from a checkpoint went: state loaded, agent connected, activated.
 *
 *   npm run bench:checkpoint      (needs bootstrap --bench: docker.io, docker-registry)
 *   BENCH_RUNS=3 BENCH_FORKS=10
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { startDaemon } from '../test/helpers/daemon';
import { ensureFixtureRegistries, fixtureRegistry } from '../test/fixtures/registry';
import { listVmProcesses } from '../test/helpers/leaks';
import { pssBytes } from '../src/vm/qemu/host-files';
import { dockerOut, median, removeAllContainers, runMain, sleep, startDockerd, stopBench } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const FORKS = Number(process.env.BENCH_FORKS ?? 10);
const IMAGE = (): string => `${fixtureRegistry()}/debian-postgres:15`;
const BUSYBOX = (): string => `${fixtureRegistry()}/busybox`;
const COUNTER = 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.2; done';
const PODVISOR_BIN = path.join(__dirname, '..', 'bin', 'podvisor');

const docker = dockerOut;

/** `docker run -d` of the database with `extra` flags; its id. */
const runPg = (env: NodeJS.ProcessEnv, name: string, extra: string[] = []) =>
  docker(env, ['run', '-d', '--name', name, '-e', 'POSTGRES_PASSWORD=secret', ...extra, IMAGE()]);

/**
 * Whether `docker ARGS` exits 0 (30 s at most). Run without blocking the event loop, so that the
 * polls of several containers go side by side: polled one after another (spawnSync), ten
 * forks' readiness was the sum of ten `docker exec`s, not the time the last fork took.
 */
function dockerPasses(env: NodeJS.ProcessEnv, args: string[]): Promise<boolean> {
  return new Promise((resolve) => execFile('docker', args, { env, timeout: 30000 }, (err) => resolve(!err)));
}

/** Poll pg_isready in container `name` until it passes (10 minutes at most). */
async function untilReady(env: NodeJS.ProcessEnv, name: string): Promise<void> {
  const deadline = Date.now() + 600000;
  while (Date.now() < deadline) {
    if (await dockerPasses(env, ['exec', name, 'pg_isready', '-q', '-h', '127.0.0.1'])) return;
    await sleep(100);
  }
  throw new Error(`${name} never became ready`);
}

/** Poll `docker exec NAME true` until it passes (10 minutes at most): the container answers. */
async function untilAnswering(env: NodeJS.ProcessEnv, name: string): Promise<void> {
  const deadline = Date.now() + 600000;
  while (Date.now() < deadline) {
    if (await dockerPasses(env, ['exec', name, 'true'])) return;
    await sleep(20);
  }
  throw new Error(`${name} never answered`);
}

/** Milliseconds from now until `start()` has run and container `name` answers an exec. */
async function timeToAnswer(env: NodeJS.ProcessEnv, name: string, start: () => void): Promise<number> {
  const t0 = Date.now();
  start();
  await untilAnswering(env, name);
  return Date.now() - t0;
}

/** Milliseconds from now until `start()` has run and every container of `names` answers an exec. */
async function timeToAnswerAll(env: NodeJS.ProcessEnv, names: string[], start: () => void): Promise<number> {
  const t0 = Date.now();
  start();
  await Promise.all(names.map((n) => untilAnswering(env, n)));
  return Date.now() - t0;
}

/** The directory of checkpoint `cp` of container `name` of daemon `pv`. */
const checkpointDir = (pv: { env: NodeJS.ProcessEnv; dataRoot: string }, name: string, cp: string): string =>
  path.join(pv.dataRoot, 'containers', docker(pv.env, ['inspect', '-f', '{{.Id}}', name]), 'checkpoints', cp);

/**
 * Wait until the fork template of checkpoint directory `dir` is made (a save starts it in the
 * background; `more`: files of it beside its state and RAM, a pod of several's disks); with
 * `drop`, remove it then, so that a restore loads the whole state (as one of a checkpoint made
 * before templates were made at the save).
 */
async function forkTemplateMade(dir: string, drop = false, more: string[] = []): Promise<void> {
  const files = ['fork.state', 'fork.ram', ...more].map((f) => path.join(dir, f));
  const disk = path.join(dir, 'fork.disk');
  for (let i = 0; i < 1200 && !files.every((f) => fs.existsSync(f)); i++) await sleep(100);
  if (!files.every((f) => fs.existsSync(f))) throw new Error(`no fork template in ${dir}`);
  if (drop) for (const f of [...files, disk, `${disk}.backing`]) fs.rmSync(f, { recursive: true, force: true });
}

/** Milliseconds from now until `start()` has run and every container of `names` is ready. */
async function timeToReady(env: NodeJS.ProcessEnv, names: string[], start: () => void): Promise<number> {
  const t0 = Date.now();
  start();
  await Promise.all(names.map((n) => untilReady(env, n)));
  return Date.now() - t0;
}

/** The podvisor CLI against the bench's daemon. */
const podvisor = (host: string, args: string[]): string =>
  execFileSync(process.execPath, [PODVISOR_BIN, ...args], {
    env: { ...process.env, PODVISOR_HOST: host },
    encoding: 'utf8',
    timeout: 600000,
  });

/** The PSS of the QEMU of each VM id in `vms`, MiB. */
function qemuPssMiB(vms: string[]): number[] {
  const procs = listVmProcesses();
  return vms.map((vm) => {
    const p = procs.find((x) => x.cmdline.includes(`-name podvisor-${vm}`));
    return p ? pssBytes(p.pid) / 1048576 : NaN;
  });
}

/** The guest RAM of VM `vm`, MiB, from its QEMU's `-m` (NaN when its QEMU is not found). */
function guestMiB(vm: string): number {
  const p = listVmProcesses().find((x) => x.cmdline.includes(`-name podvisor-${vm}`));
  const m = p ? / -m (\d+)M? /.exec(p.cmdline) : null;
  return m ? Number(m[1]) : NaN;
}

async function main(): Promise<void> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-checkpoint-'));
  const registries = await ensureFixtureRegistries();
  const pv = await startDaemon({ args: ['--experimental', '--log-level', 'debug'] });
  const phases = new Set<string>();
  let dockerd: Awaited<ReturnType<typeof startDockerd>> | undefined;
  const times: Record<string, number[]> = {
    'busybox, dockerd + runc: docker run -d, cold, to an exec answered': [],
    'busybox, podvisor: docker start --checkpoint (RAM mapped), to an exec answered': [],
    'busybox, podvisor: docker start --checkpoint (whole state loaded), to an exec answered': [],
    'dockerd + runc: docker run -d, cold': [],
    'podvisor: docker run -d --storage-opt image=layers, cold (image and volume over 9p shares)': [],
    'podvisor: docker run -d, cold (the default: image and volume on disks)': [],
    'podvisor: docker checkpoint create (the save; its run ends)': [],
    'podvisor: docker start --checkpoint (RAM mapped)': [],
    'podvisor: docker start --checkpoint (whole state loaded)': [],
    'podvisor: one fork': [],
    [`podvisor: ${FORKS} forks at once, all ready`]: [],
    'pod of two busybox, dockerd + runc: docker run -d twice (the second --network container:), cold, to an exec answered in each':
      [],
    'pod of two busybox (a pod file), podvisor: podvisor start --checkpoint (RAM mapped), to an exec answered in each':
      [],
    'pod of two busybox (a pod file), podvisor: one fork, to an exec answered in each': [],
  };
  const keys = Object.keys(times);
  let sizes = '';
  let pss: number[] = [];
  try {
    dockerd = await startDockerd(path.join(base, 'dockerd'));
    for (const env of [pv.env, dockerd.env])
      for (const image of [IMAGE(), BUSYBOX()]) docker(env, ['pull', '-q', image]);
    for (let r = 0; r < RUNS; r++) {
      const dd = dockerd.env;
      const counter = [BUSYBOX(), 'sh', '-c', COUNTER];
      times[keys[0]].push(await timeToAnswer(dd, 'bbd', () => docker(dd, ['run', '-d', '--name', 'bbd', ...counter])));
      docker(dd, ['rm', '-fv', 'bbd']);
      docker(pv.env, ['run', '-d', '--name', 'bb', ...counter]);
      await untilAnswering(pv.env, 'bb');
      for (const [k, cp, drop] of [
        [keys[1], 'mapped', false],
        [keys[2], 'loaded', true],
      ] as const) {
        docker(pv.env, ['checkpoint', 'create', 'bb', cp]);
        await forkTemplateMade(checkpointDir(pv, 'bb', cp), drop);
        times[k].push(await timeToAnswer(pv.env, 'bb', () => docker(pv.env, ['start', '--checkpoint', cp, 'bb'])));
      }
      docker(pv.env, ['rm', '-fv', 'bb']);
      // A pod of two: on dockerd, two containers sharing the first's network namespace.
      times[keys[11]].push(
        await timeToAnswerAll(dd, ['bpd', 'bpd2'], () => {
          docker(dd, ['run', '-d', '--name', 'bpd', ...counter]);
          docker(dd, ['run', '-d', '--name', 'bpd2', '--network', 'container:bpd', ...counter]);
        }),
      );
      docker(dd, ['rm', '-fv', 'bpd2', 'bpd']);
      const podFile = path.join(base, 'pod.json');
      const twoCounters = ['a', 'b'].map((n) => ({ name: n, image: BUSYBOX(), command: ['sh', '-c', COUNTER] }));
      fs.writeFileSync(
        podFile,
        JSON.stringify({ id: 'bpod', containers: twoCounters, resource: { vcpu: 1, memory: 256 } }),
      );
      podvisor(pv.dockerHost, ['run-pod', '-f', podFile]);
      await untilAnswering(pv.env, 'bpod.b');
      podvisor(pv.dockerHost, ['checkpoint', 'bpod', 'cp']);
      // Its fork template (the pod's containers kept, each on a disk of its own) made first.
      const pods = JSON.parse(podvisor(pv.dockerHost, ['list', '--json'])) as Array<{ id: string; name: string }>;
      const bpodId = pods.find((p) => p.name === 'bpod')?.id ?? '';
      await forkTemplateMade(path.join(pv.dataRoot, 'containers', bpodId, 'checkpoints', 'cp'), false, [
        'fork-joined-0.disk',
        'fork-joined-1.disk',
      ]);
      times[keys[12]].push(
        await timeToAnswerAll(pv.env, ['bpod', 'bpod.b'], () =>
          podvisor(pv.dockerHost, ['start', '--checkpoint', 'cp', 'bpod']),
        ),
      );
      times[keys[13]].push(
        await timeToAnswerAll(pv.env, ['bfork', 'bfork.b'], () =>
          podvisor(pv.dockerHost, ['fork', 'bpod', 'cp', '--name', 'bfork']),
        ),
      );
      podvisor(pv.dockerHost, ['rm', '-f', 'bpod', 'bfork']);
      times[keys[3]].push(await timeToReady(dd, ['pgd'], () => runPg(dd, 'pgd')));
      docker(dd, ['rm', '-fv', 'pgd']);
      times[keys[4]].push(
        await timeToReady(pv.env, ['pgl'], () => runPg(pv.env, 'pgl', ['--storage-opt', 'image=layers'])),
      );
      docker(pv.env, ['rm', '-fv', 'pgl']);
      times[keys[5]].push(await timeToReady(pv.env, ['pg'], () => runPg(pv.env, 'pg')));
      const t0 = Date.now();
      docker(pv.env, ['checkpoint', 'create', 'pg', 'ready']);
      times[keys[6]].push(Date.now() - t0);
      // The fork template a save starts in the background is made before the restore is timed.
      await forkTemplateMade(checkpointDir(pv, 'pg', 'ready'));
      times[keys[7]].push(
        await timeToReady(pv.env, ['pg'], () => docker(pv.env, ['start', '--checkpoint', 'ready', 'pg'])),
      );
      docker(pv.env, ['checkpoint', 'create', 'pg', 'again']);
      await forkTemplateMade(checkpointDir(pv, 'pg', 'again'), true);
      times[keys[8]].push(
        await timeToReady(pv.env, ['pg'], () => docker(pv.env, ['start', '--checkpoint', 'again', 'pg'])),
      );
      times[keys[9]].push(
        await timeToReady(pv.env, ['pgf'], () => podvisor(pv.dockerHost, ['fork', 'pg', 'ready', '--name', 'pgf'])),
      );
      const many = Array.from({ length: FORKS }, (_, i) => `pgf${i}`);
      let forked: Array<{ vm: string }> = [];
      times[keys[10]].push(
        await timeToReady(pv.env, many, () => {
          const out = podvisor(pv.dockerHost, ['fork', 'pg', 'ready', '--json', ...many.flatMap((n) => ['--name', n])]);
          forked = JSON.parse(out) as Array<{ vm: string }>;
        }),
      );
      if (r === RUNS - 1) {
        const id = docker(pv.env, ['inspect', '-f', '{{.Id}}', 'pg']);
        const dir = path.join(pv.dataRoot, 'containers', id, 'checkpoints', 'ready');
        const state = fs.statSync(path.join(dir, 'vm.state')).size / 1048576;
        const disk = (fs.statSync(path.join(dir, 'upper.ext4')).blocks * 512) / 1048576;
        const ram = (fs.statSync(path.join(dir, 'fork.ram')).blocks * 512) / 1048576;
        // Each fork's own disk (a copy-on-write overlay: what it wrote), allocated.
        const forkDisks = many.map((n) => {
          const own = path.join(
            pv.dataRoot,
            'containers',
            docker(pv.env, ['inspect', '-f', '{{.Id}}', n]),
            'upper.ext4',
          );
          return (fs.statSync(own).blocks * 512) / 1048576;
        });
        sizes = `checkpoint: VM state ${state.toFixed(1)} MiB (a ${guestMiB(forked[0]?.vm ?? '')} MiB guest), its fork template's RAM file ${ram.toFixed(1)} MiB allocated, disk copy ${disk.toFixed(1)} MiB allocated; each of the ${FORKS} forks' own disk ${median(forkDisks).toFixed(1)} MiB allocated (median; ${forkDisks.reduce((a, b) => a + b, 0).toFixed(1)} MiB for all)`;
        await sleep(5000);
        pss = qemuPssMiB(forked.map((f) => f.vm));
      }
      for (const l of pv.logs().match(/VM \w+ restored from a checkpoint in .*?activated after \d+ ms/g) ?? [])
        phases.add(l);
      docker(pv.env, ['rm', '-fv', 'pg', 'pgf', ...many]);
      process.stdout.write(`round ${r + 1}/${RUNS}: ${keys.map((k) => `${times[k][r]} ms`).join(', ')}\n`);
    }
    process.stdout.write(
      `\nmedians of ${RUNS} rounds, time to a ready PostgreSQL (pg_isready -h 127.0.0.1 in the container), load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    for (const k of keys) process.stdout.write(`  ${k.padEnd(90)} ${median(times[k]).toFixed(0)} ms\n`);
    process.stdout.write(`${sizes}\n`);
    process.stdout.write(
      `where each VM start from a checkpoint went (the daemon's log):\n  ${[...phases].join('\n  ')}\n`,
    );
    const ok = pss.filter((x) => Number.isFinite(x));
    process.stdout.write(
      `PSS of the ${FORKS} forks' QEMUs, 5 s after they were ready: median ${median(ok).toFixed(1)} MiB, total ${ok
        .reduce((a, b) => a + b, 0)
        .toFixed(0)} MiB\n`,
    );
  } finally {
    if (dockerd) spawnSync('docker', ['rm', '-fv', 'pgd', 'bbd', 'bpd2', 'bpd'], { env: dockerd.env });
    removeAllContainers(pv.env);
    await stopBench({ dockerd, podvisor: pv, registries, base });
  }
}

runMain(main);
