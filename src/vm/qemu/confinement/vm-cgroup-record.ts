/**
 * Where a VM's host cgroup is when it is not under podvisor's own (./vm-cgroup-parent.ts):
 * `<execRoot>/vm-cgroups/<cgroup name>`, a JSON list of its directories (one per hierarchy
 * used), so that whatever removes the VM (its end, a restarted daemon's reclaim or sweep)
 * finds the cgroup wherever it was put. It lies beside the VM directories, not in one: a VM's
 * QEMU writes its own directory, and nothing it writes may name a cgroup to remove.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The directory of placement records for VM directories under `root` (a vms or templates root). */
function recordsDir(root: string): string {
  return path.join(path.dirname(path.resolve(root)), 'vm-cgroups');
}

/** The record of the VM in `dir`, whose cgroup is named `name`. */
function recordFile(dir: string, name: string): string {
  return path.join(recordsDir(path.dirname(path.resolve(dir))), name);
}

/** The directories of a record's text that a cgroup named `name` can be at (absolute, named so, no `..`). */
function dirsOf(text: string, name: string): string[] {
  let dirs: unknown;
  try {
    dirs = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(dirs)) return [];
  return dirs.filter(
    (d): d is string =>
      typeof d === 'string' && path.isAbsolute(d) && path.basename(d) === name && !d.split('/').includes('..'),
  );
}

/** The recorded cgroup directories of the VM in `dir` (cgroup `name`); [] when none is recorded. */
export function placedDirs(dir: string, name: string): string[] {
  try {
    return dirsOf(fs.readFileSync(recordFile(dir, name), 'utf8'), name);
  } catch {
    return [];
  }
}

/** Record `dirs` as where the cgroup (`name`) of the VM in `dir` is. */
export function recordPlacement(dir: string, name: string, dirs: string[]): void {
  const file = recordFile(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(dirs));
  fs.renameSync(`${file}.tmp`, file);
}

/** Drop the record of the VM in `dir` (cgroup `name`); nothing when there is none. */
export function forgetPlacement(dir: string, name: string): void {
  fs.rmSync(recordFile(dir, name), { force: true });
}

/** Every record for VM directories under `root` whose cgroup name starts with `prefix`: its name and directories. */
export function placementRecords(root: string, prefix: string): Array<{ name: string; dirs: string[] }> {
  let names: string[];
  try {
    names = fs.readdirSync(recordsDir(root));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.startsWith(prefix) && !n.endsWith('.tmp'))
    .map((name) => ({ name, dirs: placedDirs(path.join(root, name.slice(prefix.length)), name) }));
}
