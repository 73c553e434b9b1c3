/**
 * Where a cold boot's time goes, and what one idle VM costs, for one or more guest kernels,
 * interleaved in the same run (so the machine's load falls on all of them alike):
 *
 *   qemu start      spawning QEMU (microvm, TCG, no guest) until its QMP monitor answers
 *                   `quit`: the part of every boot that is QEMU's own
 *   boot            QemuHypervisor.createVm until the agent answered its handshake (virtiofsd
 *                   spawn + QEMU spawn + guest kernel + agent start), as the pool sees it
 *   kernel -> /init guest time (printk timestamp) at "Run /init as init process": the kernel's
 *                   own init, initramfs unpacking included (printed with loglevel=7, which
 *                   costs the UART output; the quiet boots above do not pay it)
 *   initramfs       guest time from "Trying to unpack rootfs" to "Freeing initrd memory"
 *   boot CPU        QEMU's user+system CPU time when the agent answered (/proc/<pid>/stat)
 *   PSS             QEMU + virtiofsd of the VM as the daemon's pool leaves it idle: post-boot
 *                   reclaim, container rehearsal and zero-page trim (poolWarmStep), 1 s later
 *
 *   ts-node bench/boot-profile.ts [name=kernel:initrd[:microvm-props] ...]   (default: guest/out's images)
 *   BENCH_KARGS="..." appends guest kernel parameters, BENCH_MACHINE="acpi=off" microvm properties; BENCH_RUNS=9 for more boots of each (default 7); BENCH_TOP=15 lists the slowest initcalls
 *   of each kernel (one extra boot with initcall_debug).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { QemuHypervisor } from '../src/vm/qemu/hypervisor';
import { AgentClient } from '../src/vm/agent/client';
import { defaultGuestImages, type GuestImages } from '../src/vm/guest-images';
import { resolveAccel } from '../src/vm/accel';
import { locateQemuTools } from '../src/vm/qemu/binaries';
import type { QemuVm } from '../src/vm/qemu/qemu-vm';
import type { VmConfig } from '../src/vm/types';
import { setLogLevel } from '../src/util/log';
import { poolWarmStep, Rehearsal } from '../src/vm/rehearsal';
import { median, runMain } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const TOP = Number(process.env.BENCH_TOP ?? 0);
const CONFIG: VmConfig = { size: { memoryMiB: 256, cpus: 1 }, devices: { nics: 0 } };
const CLK_TCK = 100;

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const stats = (xs: number[], digits = 0): string =>
  xs.length ? `${median(xs).toFixed(digits).padStart(6)}  [${xs.map((x) => x.toFixed(digits)).join(' ')}]` : '     -';

/** CPU seconds (user + system) a process has used so far. */
function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

