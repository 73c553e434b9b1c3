/**
 * VM runtime benchmark: medians of the figures docs/performance.md reports, beside dockerd
 * 20.10 with runc measured in the same run (when dockerd is installed: bootstrap --bench).
 *
 *   cold boot           QemuHypervisor.createVm until the agent answered the handshake
 *   warm -> true        from CachedFactory.getVm on a full pool until the exit status of `true`
 *                       in a busybox container rootfs (rootfs bind-mounted under the share
 *                       directory by the daemon's Mounter, createContainer and startProcess
 *                       sent together as the daemon does, exit event: `true` writes
 *                       nothing, so its exit status is its last byte). The pool rehearses a
 *                       container in each VM and trims it (poolWarmStep) as the daemon's does; a
 *                       second pool without the rehearsal is measured interleaved with it
 *                       (each run waits for both pools to be full) for comparison.
 *   exec -> first byte  startProcess of `echo` in that running container until its first
 *                       stdout byte reached the host
 *   guest -> host       `dd if=/dev/zero bs=64k count=3200` (200 MiB) in a container, bytes
 *                       counted on the host
 *   idle PSS            QEMU + virtiofsd of one idle VM as the daemon's pool leaves it: booted,
 *                       its boot memory reclaimed, rehearsed and trimmed (poolWarmStep), 1 s
 *                       later; measured alone, then again once a second VM, warmed the same
 *                       way, is idle beside it (QEMU's binary and library pages are shared, and
 *                       PSS splits them between the QEMUs: the daemon's pool holds VMs side by
 *                       side)
 *
 *   npm run bench:vm                  BENCH_RUNS=7 for more runs (default 5)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { QemuHypervisor } from '../src/vm/qemu/hypervisor';
import { AgentClient } from '../src/vm/agent/client';
import { defaultGuestImages } from '../src/vm/guest-images';
import { resolveAccel } from '../src/vm/accel';
import { CachedFactory, DirectFactory } from '../src/vm/pool';
import { poolWarmStep, Rehearsal } from '../src/vm/rehearsal';
import type { QemuVm } from '../src/vm/qemu/qemu-vm';
import { MS_BIND, sharedMounter } from '../src/util/mounter';
import type { Vm, VmConfig, VmSize } from '../src/vm/types';
import { setLogLevel, setLogSink } from '../src/util/log';
import { makeBusyboxRootfs, spec } from '../test/helpers/agent-fixtures';
import { median, startDockerd, type BaselineDockerd } from './common';

const RUNS = Math.max(5, Number(process.env.BENCH_RUNS ?? 5));
const SIZE: VmSize = { memoryMiB: 256, cpus: 1 };
const CONFIG: VmConfig = { size: SIZE, devices: { nics: Number(process.env.BENCH_NICS ?? 1) } };
/** 200 MiB in 64 KiB blocks: busybox `head -c` copies in small blocks and, under TCG, measures
 * its own loop (~5 MB/s) rather than the stream. */
const STREAM_BLOCKS = 3200;
const STREAM_BYTES = STREAM_BLOCKS * 65536;

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const fmt = (xs: number[], unit: string, digits = 0): string =>
  `${median(xs).toFixed(digits)} ${unit}  [${xs.map((x) => x.toFixed(digits)).join(' ')}]`;

/** PSS, anon/file/shmem parts, of one process in KiB. */
function pssParts(pid: number): Record<string, number> {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const out: Record<string, number> = {};
  for (const k of ['Pss', 'Pss_Anon', 'Pss_File', 'Pss_Shmem'])
    out[k] = Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return out;
}

/** QEMU processes on the machine besides `ours` (they share QEMU's binary pages, so they lower PSS). */
function otherQemus(ours: number[]): number {
  let n = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || ours.includes(Number(pid))) continue;
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('qemu-system')) n++;
    } catch {
      // gone
    }
  }
  return n;
}

/**
 * Bind-mount `template` as the rootfs of container `cid` in `vm` (through the Mounter, as the
 * daemon mounts its overlays); returns the share-relative path.
 */
async function mountRootfs(vm: Vm, template: string, cid: string): Promise<string> {
  const rel = `containers/${cid}/rootfs`;
  const target = path.join(vm.shareDir, rel);
  await fs.promises.mkdir(target, { recursive: true });
  await sharedMounter().mount({ source: template, target, flags: MS_BIND });
  return rel;
}

