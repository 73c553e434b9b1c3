/**
 * The QEMU VM runtime on real VMs (TCG here): boot to agent-ready, container processes in a
 * busybox rootfs mounted under the share directory after boot, pause/resume, a guest killed
 * under a running process, the warm pool, adoption by a restarted daemon, and the errors a
 * user sees when the guest is missing or does not boot. Every test checks that nothing is
 * left: no qemu or virtiofsd process, no mount, no socket, no directory.
 *
 * Boots are the cost here (~2.5 s of CPU each): the whole file boots 7 VMs (the warm pool's
 * two also rehearse a container, ~0.5 s each).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { QemuHypervisor } from '../../src/vm/qemu/hypervisor';
import type { QemuHypervisorOptions } from '../../src/vm/qemu/start-host';
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';
import { CachedFactory } from '../../src/vm/pool';
import { poolWarmStep, Rehearsal } from '../../src/vm/rehearsal';
import { qmpCommand } from '../../src/vm/qemu/qmp';
import type { QemuVm } from '../../src/vm/qemu/qemu-vm';
import { vmPaths } from '../../src/vm/qemu/runtime-dir';
import type { Vm, VmConfig, VmFactory, VmSize } from '../../src/vm/types';
import { UnavailableError } from '../../src/errors';
import { setLogSink } from '../../src/util/log';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { makeBusyboxRootfs, run, spec } from '../helpers/agent-fixtures';

jest.setTimeout(120_000);

const SIZE: VmSize = { memoryMiB: 256, cpus: 1 };
const CONFIG: VmConfig = { size: SIZE };
/** Generous: two jest workers may boot VMs at once on 2 cores. */
const BOOT_TIMEOUT_MS = 30_000;

let execRoot: string;
let rootfsTemplate: string;
const logLines: string[] = [];

function hypervisor(over: Partial<QemuHypervisorOptions> = {}): QemuHypervisor {
  return new QemuHypervisor({
    execRoot,
    ...defaultGuestImages(),
    accel: 'tcg',
    bootTimeoutMs: BOOT_TIMEOUT_MS,
    connectAgent: (e) => AgentClient.connect(e),
    // The cold boot over virtio-fs (the path of every VM when the kernel cannot be cloned, and
    // the fallback of a clone that fails); clones have their own test (vm-templates.test.ts).
    templates: false,
    ...over,
  });
}

/** Processes of this test's VMs still alive. */
function ourVmProcesses(): string[] {
  return listVmProcesses({ jails: true })
    .filter((p) => p.cmdline.includes(execRoot))
    .map((p) => `${p.pid} ${p.cmdline}`);
}

/** KiB of `file` resident in the mappings of process `pid` (its smaps). */
function residentKiB(pid: number, file: string): number {
  let total = 0;
  let inFile = false;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) inFile = head[1] === file;
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && inFile) total += Number(rss[1]);
  }
  return total;
}

/** Nothing of VM `id` is left on the host. */
function expectNothingLeft(id: string): void {
  const dir = vmPaths(execRoot, id).dir;
  expect(fs.existsSync(dir)).toBe(false);
  expect(listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(dir))).toEqual([]);
  expect(mountsUnder(dir)).toEqual([]);
}

/** Bind-mount the busybox rootfs at `<shareDir>/containers/<cid>/rootfs` (as storage would). */
function mountRootfs(vm: Vm, cid: string): string {
  const rel = `containers/${cid}/rootfs`;
  const target = path.join(vm.shareDir, rel);
  fs.mkdirSync(target, { recursive: true });
  execFileSync('mount', ['--bind', rootfsTemplate, target]);
  return rel;
}

beforeAll(() => {
  setLogSink((l) => logLines.push(l));
  execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-vm-'));
  rootfsTemplate = path.join(execRoot, 'rootfs-template');
  makeBusyboxRootfs(rootfsTemplate);
  for (const d of ['proc', 'sys', 'dev']) fs.mkdirSync(path.join(rootfsTemplate, d));
});

