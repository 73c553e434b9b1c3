/**
 * A host cgroup per VM, under one `podvisor` cgroup, that its QEMU joins before its first
 * instruction (host/jail: --cgroup), with a memory limit (the guest's RAM plus QEMU's own
 * overhead, VM_MEMORY_OVERHEAD_MIB) and a limit on its tasks (VM_PIDS_MAX). Both cgroup
 * layouts are served:
 * - unified (cgroup v2, Debian 12): `/sys/fs/cgroup/podvisor/<name>`, memory.max and pids.max,
 *   the memory and pids controllers enabled for podvisor's children;
 * - v1 (or a hybrid host whose unified hierarchy has no controllers): the same name in the
 *   `memory` hierarchy (memory.limit_in_bytes) and the `pids` one (pids.max).
 * A VM's cgroup is named after its runtime directory (cgroupName), so whatever removes the
 * directory removes the cgroup too; one moved under a parent of the caller's
 * (./vm-cgroup-parent.ts) is found through the record of where (./vm-cgroup-record.ts).
 * Cgroups of this daemon's directories that nothing runs in any more (a daemon killed before
 * its VMs went) are removed at start (sweepVmCgroups: a cgroup with a process in it cannot be
 * removed, so a VM that is still running, to be adopted, keeps its own).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { VmSize } from '../../types';
import { logger } from '../../../util/log';
import { forgetPlacement, placedDirs, placementRecords } from './vm-cgroup-record';
import { confinementMissing } from './policy';

const log = logger('vm');

/** Where the cgroup filesystems are mounted. */
export const CGROUP_ROOT = '/sys/fs/cgroup';

/** The cgroup every VM's cgroup is made in. */
export const PODVISOR_CGROUP = 'podvisor';

/**
 * Memory a VM's QEMU may use beyond its guest's RAM, MiB: its code, heap, device state, the TCG
 * code buffer (32 MiB), the 9p server's buffers, and the page cache of what it reads and
 * writes (charged to the cgroup, reclaimable). Measured (test/integration/vm-jail.test.ts,
 * TCG, 256 MiB guests, cgroup memory peaks): a restored checkpoint, whose whole RAM is its
 * own, 321 MiB (65 above its RAM); a clone 216, a booted VM 89, a fork 24 (the guest's pages
 * they never wrote are the template's or untouched). The limit leaves four times that
 * overhead: reaching it kills the VM.
 */
export const VM_MEMORY_OVERHEAD_MIB = 256;

/** Tasks a VM's QEMU may have: its vCPU threads, the main loop, RCU, and its thread pool (at most 64). */
export const VM_PIDS_MAX = 256;

/** The cgroup hierarchies of this host, as VM cgroups use them. */
export interface CgroupLayout {
  /** `unified`: one v2 hierarchy with memory and pids; `v1`: separate memory and pids ones. */
  kind: 'unified' | 'v1';
  /** The directory of the podvisor cgroup in each hierarchy used. */
  parents: { memory: string; pids: string };
}

let layoutCache: CgroupLayout | null | undefined;

