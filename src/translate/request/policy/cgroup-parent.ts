/**
 * `docker run --cgroup-parent` (HostConfig.CgroupParent; the CRI's LinuxPodSandboxConfig
 * cgroup_parent comes the same way): the host cgroup the container's VM is put under, as
 * dockerd's cgroupfs driver puts a container at `<CgroupParent>/<id>`. dockerd's rules
 * (daemon/oci_linux.go, then runc's cgroupfs paths):
 *
 *   /a/b     absolute: from the root of each cgroup hierarchy;
 *   a/b      relative: from the cgroup the daemon itself runs in (in each hierarchy);
 *   x.slice  a plain name: the `.slice` form is the systemd driver's, which neither dockerd's
 *            cgroupfs driver nor podvisor reads as systemd's (dockerd 20.10 makes `x.slice`);
 *   ""       none: the VM's cgroup stays under podvisor's own.
 *
 * The path is cleaned as Go's filepath.Clean does (`//a/./b/` is `/a/b`; `/a/../b` is `/b`).
 * Where dockerd and runc silently clamp a `..` that climbs above where the path starts (the
 * cgroup root, or the daemon's cgroup), podvisor refuses it, with a control character and a
 * name longer than a cgroup name may be (400, nothing made). The result is what the pod record
 * keeps (SandboxSpec.hostCgroupParent); inspect shows the value as it was sent.
 */
import { InvalidArgumentError } from '../../../errors';

/** Longest name of one cgroup (a directory of the cgroup filesystem), bytes. */
const NAME_MAX = 255;

/** Why a container that runs in another container's VM cannot have a cgroup parent of its own. */
export const CGROUP_PARENT_NEEDS_OWN_VM =
  "--cgroup-parent places a container's VM: a container that runs in another container's VM (--network, --pid or --ipc container:) is in that VM's cgroup";

/**
 * The cleaned cgroup parent of `value` (see the module comment): `/a/b` or `/` when absolute,
 * `a/b` or `.` when relative; undefined for "" (none). Throws InvalidArgumentError (400) for a
 * value podvisor refuses.
 */
export function parseCgroupParent(value: string): string | undefined {
  if (value === '') return undefined;
  const refuse = (why: string) => new InvalidArgumentError(`invalid cgroup parent "${value}": ${why}`);
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) throw refuse('it holds a control character');
  const absolute = value.startsWith('/');
  const names: string[] = [];
  for (const name of value.split('/')) {
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (names.length === 0)
        throw refuse(
          absolute ? '".." leads above the cgroup root' : `".." leads above the daemon's own cgroup, where it starts`,
        );
      names.pop();
      continue;
    }
    if (Buffer.byteLength(name) > NAME_MAX) throw refuse(`a cgroup name is at most ${NAME_MAX} bytes`);
    names.push(name);
  }
  if (absolute) return `/${names.join('/')}`;
  return names.length ? names.join('/') : '.';
}