afterAll(() => {
  expect(ourVmProcesses()).toEqual([]);
  expect(mountsUnder(execRoot)).toEqual([]);
  const left = fs.existsSync(path.join(execRoot, 'vms')) ? fs.readdirSync(path.join(execRoot, 'vms')) : [];
  fs.rmSync(execRoot, { recursive: true, force: true });
  expect(left).toEqual([]);
});

describe('QemuHypervisor on real VMs', () => {
  it('boots to agent-ready, runs processes in a rootfs mounted after boot, pauses, and leaves nothing when destroyed', async () => {
    // The VM boots a copy of the kernel of its own, which no other process maps: MADV_PAGEOUT
    // leaves pages that another process maps too (another test file's VM booted from the same
    // kernel at the same time), so with the shared file the check below could not be made.
    const kernel = path.join(execRoot, 'own-vmlinux');
    fs.copyFileSync(defaultGuestImages().kernel, kernel);
    fs.chmodSync(kernel, 0o644);
    const hv = hypervisor({ kernel });
    const vm = await hv.createVm(CONFIG);
    const paths = vmPaths(execRoot, vm.id);
    try {
      expect(await vm.agent.version()).toMatchObject({ protocol: expect.any(Number) });
      await vm.agent.ping();
      expect(fs.readFileSync(paths.consoleLog, 'utf8')).toContain('podvisor-agent: ready');
      // What the boot left behind went back to the host (post-boot-reclaim.ts): QEMU's copy of the
      // ~45 MiB kernel image is no longer resident, and the balloon is back at the full size.
      await (vm as QemuVm).reclaimed();
      // QEMU maps the kernel file (the measure is of that mapping), its pages paged out.
      expect(fs.readFileSync(`/proc/${vm.pid}/maps`, 'utf8')).toContain(kernel);
      expect(residentKiB(vm.pid, kernel)).toBeLessThan(4096);
      // The deflate was asked for; a busy guest may take longer than the squeeze waits.
      let balloon: unknown;
      for (let i = 0; i < 100; i++) {
        balloon = await qmpCommand(paths.qmpSock, 'query-balloon');
        if ((balloon as { actual?: number }).actual === SIZE.memoryMiB * 1048576) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(balloon).toEqual({ actual: SIZE.memoryMiB * 1048576 });
      expect(await hv.listRuntimeVms()).toContain(vm.id);

      // The rootfs is mounted on the host after the guest booted: the guest must see it.
      const rootfs = mountRootfs(vm, 'c1');
      await vm.agent.createContainer({ id: 'c1', rootfs });
      expect(await run(vm.agent, 'c1', ['echo', 'hello from the guest'])).toMatchObject({
        stdout: 'hello from the guest\n',
        status: { exitCode: 0 },
      });
      expect((await run(vm.agent, 'c1', ['sh', '-c', 'exit 42'])).status.exitCode).toBe(42);
      expect(await run(vm.agent, 'c1', ['true'])).toMatchObject({ stdout: '', status: { exitCode: 0 } });
      // A file the guest writes lands in the host directory behind the mount.
      await run(vm.agent, 'c1', ['sh', '-c', 'echo guest-wrote-this > /tmp/marker']);
      expect(fs.readFileSync(path.join(rootfsTemplate, 'tmp/marker'), 'utf8')).toBe('guest-wrote-this\n');
      fs.rmSync(path.join(rootfsTemplate, 'tmp/marker'));

      await vm.pause();
      expect(await qmpCommand(paths.qmpSock, 'query-status')).toMatchObject({ status: 'paused' });
      await vm.resume();
      expect(await qmpCommand(paths.qmpSock, 'query-status')).toMatchObject({ status: 'running' });
      await vm.agent.ping();

      expect(await vm.memoryUsage()).toBeGreaterThan(16 * 1024 * 1024);
    } finally {
      // destroy() unmounts the rootfs the "storage layer" left under the share directory.
      await vm.destroy();
    }
    expect(await vm.exited).toEqual({ expected: true, reason: 'destroyed' });
    expectNothingLeft(vm.id);
    await vm.destroy(); // idempotent
    await expect(vm.pause()).rejects.toBeInstanceOf(UnavailableError);
  });

  it('notices a guest killed under a running process: exited resolves, agent calls fail, and adopt cleans up', async () => {
    const hv = hypervisor();
    const vm = await hv.createVm(CONFIG);
    const rootfs = mountRootfs(vm, 'c2');
    await vm.agent.createContainer({ id: 'c2', rootfs });
    const sleeper = await vm.agent.startProcess(spec('c2', ['sleep', '1000']));
    const sleeperExit = sleeper.exited.then(
      () => 'exited',
      (err: Error) => err,
    );
    process.kill(vm.pid, 'SIGKILL');
    const exit = await vm.exited;
    expect(exit.expected).toBe(false);
    expect(exit.reason).toContain('SIGKILL');
    expect(exit.reason).toContain('podvisor-agent: ready'); // the console's last lines
    expect(await sleeperExit).toBeInstanceOf(UnavailableError);
    await expect(vm.agent.ping()).rejects.toBeInstanceOf(UnavailableError);
    // virtiofsd went with it; the runtime directory waits for destroy() or adoption.
    expect(ourVmProcesses()).toEqual([]);
    expect(await hv.listRuntimeVms()).toContain(vm.id);
    // A restarted daemon finds the dead VM and cleans up after it (incl. the rootfs mount).
    expect(await hypervisor().adopt(vm.id)).toBeUndefined();
    expectNothingLeft(vm.id);
    await vm.destroy();
  });

  it('hands out a warm pool VM that was booted, rehearsed and trimmed before the request, with nothing of the rehearsal visible, and close() destroys the idle ones', async () => {
    let boots = 0;
    const hv = hypervisor();
    const counting: VmFactory = {
      getVm: (s) => {
        boots++;
        return hv.createVm(s);
      },
      close: async () => undefined,
    };
    const rehearsal = Rehearsal.create()!;
    const rehearsed: string[] = [];
    // The daemon's warming step: the rehearsal, then the zero-page trim (test/integration/vm-trim.test.ts).
    const warm = poolWarmStep(rehearsal);
    const pool = new CachedFactory(1, counting, CONFIG, {
      warm: async (v) => {
        await warm(v);
        rehearsed.push(v.id);
      },
    });
    pool.start();
    await pool.whenFull();
    expect(boots).toBe(1);
    const idleId = (await hv.listRuntimeVms())[0];
    const vm = await pool.getVm(CONFIG);
    try {
      expect(vm.id).toBe(idleId);
      expect(rehearsed).toEqual([vm.id]);
      // The throwaway rootfs is gone from the share directory before the user's one arrives.
      expect(fs.readdirSync(path.join(vm.shareDir, 'containers'))).toEqual([]);
      // The agent holds no process of the rehearsal (it lists every process it still has).
      expect(await vm.agent.reattach()).toEqual([]);
      const rootfs = mountRootfs(vm, 'c3');
      await vm.agent.createContainer({ id: 'c3', rootfs, hostname: 'user-host' });
      expect((await run(vm.agent, 'c3', ['echo', 'warm'])).stdout).toBe('warm\n');
      // What the user's container sees: its own rootfs, mounts, processes and hostname only.
      const seen = await run(vm.agent, 'c3', [
        'sh',
        '-c',
        'ls -a /; ls -a /tmp /dev; cat /proc/mounts; ps -o pid,comm; hostname',
      ]);
      expect(seen.status.exitCode).toBe(0);
      expect(seen.stdout).not.toMatch(/rehearsal/);
      expect(seen.stdout).toMatch(/user-host/);
      const procs = seen.stdout.split('\n').filter((l) => /^\s*\d+\s/.test(l));
      expect(procs.map((l) => l.trim().split(/\s+/)[1])).toEqual(['sh', 'ps']);
      // The refill boot starts in the background REFILL_DELAY_MS after the hand-out (on a fast
      // host the checks above can take less than that); close() waits for it and destroys it.
      for (const end = Date.now() + 10_000; boots < 2 && Date.now() < end; )
        await new Promise((r) => setTimeout(r, 20));
      expect(boots).toBe(2);
      await pool.close();
      expect(await hv.listRuntimeVms()).toEqual([vm.id]);
    } finally {
      await pool.close();
      await vm.destroy();
    }
    expectNothingLeft(vm.id);
    await expect(pool.getVm(CONFIG)).rejects.toBeInstanceOf(UnavailableError);
  });

  it('is adopted by a new daemon after the old one was killed with SIGKILL, and still answers', async () => {
    const stub = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        path.join(__dirname, '../helpers/vm-daemon-stub.ts'),
        execRoot,
        String(BOOT_TIMEOUT_MS),
      ],
      {
        env: { ...process.env, TS_NODE_PROJECT: path.join(__dirname, '../../tsconfig.json') },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    stub.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const id = await new Promise<string>((resolve, reject) => {
      stub.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /VM ([0-9a-f]+)\n/.exec(out);
        if (m) resolve(m[1]);
      });
      stub.on('exit', (code) => reject(new Error(`stub daemon exited ${code}: ${err}`)));
    });
    stub.kill('SIGKILL');
    await new Promise((r) => stub.once('exit', r));

    const hv = hypervisor();
    expect(await hv.listRuntimeVms()).toContain(id);
    const vm = await hv.adopt(id);
    if (!vm) throw new Error(`adopt gave nothing; daemon log:\n${logLines.filter((l) => l.includes(id)).join('\n')}`);
    const [nic] = vm.devices.nics;
    try {
      // vm.json kept the devices: the tap QEMU made is still there, the volume share's virtiofsd is owned.
      expect(vm.devices.volumes?.tag).toBe('podvisor-vol');
      expect(fs.existsSync(`/sys/class/net/${nic.tap}`)).toBe(true);
      expect((await vm.agent.listInterfaces()).find((i) => i.name === 'eth0')?.mac).toBe(nic.mac);
      await vm!.agent.ping();
      const rootfs = mountRootfs(vm!, 'c4');
      await vm!.agent.createContainer({ id: 'c4', rootfs });
      expect((await run(vm!.agent, 'c4', ['echo', 'adopted'])).stdout).toBe('adopted\n');
    } finally {
      await vm!.destroy();
    }
    expect((await vm!.exited).expected).toBe(true);
    expectNothingLeft(id);
    // The tap goes with QEMU's last fd; the kernel unregisters it just after (a loaded host
    // was seen to show it for a moment after the exit).
    for (let i = 0; i < 50 && fs.existsSync(`/sys/class/net/${nic.tap}`); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(fs.existsSync(`/sys/class/net/${nic.tap}`)).toBe(false);
    expect(await hv.adopt(id)).toBeUndefined();
  });

  it('reports a guest that does not boot with its last console lines, after one retry', async () => {
    const before = logLines.length;
    const hv = hypervisor({ kernelArgs: ['rdinit=/no/such/init'] });
    const err = await hv.createVm(CONFIG).catch((e: Error) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/failed to boot/);
    expect((err as Error).message).toMatch(/last console lines:[\s\S]*Kernel panic/);
    expect(logLines.slice(before).some((l) => /retrying once/.test(l))).toBe(true);
    expect(await hv.listRuntimeVms()).toEqual([]);
  });

  it('says what to install when QEMU, virtiofsd, the kernel or the initramfs is missing', async () => {
    await expect(hypervisor({ kernel: '/nonexistent/vmlinux' }).createVm(CONFIG)).rejects.toThrow(
      /guest kernel \/nonexistent\/vmlinux is missing: run scripts\/bootstrap\.sh/,
    );
    await expect(hypervisor({ initrd: '/nonexistent/initrd' }).createVm(CONFIG)).rejects.toThrow(
      /guest initramfs \/nonexistent\/initrd is missing: run scripts\/bootstrap\.sh/,
    );
    await expect(hypervisor({ tools: { qemu: '/nonexistent/qemu-system-x86_64' } }).createVm(CONFIG)).rejects.toThrow(
      /apt-get install qemu-system-x86/,
    );
    await expect(hypervisor({ tools: { virtiofsd: '/nonexistent/virtiofsd' } }).createVm(CONFIG)).rejects.toThrow(
      /apt-get install qemu-system-common/,
    );
    expect(await hypervisor().listRuntimeVms()).toEqual([]);
  });
});
