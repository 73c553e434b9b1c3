/**
 * A VM's host cgroup put under a parent of the caller's (docker --cgroup-parent, the CRI's
 * cgroup_parent: Vm.placeCgroup). A VM is made before anyone asks for it (the warm pool, a
 * template's clone, a checkpoint's restore), in its cgroup under podvisor's own
 * (./vm-cgroup.ts); the pod that takes it has it moved:
 *
 *   1. the parent's directories are resolved, one per hierarchy used: `/a/b` from each
 *      hierarchy's root, `a/b` from the cgroup this daemon runs in there (/proc/self/cgroup),
 *      as runc's cgroupfs driver resolves dockerd's `<CgroupParent>/<id>`;
 *   2. the move is recorded first (./vm-cgroup-record.ts), old and new directories, so that a
 *      daemon that dies midway leaves nothing its successor cannot find;
 *   3. the parent is made when missing (as runc does; with cgroup v2, the memory and pids
 *      controllers are enabled on the way down), then the VM's cgroup in it, named as before,
 *      with the same limits (guest RAM plus QEMU's overhead, the task limit);
 *   4. every process of the old cgroup (QEMU, with all its threads) is written into the new one.
 *      The memory it was charged before stays charged where it was (podvisor's cgroup, once the
 *      old one is removed): cgroup v2 never moves charges, and cgroup v1's
 *      memory.move_charge_at_immigrate, asked for, is refused by recent kernels (6.18 here). So
 *      the parent's memory limit counts what the VM touches from then on: a pool VM's boot-time
 *      pages (tens of MiB after its trim) are not the parent's;
 *   5. the old cgroup is removed, and the record says where the cgroup is now.
 *
 * Parents it made are left when the VM ends (runc and dockerd leave them too); the VM's own
 * cgroup goes with its runtime directory (./vm-cgroup.ts removeVmCgroup).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../../../errors';
import type { VmSize } from '../../types';
import { cgroupLayout, cgroupName, makeCgroupIn, ownCgroupDirs, removeCgroupDir, type CgroupLayout } from './vm-cgroup';
import { forgetPlacement, placedDirs, recordPlacement } from './vm-cgroup-record';

/** Where this process's cgroups are listed. */
const SELF_CGROUP = '/proc/self/cgroup';

/** What placeVmCgroup acts on: the VM and the host's cgroups. */
export interface CgroupPlacement {
  /** The VM's runtime directory (its cgroup's name). */
  dir: string;
  size: VmSize;
  /** Its QEMU's pid: moved even when it has no cgroup yet (a VM started unjailed). */
  pid: number;
  /** The host's layout (default: cgroupLayout()). */
  layout?: CgroupLayout | null;
  /** The text of this daemon's /proc/self/cgroup (for a relative parent). */
  selfCgroup?: string;
}

/**
 * The directories, one per hierarchy of `layout`, of cleaned cgroup parent `parent` (see the
 * module comment); `selfCgroup` is /proc/self/cgroup's text. Throws InvalidArgumentError for a
 * parent inside podvisor's own cgroup, where VM cgroups are podvisor's to name and sweep.
 */
export function parentDirs(layout: CgroupLayout, parent: string, selfCgroup: string): CgroupLayout['parents'] {
  if (parent.split('/').includes('..')) throw new InvalidArgumentError(`invalid cgroup parent "${parent}"`);
  const dirs = { memory: '', pids: '' };
  for (const c of ['memory', 'pids'] as const) {
    const hierarchy = path.dirname(layout.parents[c]);
    const from = parent.startsWith('/') ? '/' : ownCgroup(selfCgroup, layout.kind === 'unified' ? undefined : c);
    const dir = path.resolve(path.join(hierarchy, from, parent));
    const inOwn = path.relative(layout.parents[c], dir);
    if (!inOwn.startsWith('..') && !path.isAbsolute(inOwn))
      throw new InvalidArgumentError(
        `cgroup parent "${parent}" is inside podvisor's own cgroup (${layout.parents[c]})`,
      );
    dirs[c] = dir;
  }
  return dirs;
}