/** This host's layout, or null when neither has both controllers (no VM cgroups then). */
export function cgroupLayout(root: string = CGROUP_ROOT): CgroupLayout | null {
  if (root === CGROUP_ROOT && layoutCache !== undefined) return layoutCache;
  let found: CgroupLayout | null = null;
  const controllers = readOr(path.join(root, 'cgroup.controllers'), '').split(/\s+/);
  if (controllers.includes('memory') && controllers.includes('pids')) {
    const dir = path.join(root, PODVISOR_CGROUP);
    found = { kind: 'unified', parents: { memory: dir, pids: dir } };
  } else if (
    fs.existsSync(path.join(root, 'memory', 'memory.limit_in_bytes')) &&
    fs.existsSync(path.join(root, 'pids', 'cgroup.procs'))
  ) {
    found = {
      kind: 'v1',
      parents: { memory: path.join(root, 'memory', PODVISOR_CGROUP), pids: path.join(root, 'pids', PODVISOR_CGROUP) },
    };
  }
  if (root === CGROUP_ROOT) layoutCache = found;
  return found;
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** The cgroup name of the VM whose runtime directory is `dir`: its directory's parent and its own name. */
export function cgroupName(dir: string): string {
  const resolved = path.resolve(dir);
  return `${parentTag(path.dirname(resolved))}-${path.basename(resolved)}`;
}

/** A short tag of a directory of VM directories (a daemon's vms root or templates root). */
function parentTag(dir: string): string {
  return createHash('sha256').update(dir).digest('hex').slice(0, 10);
}

/** Memory limit of a VM of `size`, bytes. */
export function vmMemoryLimit(size: VmSize): number {
  return (size.memoryMiB + VM_MEMORY_OVERHEAD_MIB) * 1048576;
}

/** The podvisor cgroup, made when missing (unified: its children get the memory and pids controllers). */
function ensureParent(layout: CgroupLayout): void {
  for (const dir of new Set([layout.parents.memory, layout.parents.pids])) fs.mkdirSync(dir, { recursive: true });
  if (layout.kind === 'unified') {
    const own = readOr(path.join(layout.parents.memory, 'cgroup.controllers'), '');
    if (!/\bmemory\b/.test(own) || !/\bpids\b/.test(own))
      fs.writeFileSync(path.join(path.dirname(layout.parents.memory), 'cgroup.subtree_control'), '+memory +pids');
    const control = path.join(layout.parents.memory, 'cgroup.subtree_control');
    if (!/\bmemory\b/.test(readOr(control, '')) || !/\bpids\b/.test(readOr(control, '')))
      fs.writeFileSync(control, '+memory +pids');
  }
}

const CGROUP_GIVEN_UP = 'a cgroup of their own (their memory and pids limits)';

/**
 * The host's cgroup layout for VMs; a host with none fails the VM's start (checked before
 * anything of it is made: QemuHypervisor's preflight), or with --unconfined-vms gives
 * undefined (logged once): ./policy.ts.
 */
export function vmCgroupLayout(): CgroupLayout | undefined {
  const layout = cgroupLayout();
  if (layout) return layout;
  confinementMissing(
    'this host has no cgroup hierarchy with the memory and pids controllers',
    'mount cgroup2 at /sys/fs/cgroup with both enabled',
    CGROUP_GIVEN_UP,
  );
  return undefined;
}

/**
 * Make the cgroup of the VM in `dir`, of `size`, with its limits; the cgroup.procs files its
 * QEMU writes itself into (one per hierarchy). A host with no usable cgroups (no hierarchy with
 * the memory and pids controllers, or one this daemon cannot write: run in a container) fails
 * the VM's start, or with --unconfined-vms gives undefined (nothing is limited then; logged
 * once): ./policy.ts.
 */
export function makeVmCgroup(dir: string, size: VmSize): string[] | undefined {
  const layout = vmCgroupLayout();
  if (!layout) return undefined;
  try {
    return makeIn(layout, dir, size);
  } catch (err) {
    confinementMissing(
      `cannot make the VM's cgroup: ${(err as Error).message}`,
      'give podvisord a writable cgroup hierarchy (run it on the host, as root)',
      CGROUP_GIVEN_UP,
    );
    return undefined;
  }
}

function makeIn(layout: CgroupLayout, dir: string, size: VmSize): string[] {
  ensureParent(layout);
  return makeCgroupIn(layout, layout.parents, cgroupName(dir), size);
}

/**
 * Make cgroup `name` under `parents` (one directory per hierarchy of `layout`, existing, their
 * controllers enabled for their children) with the limits of a VM of `size`; the cgroup.procs
 * files to write a process into.
 */
export function makeCgroupIn(
  layout: CgroupLayout,
  parents: CgroupLayout['parents'],
  name: string,
  size: VmSize,
): string[] {
  const mem = path.join(parents.memory, name);
  const pids = path.join(parents.pids, name);
  fs.mkdirSync(mem, { recursive: true });
  if (pids !== mem) fs.mkdirSync(pids, { recursive: true });
  const limit = String(vmMemoryLimit(size));
  if (layout.kind === 'unified') {
    fs.writeFileSync(path.join(mem, 'memory.max'), limit);
    // The guest's RAM is never swapped behind its back: the limit is the VM's, not a budget to
    // page out. (No such file without swap accounting: nothing to limit then.)
    const swap = path.join(mem, 'memory.swap.max');
    if (fs.existsSync(swap)) fs.writeFileSync(swap, '0');
  } else {
    fs.writeFileSync(path.join(mem, 'memory.limit_in_bytes'), limit);
  }
  fs.writeFileSync(path.join(pids, 'pids.max'), String(VM_PIDS_MAX));
  return [...new Set([mem, pids])].map((d) => path.join(d, 'cgroup.procs'));
}

/** The directories of the VM cgroup of `dir` under podvisor's own cgroup (one, or one per v1 hierarchy). */
export function ownCgroupDirs(layout: CgroupLayout, dir: string): string[] {
  const name = cgroupName(dir);
  return [...new Set([path.join(layout.parents.memory, name), path.join(layout.parents.pids, name)])];
}

/**
 * The directories the VM cgroup of `dir` may be at: under podvisor's own cgroup, and where it
 * was put under a parent of the caller's (./vm-cgroup-parent.ts); [] without cgroups.
 */
export function vmCgroupDirs(dir: string): string[] {
  const layout = cgroupLayout();
  if (!layout) return [];
  return [...new Set([...ownCgroupDirs(layout, dir), ...placedDirs(dir, cgroupName(dir))])];
}

/**
 * The memory limit of the VM cgroup of `dir` (wherever it was put), bytes, as the kernel has
 * it: what the daemon wrote from the size it booted the VM with, in a file no jailed process
 * can reach. Undefined when the VM has no cgroup (a host without, an unconfined VM) or the
 * limit is `max`.
 */
export function vmCgroupMemoryLimit(dir: string): number | undefined {
  for (const d of vmCgroupDirs(dir))
    for (const file of ['memory.max', 'memory.limit_in_bytes']) {
      const v = readOr(path.join(d, file), '').trim();
      if (/^\d{1,20}$/.test(v)) return Number(v);
    }
  return undefined;
}

/**
 * Remove the cgroup of the VM in `dir` once its processes are gone (nothing when it is not
 * there), wherever it was put, and the record of where. A process killed a moment ago may
 * still be in it while it exits: a busy cgroup is tried again for up to a second, then in the
 * background (removeNowOrLater), so that no teardown, nor a daemon's shutdown, waits on it.
 */
export async function removeVmCgroup(dir: string): Promise<void> {
  const late: Array<Promise<boolean>> = [];
  for (const d of vmCgroupDirs(dir)) {
    const pending = await removeNowOrLater(d);
    if (pending) late.push(pending.late);
  }
  const forget = () => forgetPlacement(dir, cgroupName(dir));
  if (late.length === 0) forget();
  // A cgroup that could not go stays recorded, for the next daemon's sweep to find.
  else void Promise.all(late).then((removed) => removed.every(Boolean) && forget());
}

/**
 * How long a removal waits out EBUSY before it goes on in the background: a cgroup stays
 * populated while a task of it exits, and a killed QEMU with a large guest takes a while to
 * unmap its RAM (its main thread already shows as a zombie, which waitGone counts as gone).
 */
export const CGROUP_BUSY_WAIT_MS = 1_000;

/**
 * How long the background goes on: under a full test run's load a QEMU's exit outlasted the
 * second (a run left three empty memory cgroups behind when nothing retried).
 */
export const CGROUP_LATE_WAIT_MS = 30_000;

/** Removals under way, from their first try (settleVmCgroupRemovals). */
const removalsUnderWay = new Set<Promise<boolean>>();

/**
 * Remove cgroup directory `d`, EBUSY waited out for CGROUP_BUSY_WAIT_MS; still busy then, the
 * removal goes on in the background for CGROUP_LATE_WAIT_MS and its promise (true once
 * removed) is returned as `late`, else undefined. The whole removal, its first second too, is
 * one the daemon's shutdown waits for. `rmdir` is fs.rmdirSync but in unit tests.
 */
export async function removeNowOrLater(
  d: string,
  rmdir: (d: string) => void = fs.rmdirSync,
): Promise<{ late: Promise<boolean> } | undefined> {
  const first = tryRemove(d, CGROUP_BUSY_WAIT_MS, rmdir);
  const whole = first.then((r) => (r === 'busy' ? removeCgroupDir(d, CGROUP_LATE_WAIT_MS, rmdir) : r === 'removed'));
  removalsUnderWay.add(whole);
  void whole.finally(() => removalsUnderWay.delete(whole));
  return (await first) === 'busy' ? { late: whole } : undefined;
}

/** The roots whose VM cgroups this daemon swept at its start (sweepVmCgroups), swept again at its end. */
let sweptRoots: string[] = [];

/**
 * The daemon's shutdown: wait, at most `boundMs`, for the cgroup removals under way (a
 * teardown's first second, or the background), then sweep this daemon's roots once more, so
 * that a VM cgroup emptied since its removal gave up goes too. A cgroup with a process in it
 * (a running container's VM, left for the next daemon) stays.
 */
export async function settleVmCgroupRemovals(boundMs: number): Promise<void> {
  if (removalsUnderWay.size > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(removalsUnderWay), new Promise((r) => (timer = setTimeout(r, boundMs)))]);
    clearTimeout(timer);
  }
  if (sweptRoots.length > 0) sweepVmCgroups(sweptRoots);
}