/** Guest printk time (s) of the first console line containing `what`. */
function stamp(log: string, what: string): number | undefined {
  const line = log.split('\n').find((l) => l.includes(what));
  const m = line && /^\[\s*(\d+\.\d+)\]/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/** Wall ms from spawning QEMU (microvm, no guest started) until it quit over QMP. */
function qemuStartMs(qemu: string): number {
  const t = now();
  spawnSync(
    qemu,
    ['-M', 'microvm', '-accel', 'tcg', '-nodefaults', '-no-user-config', '-display', 'none', '-S', '-qmp', 'stdio'],
    {
      input: '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n',
      timeout: 10000,
      stdio: ['pipe', 'ignore', 'ignore'],
    },
  );
  return now() - t;
}

interface Figures {
  boot: number[];
  cpu: number[];
  init: number[];
  initramfs: number[];
  pss: number[];
  qemu: number[];
}

async function main(): Promise<void> {
  setLogLevel('error');
  // name=kernel:initrd[:microvm properties, e.g. acpi=off]
  const machineOf: Record<string, string[]> = {};
  const kernels: Array<[string, GuestImages]> = process.argv.slice(2).map((a) => {
    const name = a.slice(0, a.indexOf('='));
    const [kernel, initrd, machine] = a.slice(a.indexOf('=') + 1).split(':');
    machineOf[name] = (machine ?? '').split(',').filter(Boolean);
    return [name, { kernel, initrd }];
  });
  if (kernels.length === 0) kernels.push(['default', defaultGuestImages()]);
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-bench-boot-'));
  const execRoot = path.join(base, 'exec');
  const accel = await resolveAccel({ mode: 'auto', execRoot, ...kernels[0][1] });
  const qemuBin = locateQemuTools().qemu;
  const rehearsal = Rehearsal.create();
  if (!rehearsal) throw new Error('no static busybox for the rehearsal (apt-get install busybox-static)');
  const extra = (process.env.BENCH_KARGS ?? '').split(' ').filter(Boolean);
  const machineOpts = (process.env.BENCH_MACHINE ?? '').split(',').filter(Boolean);
  const hv = (images: GuestImages, kernelArgs: string[] = []) => {
    const name = kernels.find(([, i]) => i === images)?.[0] ?? '';
    return new QemuHypervisor({
      execRoot,
      ...images,
      accel: accel.accel,
      kernelArgs: [...extra, ...kernelArgs],
      machineOpts: [...(images.machineOpts ?? []), ...machineOpts, ...(machineOf[name] ?? [])],
      connectAgent: (e) => AgentClient.connect(e),
    });
  };
  const fig: Record<string, Figures> = Object.fromEntries(
    kernels.map(([n]) => [n, { boot: [], cpu: [], init: [], initramfs: [], pss: [], qemu: [] }]),
  );
  process.stdout.write(
    `accel ${accel.accel}; ${kernels.map(([n, i]) => `${n}: ${i.kernel} (${(fs.statSync(i.kernel).size / 1048576).toFixed(1)} MiB), ${i.initrd}`).join('; ')}\n`,
  );
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const [name, images] of kernels) {
        const f = fig[name];
        f.qemu.push(qemuStartMs(qemuBin));
        // A quiet boot, as the daemon's: wall time and CPU to the agent, then PSS.
        const t = now();
        const vm = (await hv(images).createVm(CONFIG)) as QemuVm;
        f.boot.push(now() - t);
        f.cpu.push(cpuMs(vm.pid));
        await vm.reclaimed();
        await poolWarmStep(rehearsal)(vm);
        await new Promise((res) => setTimeout(res, 1000));
        f.pss.push((await vm.memoryUsage()) / 1048576);
        await vm.destroy();
        // A boot that prints the kernel's messages with timestamps.
        const loud = (await hv(images, ['loglevel=7', 'printk.time=1']).createVm(CONFIG)) as QemuVm;
        const log = fs.readFileSync(path.join(execRoot, 'vms', loud.id, 'run', 'console.log'), 'utf8');
        await loud.destroy();
        const init = stamp(log, 'Run /init as init process');
        const unpack0 = stamp(log, 'Trying to unpack rootfs');
        const unpack1 = stamp(log, 'Freeing initrd memory');
        if (init !== undefined) f.init.push(init * 1000);
        if (unpack0 !== undefined && unpack1 !== undefined) f.initramfs.push((unpack1 - unpack0) * 1000);
        process.stdout.write(
          `${r + 1}/${RUNS} ${name}: boot ${f.boot[r].toFixed(0)} ms, cpu ${f.cpu[r].toFixed(0)} ms, /init at ${init ?? '?'} s, pss ${f.pss[r].toFixed(1)} MiB\n`,
        );
      }
    }
    if (TOP > 0) {
      for (const [name, images] of kernels) {
        const vm = (await hv(images, ['loglevel=8', 'printk.time=1', 'initcall_debug']).createVm(CONFIG)) as QemuVm;
        const log = fs.readFileSync(path.join(execRoot, 'vms', vm.id, 'run', 'console.log'), 'utf8');
        await vm.destroy();
        const calls = [...log.matchAll(/initcall (\S+) returned \S+ after (\d+) usecs/g)].map(
          (m) => [m[1], Number(m[2])] as const,
        );
        calls.sort((a, b) => b[1] - a[1]);
        const total = calls.reduce((s, c) => s + c[1], 0);
        process.stdout.write(
          `\n${name}: ${calls.length} initcalls, ${(total / 1000).toFixed(0)} ms in all; slowest:\n`,
        );
        for (const [fn, us] of calls.slice(0, TOP))
          process.stdout.write(`  ${(us / 1000).toFixed(1).padStart(7)} ms  ${fn}\n`);
      }
    }
    process.stdout.write(
      `\nmedians of ${RUNS} (all values in brackets), load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}:\n`,
    );
    for (const [name] of kernels) {
      const f = fig[name];
      process.stdout.write(
        `${name}\n  qemu start (ms)      ${stats(f.qemu)}\n  boot to agent (ms)   ${stats(f.boot)}\n  QEMU CPU at agent    ${stats(f.cpu)}\n`,
      );
      process.stdout.write(
        `  guest /init at (ms)  ${stats(f.init)}\n  initramfs (ms)       ${stats(f.initramfs)}\n  idle PSS (MiB)       ${stats(f.pss, 1)}\n`,
      );
    }
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
}

runMain(main);