interface VmFigures {
  coldMs: number[];
  pssMiB: number[];
  pssBesideMiB: number[];
  /** Other QEMUs alive at each "alone" measurement (another user's VMs share QEMU's binary). */
  pssOthers: number[];
  pssDetail: Record<string, number>;
  warmTrueMs: number[];
  warmTruePlainMs: number[];
  execFirstByteMs: number[];
  streamMBps: number[];
  retries: number;
}

async function benchVms(base: string, template: string, logLines: string[]): Promise<VmFigures> {
  const images = defaultGuestImages();
  const execRoot = path.join(base, 'exec');
  const accel = await resolveAccel({ mode: 'auto', execRoot, ...images });
  process.stdout.write(`accel: ${accel.accel} (${accel.reason})\n`);
  const hv = new QemuHypervisor({
    execRoot,
    ...images,
    accel: accel.accel,
    connectAgent: (e) => AgentClient.connect(e),
  });
  process.stdout.write(`guest kernel: ${images.kernel}\nkernel command line: ${hv.kernelCmdline}\n`);
  const f: VmFigures = {
    coldMs: [],
    pssMiB: [],
    pssBesideMiB: [],
    pssOthers: [],
    pssDetail: {},
    warmTrueMs: [],
    warmTruePlainMs: [],
    execFirstByteMs: [],
    streamMBps: [],
    retries: 0,
  };

  // Cold boots (nothing else running), and the PSS of each VM once it is what the daemon's pool
  // keeps idle: the post-boot reclaim done, a container rehearsed, the zero pages trimmed. Then
  // a second VM is booted and warmed beside it, and the first one's PSS measured again.
  const pssRehearsal = Rehearsal.create();
  if (!pssRehearsal) throw new Error('no static busybox for the rehearsal (apt-get install busybox-static)');
  const asPoolLeavesIt = async (vm: Vm): Promise<void> => {
    await (vm as QemuVm).reclaimed();
    await poolWarmStep(pssRehearsal)(vm);
    await new Promise((r) => setTimeout(r, 1000));
  };
  for (let i = 0; i < RUNS; i++) {
    const t = now();
    const vm = await hv.createVm(CONFIG);
    f.coldMs.push(now() - t);
    try {
      await asPoolLeavesIt(vm);
      f.pssMiB.push((await vm.memoryUsage()) / 1048576);
      f.pssOthers.push(otherQemus([vm.pid]));
      if (i === 0) {
        const q = pssParts(vm.pid);
        f.pssDetail = {
          qemuPssKiB: q.Pss,
          qemuAnonKiB: q.Pss_Anon,
          qemuFileKiB: q.Pss_File,
          qemuGuestRamKiB: q.Pss_Shmem,
        };
      }
      const beside = await hv.createVm(CONFIG);
      try {
        await asPoolLeavesIt(beside);
        f.pssBesideMiB.push((await vm.memoryUsage()) / 1048576);
        if (i === 0) {
          const q = pssParts(vm.pid);
          f.pssDetail = { ...f.pssDetail, besideQemuPssKiB: q.Pss, besideQemuFileKiB: q.Pss_File };
        }
      } finally {
        await beside.destroy();
      }
    } finally {
      await vm.destroy();
    }
  }

  // Warm pool: a VM that is already booted (and rehearsed), to the exit status of `true`;
  // then exec latency. An unrehearsed pool, interleaved, for comparison.
  const rehearsal = Rehearsal.create();
  if (!rehearsal) throw new Error('no static busybox for the rehearsal (apt-get install busybox-static)');
  const pool = new CachedFactory(1, new DirectFactory(hv), CONFIG, { warm: poolWarmStep(rehearsal) });
  // The unrehearsed pool's VMs count as ready once their post-boot reclaim is over (as the
  // rehearsed pool's warm step waits for it): otherwise a VM it just booted would still be
  // squeezing its balloon, on one of the two host cores, while the other pool's VM is timed.
  const plainPool = new CachedFactory(1, new DirectFactory(hv), CONFIG, { warm: (vm) => (vm as QemuVm).reclaimed() });
  pool.start();
  plainPool.start();
  // As the daemon starts a pod (src/pod/lifecycle/runtime.ts): the init goes right behind
  // CREATE_CONTAINER, without waiting for its answer.
  const trueIn = async (vm: Vm): Promise<void> => {
    const rootfs = await mountRootfs(vm, template, 'c');
    const [, p] = await Promise.all([
      vm.agent.createContainer({ id: 'c', rootfs }),
      vm.agent.startProcess(spec('c', ['true'])),
    ]);
    p.stdout.resume();
    p.stderr?.resume();
    await p.exited;
  };
  let streamVm: Vm | undefined;
  try {
    for (let i = 0; i < RUNS; i++) {
      await Promise.all([pool.whenFull(), plainPool.whenFull()]);
      const t0 = now();
      const plain = await plainPool.getVm(CONFIG);
      try {
        await trueIn(plain);
        f.warmTruePlainMs.push(now() - t0);
      } finally {
        await plain.destroy();
      }

      await Promise.all([pool.whenFull(), plainPool.whenFull()]);
      const t = now();
      const vm = await pool.getVm(CONFIG);
      if (process.env.BENCH_DEBUG) process.stderr.write(`warm run ${i}: VM ${vm.id}\n`);
      try {
        await trueIn(vm);
        f.warmTrueMs.push(now() - t);

        const t2 = now();
        const echo = await vm.agent.startProcess(spec('c', ['echo', 'x']));
        await new Promise<void>((resolve) => echo.stdout.once('data', () => resolve()));
        f.execFirstByteMs.push(now() - t2);
        echo.stdout.resume();
        echo.stderr?.resume();
        await echo.exited;
      } catch (err) {
        await vm.destroy();
        throw err;
      }
      if (i === RUNS - 1) streamVm = vm;
      else await vm.destroy();
    }
  } finally {
    await Promise.all([pool.close(), plainPool.close()]);
  }

  // Guest -> host stream throughput, in the last warm VM.
  try {
    for (let i = 0; i < RUNS; i++) {
      const t = now();
      const p = await streamVm!.agent.startProcess(
        spec('c', ['dd', 'if=/dev/zero', 'bs=65536', `count=${STREAM_BLOCKS}`]),
      );
      let bytes = 0;
      p.stdout.on('data', (d: Buffer) => (bytes += d.length));
      p.stderr?.resume();
      await p.exited;
      const s = (now() - t) / 1000;
      if (bytes !== STREAM_BYTES) throw new Error(`stream delivered ${bytes} bytes, expected ${STREAM_BYTES}`);
      f.streamMBps.push(bytes / 1e6 / s);
    }
  } finally {
    await streamVm?.destroy();
  }
  f.retries = logLines.filter((l) => /retrying once/.test(l)).length;
  return f;
}