/**
 * Remove cgroup directory `d` once empty (EBUSY waited out for up to `busyWaitMs`); false when
 * it is still there, with a warning. `rmdir` is fs.rmdirSync but in unit tests.
 */
export async function removeCgroupDir(
  d: string,
  busyWaitMs = CGROUP_BUSY_WAIT_MS,
  rmdir: (d: string) => void = fs.rmdirSync,
): Promise<boolean> {
  const r = await tryRemove(d, busyWaitMs, rmdir);
  if (r === 'busy') log.warn(`cannot remove cgroup ${d}: still busy after ${busyWaitMs} ms`);
  return r === 'removed';
}

/** One removal: rmdir until it is gone, EBUSY retried for `busyWaitMs`; another error is logged. */
async function tryRemove(
  d: string,
  busyWaitMs: number,
  rmdir: (d: string) => void,
): Promise<'removed' | 'busy' | 'failed'> {
  const deadline = Date.now() + busyWaitMs;
  for (let pause = 20; ; pause = Math.min(pause * 2, 250)) {
    try {
      rmdir(d);
      return 'removed';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return 'removed';
      if (code !== 'EBUSY') {
        log.warn(`cannot remove cgroup ${d}: ${(err as Error).message}`);
        return 'failed';
      }
      if (Date.now() >= deadline) return 'busy';
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

/**
 * Remove the VM cgroups of directories under `parents` (a daemon's vms and templates roots)
 * that no process is in any more, under podvisor's cgroup and where records put them: what a
 * daemon killed before its VMs went left.
 */
export function sweepVmCgroups(parents: string[]): void {
  const layout = cgroupLayout();
  if (!layout) return;
  sweptRoots = parents;
  const tags = parents.map((p) => `${parentTag(path.resolve(p))}-`);
  for (const hierarchy of new Set([layout.parents.memory, layout.parents.pids])) {
    let names: string[];
    try {
      names = fs.readdirSync(hierarchy);
    } catch {
      continue;
    }
    for (const name of names) if (tags.some((t) => name.startsWith(t))) removeIfEmpty(path.join(hierarchy, name));
  }
  parents.forEach((root, i) => {
    for (const r of placementRecords(root, tags[i])) {
      const left = r.dirs.filter((d) => !removeIfEmpty(d));
      if (left.length === 0) forgetPlacement(path.join(root, r.name.slice(tags[i].length)), r.name);
    }
  });
}

/** Remove cgroup directory `d` unless a process is in it (an adoptable VM): true when it is gone. */
function removeIfEmpty(d: string): boolean {
  try {
    fs.rmdirSync(d);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
