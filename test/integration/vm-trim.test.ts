/**
 * The idle trim on a real VM, as the pool does it after the rehearsal: the zero pages of the
 * guest RAM (src/vm/qemu/memory/zero-trim.ts) and the dead tail of TCG's code buffer
 * (src/vm/qemu/memory/jit-trim.ts) are given back to the host, the guest sees the same
 * memory (a process's output and a file read over virtio-fs afterwards, compared byte for
 * byte), and the VM is running afterwards, also when the trim fails after QMP `stop`. A VM its
 * user paused is left paused. One boot.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Rehearsal } from '../../src/vm/rehearsal';
import { qmpCommand } from '../../src/vm/qemu/qmp';
import type { QemuVm } from '../../src/vm/qemu/qemu-vm';
import { vmPaths } from '../../src/vm/qemu/runtime-dir';
import { findGuestMemfd, trimGuestZeroPages } from '../../src/vm/qemu/memory/zero-trim';
import { findJitMapping, JIT_MARGIN_BYTES, parseInfoJit } from '../../src/vm/qemu/memory/jit-trim';
import type { VmConfig, VmSize } from '../../src/vm/types';
import { setLogSink } from '../../src/util/log';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { makeBusyboxRootfs, run } from '../helpers/agent-fixtures';
import { tcgHypervisor } from '../helpers/tcg-hypervisor';

jest.setTimeout(120_000);

const SIZE: VmSize = { memoryMiB: 256, cpus: 1 };
const CONFIG: VmConfig = { size: SIZE };
const MiB = 1048576;
let execRoot: string;
const logLines: string[] = [];

beforeAll(() => {
  setLogSink((l) => logLines.push(l));
  execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-vmtrim-'));
});

afterAll(() => {
  expect(listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(execRoot))).toEqual([]);
  expect(mountsUnder(execRoot)).toEqual([]);
  fs.rmSync(execRoot, { recursive: true, force: true });
});

/** Pss_Shmem of process `pid` in KiB: its share of the guest RAM memfd. */
function pssShmemKiB(pid: number): number {
  return Number(/^Pss_Shmem:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1]);
}

async function vmStatus(qmpSock: string): Promise<string | undefined> {
  return ((await qmpCommand(qmpSock, 'query-status')) as { status?: string }).status;
}

it("gives an idle rehearsed VM's zero pages back to the host; the guest reads the same memory and the VM is left running, also after a failed trim", async () => {
  const hv = tcgHypervisor(execRoot, {
    // A booted VM's memory: a clone's RAM is never trimmed (its pages are the template's file).
    templates: false,
  });
  const vm = (await hv.createVm(CONFIG)) as QemuVm;
  const paths = vmPaths(execRoot, vm.id);
  try {
    await vm.reclaimed();
    await Rehearsal.create()!.rehearse(vm);
    const memfd = findGuestMemfd(vm.pid, SIZE.memoryMiB * MiB);
    const allocatedBefore = fs.statSync(memfd).blocks * 512;
    const shmemBefore = pssShmemKiB(vm.pid);
    const jit = findJitMapping(vm.pid);
    const infoJit = await qmpCommand(paths.qmpSock, 'human-monitor-command', { 'command-line': 'info jit' });
    const liveCode = parseInfoJit(String(infoJit))!.codeBytes;

    await vm.trimIdleMemory();
    expect(await vmStatus(paths.qmpSock)).toBe('running');
    // ~21 MiB are zero pages after a boot and a rehearsal; at least 4 MiB must have gone.
    expect(fs.statSync(memfd).blocks * 512).toBeLessThan(allocatedBefore - 4 * MiB);
    expect(pssShmemKiB(vm.pid)).toBeLessThan(shmemBefore - 4096);
    // The code buffer keeps its live code and the trim's margin, nothing above (1 MiB of slack:
    // the idle guest may still translate a little between `info jit` and the trim). With
    // Debian's kernel the boot fills the 32 MiB buffer once and flushes it, and ~17 MiB hold
    // live code after the rehearsal, so ~14 MiB go; podvisor's own kernel translates less
    // (~25 MiB), never fills it, and there may be little or nothing above the live code.
    expect(fs.statSync(jit).blocks * 512).toBeLessThanOrEqual(liveCode + JIT_MARGIN_BYTES + MiB);

    // The guest's memory is intact and TCG translates into the trimmed buffer: a process's
    // output and busybox read over virtio-fs (QEMU's stop and cont also stopped and restarted
    // the virtio-fs rings) hash as on the host.
    const rootfs = path.join(execRoot, 'rootfs');
    makeBusyboxRootfs(rootfs);
    for (const d of ['proc', 'sys', 'dev']) fs.mkdirSync(path.join(rootfs, d));
    const target = path.join(vm.shareDir, 'containers/c/rootfs');
    fs.mkdirSync(target, { recursive: true });
    execFileSync('mount', ['--bind', rootfs, target]);
    await vm.agent.createContainer({ id: 'c', rootfs: 'containers/c/rootfs' });
    const busyboxMd5 = createHash('md5').update(fs.readFileSync('/bin/busybox')).digest('hex');
    const seq = Array.from({ length: 20000 }, (_, i) => `${i + 1}\n`).join('');
    const out = await run(vm.agent, 'c', ['sh', '-c', 'seq 1 20000; md5sum /bin/busybox']);
    expect(out.status.exitCode).toBe(0);
    expect(out.stdout).toBe(`${seq}${busyboxMd5}  /bin/busybox\n`);

    // A trim that fails after `stop` (here: a process without a guest RAM memfd) lets the VM run again.
    await expect(trimGuestZeroPages(paths.qmpSock, process.pid, SIZE.memoryMiB * MiB)).rejects.toThrow(
      /has 0 guest RAM memfds/,
    );
    expect(await vmStatus(paths.qmpSock)).toBe('running');
    expect((await run(vm.agent, 'c', ['echo', 'still running'])).stdout).toBe('still running\n');

    // A VM its user paused stays paused: trimIdleMemory logs and resolves.
    await vm.pause();
    const before = logLines.length;
    await vm.trimIdleMemory();
    expect(await vmStatus(paths.qmpSock)).toBe('paused');
    expect(logLines.slice(before).join('\n')).toMatch(/trimming idle memory failed: the VM is paused, not running/);
    await vm.resume();
    await vm.agent.ping();
  } finally {
    await vm.destroy();
  }
  expect(fs.existsSync(paths.dir)).toBe(false);
});