// --- dockerd baseline -----------------------------------------------------------------------

interface DockerFigures {
  runTrueMs: number[];
  execEchoMs: number[];
  streamMBps: number[];
  idlePssMiB: number;
}

async function benchDockerd(base: string, template: string): Promise<DockerFigures | string> {
  const which = spawnSync('sh', ['-c', 'command -v dockerd && command -v docker'], { encoding: 'utf8' });
  if (which.status !== 0)
    return 'skipped: dockerd or docker not installed (scripts/bootstrap.sh --bench installs docker.io)';
  let baseline: BaselineDockerd;
  try {
    baseline = await startDockerd(path.join(base, 'dockerd'));
  } catch (err) {
    return `skipped: ${(err as Error).message.split('\n')[0]}`;
  }
  const env = baseline.env;
  const docker = (args: string[], input?: Buffer) => execFileSync('docker', args, { env, input, maxBuffer: 1 << 20 });
  try {
    const tar = execFileSync('tar', ['-C', template, '-c', '.'], { maxBuffer: 64 << 20 });
    docker(['import', '-', 'podvisor-bench-busybox'], tar);
    const d: DockerFigures = { runTrueMs: [], execEchoMs: [], streamMBps: [], idlePssMiB: 0 };
    for (let i = 0; i < RUNS; i++) {
      const t = now();
      docker(['run', '--rm', '--network', 'none', 'podvisor-bench-busybox', 'true']);
      d.runTrueMs.push(now() - t);
    }
    const cid = docker(['run', '-d', '--network', 'none', 'podvisor-bench-busybox', 'sleep', '100000'])
      .toString()
      .trim();
    for (let i = 0; i < RUNS; i++) {
      const t = now();
      docker(['exec', cid, 'echo', 'x']);
      d.execEchoMs.push(now() - t);
    }
    for (let i = 0; i < RUNS; i++) {
      const t = now();
      const out = spawnSync(
        'sh',
        ['-c', `docker exec ${cid} dd if=/dev/zero bs=65536 count=${STREAM_BLOCKS} 2>/dev/null | wc -c`],
        { env, encoding: 'utf8' },
      );
      const s = (now() - t) / 1000;
      if (Number(out.stdout.trim()) !== STREAM_BYTES)
        throw new Error(`docker exec stream: ${out.stdout} ${out.stderr}`);
      d.streamMBps.push(STREAM_BYTES / 1e6 / s);
    }
    // The idle container's cost: its shim and its process.
    const pid = Number(docker(['inspect', '-f', '{{.State.Pid}}', cid]).toString().trim());
    const shim = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
    d.idlePssMiB = (pssParts(pid).Pss + pssParts(shim).Pss) / 1024;
    docker(['rm', '-f', cid]);
    return d;
  } finally {
    await baseline.stop();
  }
}

