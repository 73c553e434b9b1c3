/**
 * How the host confines what serves a guest, whose root is assumed hostile, in real VMs
 * (QemuHypervisor on podvisor's own kernel, TCG here): a clone of a template (its files over
 * QEMU's 9p server) and a booted VM (its files over virtiofsd).
 * - Every QEMU runs under its seccomp sandbox (/proc/<pid>/status `Seccomp: 2`) without the
 *   capabilities to make device nodes, give files capabilities or act as an administrator (a
 *   booted VM's with dac_override alone: it serves no 9p share), and
 *   templates are still saved and cloned under it; virtiofsd runs under its own seccomp filter
 *   without CAP_MKNOD and CAP_SETFCAP.
 * - Guest root's mknod of a device node in its rootfs fails, and no device node appears on the
 *   host.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AgentClient } from '../../src/vm/agent/client';
import { defaultGuestImages } from '../../src/vm/guest-images';
import { QemuHypervisor } from '../../src/vm/qemu/hypervisor';
import { vmPaths } from '../../src/vm/qemu/runtime-dir';
import { readVmRecord, type VmRecord } from '../../src/vm/qemu/vm-record';
import { templatesRoot } from '../../src/vm/qemu/snapshots/templates';
import type { Vm } from '../../src/vm/types';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { makeBusyboxRootfs, run } from '../helpers/agent-fixtures';

jest.setTimeout(300_000);

const guest = defaultGuestImages();
let execRoot: string;
const hvs: QemuHypervisor[] = [];
let clone: Vm;
let booted: Vm;

/** Capability numbers (linux/capability.h). */
const CAP = { MKNOD: 27, SYS_ADMIN: 21, SETFCAP: 31, SETUID: 7, CHOWN: 0, DAC_OVERRIDE: 1, FOWNER: 3 };

/** The exec root of the VMs of one kind: a hypervisor that does not clone removes the templates of its root. */
function rootOf(templates: boolean): string {
  return path.join(execRoot, templates ? 'cloning' : 'booting');
}

function hypervisor(templates: boolean): QemuHypervisor {
  const hv = new QemuHypervisor({
    execRoot: rootOf(templates),
    ...guest,
    accel: 'tcg',
    bootTimeoutMs: 60_000,
    templates,
    connectAgent: (e) => AgentClient.connect(e),
  });
  hvs.push(hv);
  return hv;
}

/** The Seccomp mode and effective capabilities of process `pid`, from /proc/<pid>/status. */
function confinement(pid: number): { seccomp: number; caps: bigint } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(\\S+)`, 'm'))?.[1] ?? '';
  return { seccomp: Number(field('Seccomp')), caps: BigInt(`0x${field('CapEff')}`) };
}

/** The vm.json of `vm`. */
function record(vm: Vm): VmRecord {
  const r = readVmRecord(vmPaths(rootOf(vm === clone), vm.id));
  if (!r) throw new Error(`VM ${vm.id} has no vm.json`);
  return r;
}

function has(caps: bigint, cap: number): boolean {
  return (caps & (1n << BigInt(cap))) !== 0n;
}

/** A busybox container `id` in `vm`, its rootfs written into the VM's share; its host path. */
async function container(vm: Vm, id: string): Promise<string> {
  const rel = `containers/${id}/rootfs`;
  makeBusyboxRootfs(path.join(vm.shareDir, rel));
  await vm.agent.createContainer({ id, rootfs: rel });
  return path.join(vm.shareDir, rel);
}

beforeAll(async () => {
  execRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-confine-'));
  clone = await hypervisor(true).createVm({ size: { memoryMiB: 256, cpus: 1 }, devices: {} });
  booted = await hypervisor(false).createVm({ size: { memoryMiB: 256, cpus: 1 }, devices: {} });
});

afterAll(async () => {
  for (const vm of [clone, booted]) await vm?.destroy().catch(() => undefined);
  for (const hv of hvs) await hv.close();
  const ours = listVmProcesses({ jails: true }).filter((p) => p.cmdline.includes(execRoot));
  const mounts = mountsUnder(execRoot);
  fs.rmSync(execRoot, { recursive: true, force: true });
  expect(ours).toEqual([]);
  expect(mounts).toEqual([]);
});

test('every QEMU runs under its seccomp sandbox without CAP_MKNOD, CAP_SETFCAP or CAP_SYS_ADMIN, and a template is still saved and cloned', () => {
  // The clone came from a template that was saved (its state file) and loaded under the sandbox.
  expect(record(clone).transport).toBe('9p');
  const [key] = fs.readdirSync(templatesRoot(rootOf(true)));
  expect(fs.readdirSync(path.join(templatesRoot(rootOf(true)), key)).sort()).toEqual(['ram', 'state']);
  expect(record(booted).transport).toBeUndefined();
  for (const vm of [clone, booted]) {
    const { seccomp, caps } = confinement(record(vm).qemuPid);
    expect({ vm: vm.id, seccomp }).toEqual({ vm: vm.id, seccomp: 2 });
    expect([CAP.MKNOD, CAP.SETFCAP, CAP.SYS_ADMIN, CAP.SETUID].filter((c) => has(caps, c))).toEqual([]);
  }
  // What a clone's 9p server needs to act for guest root is kept; a booted VM's QEMU, whose
  // shares are virtiofsd's, keeps dac_override alone (its root-owned VM directory and disks).
  const cloneCaps = confinement(record(clone).qemuPid).caps;
  expect([has(cloneCaps, CAP.CHOWN), has(cloneCaps, CAP.FOWNER)]).toEqual([true, true]);
  expect(confinement(record(booted).qemuPid).caps).toBe(1n << BigInt(CAP.DAC_OVERRIDE));
  const { seccomp, caps } = confinement(record(booted).virtiofsdPid!);
  expect(seccomp).toBe(2);
  expect([CAP.MKNOD, CAP.SETFCAP].filter((c) => has(caps, c))).toEqual([]);
});

test("guest root's mknod of a device node fails over 9p and virtio-fs, and none appears on the host", async () => {
  for (const vm of [clone, booted]) {
    const root = await container(vm, 'devnodes');
    const r = await run(vm.agent, 'devnodes', [
      'sh',
      '-c',
      'mknod /mem c 1 1; echo "mem=$?"; mknod /disk b 8 0; echo "disk=$?"',
    ]);
    expect({ vm: vm.id, out: r.stdout }).toEqual({ vm: vm.id, out: 'mem=1\ndisk=1\n' });
    expect(fs.existsSync(path.join(root, 'mem'))).toBe(false);
    expect(fs.existsSync(path.join(root, 'disk'))).toBe(false);
  }
});