/** This process's cgroup in the v1 hierarchy of `controller`, or in the unified one; '/' when not listed. */
function ownCgroup(selfCgroup: string, controller: string | undefined): string {
  for (const line of selfCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (controller === undefined ? m[1] === '' : m[1].split(',').includes(controller)) return m[2] || '/';
  }
  return '/';
}

/**
 * Move the cgroup of the VM `p` describes under cleaned parent `parent`, or back under
 * podvisor's own when undefined (see the module comment); nothing when it is there already.
 * Rejects as Vm.placeCgroup says.
 */
export async function placeVmCgroup(p: CgroupPlacement, parent: string | undefined): Promise<void> {
  const layout = p.layout === undefined ? cgroupLayout() : p.layout;
  if (!layout && parent === undefined) return; // no VM has a cgroup here: nothing to put back
  if (!layout)
    throw new UnavailableError(
      `this host has no cgroup hierarchy with the memory and pids controllers: cannot put a VM under cgroup parent "${parent}"`,
    );
  const name = cgroupName(p.dir);
  const parents =
    parent === undefined
      ? layout.parents
      : parentDirs(layout, parent, p.selfCgroup ?? fs.readFileSync(SELF_CGROUP, 'utf8'));
  const target = [...new Set([path.join(parents.memory, name), path.join(parents.pids, name)])];
  const placed = placedDirs(p.dir, name);
  const current = placed.length ? placed : ownCgroupDirs(layout, p.dir);
  if (sameDirs(current, target)) return;
  recordPlacement(p.dir, name, [...new Set([...current, ...target])]);
  try {
    for (const c of ['memory', 'pids'] as const) makeParent(layout, path.dirname(layout.parents[c]), parents[c]);
    const procs = makeCgroupIn(layout, parents, name, p.size);
    if (layout.kind === 'v1') chargeMovesWith(path.join(parents.memory, name));
    const tasks = new Set([p.pid, ...current.flatMap(processesOf)]);
    for (const file of procs) for (const pid of tasks) moveProcess(file, pid);
  } catch (err) {
    throw new UnavailableError(`cannot put the VM's cgroup under "${parent ?? 'podvisor'}": ${(err as Error).message}`);
  }
  for (const d of current) if (!target.includes(d)) await removeCgroupDir(d);
  if (parent === undefined) forgetPlacement(p.dir, name);
  else recordPlacement(p.dir, name, target);
}

function sameDirs(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((d) => b.includes(d));
}

/**
 * Make parent directory `dir` of hierarchy `root` when missing; under cgroup v2, with the
 * memory and pids controllers enabled for the children of it and of every cgroup above it.
 */
function makeParent(layout: CgroupLayout, root: string, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  if (layout.kind !== 'unified') return;
  const rel = path.relative(root, dir);
  const chain = [root, ...(rel ? rel.split('/').map((_, i, all) => path.join(root, ...all.slice(0, i + 1))) : [])];
  for (const d of chain) {
    const control = path.join(d, 'cgroup.subtree_control');
    const on = fs.readFileSync(control, 'utf8');
    if (!/\bmemory\b/.test(on) || !/\bpids\b/.test(on)) fs.writeFileSync(control, '+memory +pids');
  }
}

/**
 * Cgroup v1: have the memory charged to a process moved into memory cgroup `dir` go with it
 * (anonymous and file pages), where the kernel still can: recent ones (6.18 here) refuse it
 * (EINVAL), and the charge then stays behind, as under cgroup v2.
 */
function chargeMovesWith(dir: string): void {
  const file = path.join(dir, 'memory.move_charge_at_immigrate');
  try {
    fs.writeFileSync(file, '3');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOENT') throw err;
  }
}

/** The processes in cgroup directory `dir` ([] when it is not there). */
function processesOf(dir: string): number[] {
  try {
    return fs
      .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** Write `pid` into cgroup.procs file `file`; a process that has gone meanwhile (ESRCH) is not an error. */
function moveProcess(file: string, pid: number): void {
  try {
    fs.writeFileSync(file, String(pid));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