async function main(): Promise<void> {
  const logLines: string[] = [];
  // BENCH_DEBUG=1 shows the daemon's log lines (debug level) on stderr as they happen.
  if (process.env.BENCH_DEBUG) setLogLevel('debug');
  setLogSink((l) => {
    logLines.push(l);
    if (process.env.BENCH_DEBUG) process.stderr.write(l + '\n');
  });
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-vm-'));
  const template = path.join(base, 'rootfs');
  makeBusyboxRootfs(template);
  for (const d of ['proc', 'sys', 'dev']) fs.mkdirSync(path.join(template, d));
  try {
    process.stdout.write(
      `podvisor VM benchmark: ${RUNS} runs each, ${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? ''}\n`,
    );
    const v = await benchVms(base, template, logLines);
    const d = await benchDockerd(base, template);
    const row = (name: string, ours: string, theirs: string) =>
      process.stdout.write(`${name.padEnd(34)} ${ours.padEnd(52)} ${theirs}\n`);
    process.stdout.write('\n');
    row('', 'podvisor (median [runs])', 'dockerd + runc (median [runs])');
    const dd = typeof d === 'string' ? undefined : d;
    row('cold boot to agent ready', fmt(v.coldMs, 'ms'), '-');
    row(
      'warm VM -> `true` exited',
      fmt(v.warmTrueMs, 'ms'),
      dd ? `docker run --rm true: ${fmt(dd.runTrueMs, 'ms')}` : '-',
    );
    row('  same, pool without rehearsal', fmt(v.warmTruePlainMs, 'ms'), '');
    row(
      'exec `echo` -> first byte',
      fmt(v.execFirstByteMs, 'ms', 1),
      dd ? `docker exec echo: ${fmt(dd.execEchoMs, 'ms')}` : '-',
    );
    row(
      'guest -> host stream (200 MiB)',
      fmt(v.streamMBps, 'MB/s'),
      dd ? `docker exec dd | wc: ${fmt(dd.streamMBps, 'MB/s')}` : '-',
    );
    row(
      'idle pool VM PSS, alone',
      fmt(v.pssMiB, 'MiB', 1),
      dd ? `idle container (shim + process): ${dd.idlePssMiB.toFixed(1)} MiB` : '-',
    );
    row('  same VM, a 2nd idle VM beside it', fmt(v.pssBesideMiB, 'MiB', 1), '');
    process.stdout.write('(idle pool VM: QEMU + virtiofsd, booted, reclaimed, rehearsed, trimmed, 1 s later)\n');
    process.stdout.write(
      `other QEMU processes on the machine at each "alone" measurement: [${v.pssOthers.join(' ')}]\n`,
    );
    process.stdout.write(
      `\nPSS of the first VM's QEMU in KiB (alone; beside*: with the 2nd VM): ${JSON.stringify(v.pssDetail)}\n`,
    );
    process.stdout.write(`boots that needed the retry: ${v.retries}\n`);
    if (typeof d === 'string') process.stdout.write(`dockerd baseline ${d}\n`);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench:vm: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
