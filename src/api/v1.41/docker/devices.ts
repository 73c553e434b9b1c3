/**
 * `--device` and `--device-cgroup-rule` (HostConfig.Devices, HostConfig.DeviceCgroupRules) as a
 * container's security settings. A container's VM has its own kernel and none of the host's
 * hardware, so `--device` gives only what that kernel provides itself (GUEST_DEVICES): the
 * agent makes the node in the container's /dev and its device program allows it. Any other
 * path is refused by name, with dockerd's status (400).
 */
import { InvalidArgumentError } from '../../../errors';
import type { ContainerDevice } from '../../../pod/types';
import type { GuestDeviceRule } from '../../../vm/types';

/** The guest kernel's devices a container may be given: numbers and mode as on a host. */
export const GUEST_DEVICES: Readonly<Record<string, Pick<ContainerDevice, 'type' | 'major' | 'minor' | 'mode'>>> = {
  '/dev/fuse': { type: 'c', major: 10, minor: 229, mode: 0o666 },
  '/dev/net/tun': { type: 'c', major: 10, minor: 200, mode: 0o666 },
  '/dev/null': { type: 'c', major: 1, minor: 3, mode: 0o666 },
  '/dev/zero': { type: 'c', major: 1, minor: 5, mode: 0o666 },
  '/dev/full': { type: 'c', major: 1, minor: 7, mode: 0o666 },
  '/dev/random': { type: 'c', major: 1, minor: 8, mode: 0o666 },
  '/dev/urandom': { type: 'c', major: 1, minor: 9, mode: 0o666 },
};

const NOT_HOST = "every container runs in its own VM, with its own kernel: the host's devices are not in it";

/** A path under /dev/ without empty, "." or ".." components. */
function underDev(p: string): boolean {
  const parts = p.split('/').slice(2);
  return p.startsWith('/dev/') && Buffer.byteLength(p) < 256 && parts.every((x) => x && x !== '.' && x !== '..');
}

/**
 * HostConfig.Devices (`[{PathOnHost, PathInContainer, CgroupPermissions}]`, as the CLI sends
 * `--device SRC[:DST][:PERMS]`) as the container's devices. InvalidArgumentError for a device
 * the guest kernel does not provide, a node outside /dev, or permissions other than "rwm"
 * letters (the CLI's words).
 */
export function parseDevices(list: readonly unknown[] | null | undefined): ContainerDevice[] {
  const out: ContainerDevice[] = [];
  for (const raw of list ?? []) {
    const m = (raw ?? {}) as { PathOnHost?: unknown; PathInContainer?: unknown; CgroupPermissions?: unknown };
    const host = typeof m.PathOnHost === 'string' ? m.PathOnHost : '';
    const dev = GUEST_DEVICES[host];
    if (!dev) {
      const known = Object.keys(GUEST_DEVICES).join(', ');
      throw new InvalidArgumentError(
        `--device ${host || '""'} is not supported: ${NOT_HOST} (a VM's kernel gives ${known})`,
      );
    }
    const path = typeof m.PathInContainer === 'string' && m.PathInContainer !== '' ? m.PathInContainer : host;
    if (!underDev(path)) {
      throw new InvalidArgumentError(
        `--device ${host}:${path} is not supported: a device node is made only under /dev in a container's VM`,
      );
    }
    const perms = typeof m.CgroupPermissions === 'string' && m.CgroupPermissions !== '' ? m.CgroupPermissions : 'rwm';
    if (!/^[rwm]{1,3}$/.test(perms)) throw new InvalidArgumentError(`invalid device mode: ${perms}`);
    out.push({ path, ...dev, access: perms });
  }
  return out;
}

const RULE_RE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/**
 * HostConfig.DeviceCgroupRules (`c 10:229 rwm`, `a *:* m`) as device program rules, as dockerd
 * parses them; InvalidArgumentError with dockerd's words for one it would refuse.
 */
export function parseDeviceCgroupRules(list: readonly unknown[] | null | undefined): GuestDeviceRule[] {
  return (list ?? []).map((raw) => {
    const m = typeof raw === 'string' ? RULE_RE.exec(raw) : null;
    if (!m) throw new InvalidArgumentError(`invalid device cgroup format '${String(raw)}'`);
    const num = (s: string) => (s === '*' ? {} : { n: Number(s) });
    const major = num(m[2]).n;
    const minor = num(m[3]).n;
    if ((major ?? 0) > 0xfff || (minor ?? 0) > 0xfffff)
      throw new InvalidArgumentError(`invalid device cgroup format '${String(raw)}'`);
    return {
      type: m[1] as GuestDeviceRule['type'],
      ...(major !== undefined ? { major } : {}),
      ...(minor !== undefined ? { minor } : {}),
      access: m[4],
    };
  });
}
