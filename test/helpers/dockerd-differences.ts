/**
 * The differences between podvisor's answers to a create (the refusal, or `docker inspect` of
 * the container) and the container's own view, and dockerd's, in one place, each with its
 * reason: those podvisor's on purpose, and those found and not fixed yet (`not yet: ...`). The
 * list test/compat/differential-dockerd.test.ts reads (a difference it finds that is not here
 * fails it; an entry here that no case shows fails it too). docs/limitations.md ("What inspect
 * and the container show beside dockerd 26.1, field by field") links here.
 *
 * `path` is a field path of the inspect record as the test flattens it (`HostConfig.Binds[0]`,
 * `Mounts[1].Source`), where `*` stands for one key or index and a trailing `.**` for anything
 * under it; `cases`, when given, limits the entry to those cases of the table
 * (test/unit/translate/docker-create-cases.ts) by name.
 */

/** One difference: podvisor's on purpose, or found and not fixed yet. */
export interface KnownDifference {
  /** The field path (see the module comment). */
  path: string;
  /** Why podvisor shows something else there. */
  reason: string;
  /** The cases it is limited to; absent: any case. */
  cases?: string[];
  /** The baselines it is seen beside (`1.41`: dockerd 20.10; `1.45`: dockerd 26.1); absent: both. */
  versions?: Array<'1.41' | '1.45'>;
  /** Seen on a cgroup v1 host only (dockerd's view follows the host's): not stale where it is not seen. */
  cgroupV1Host?: boolean;
}

/** Why podvisor refuses at create what dockerd takes and refuses only at start (or never checks). */
const EARLY =
  "podvisor checks at create what dockerd checks only at start: the VM is planned from the create, so a body it cannot run is refused then (not yet dockerd's order)";

/** The list (see the module comment). */
export const KNOWN_DIFFERENCES: KnownDifference[] = [
  // The container's own files and storage.
  {
    path: 'HostnamePath',
    reason:
      "podvisor names the container's hostname, hosts and resolv.conf files (in its directory) at create; dockerd fills the paths at the first start",
  },
  { path: 'HostsPath', reason: 'as HostnamePath' },
  { path: 'ResolvConfPath', reason: 'as HostnamePath' },
  { path: 'LogPath', reason: 'podvisor names the log file at create; dockerd at the first start' },
  {
    path: 'GraphDriver.Data.MergedDir',
    reason:
      "no overlay mount on the host: the container's root is assembled in its VM, so podvisor has no merged directory to show",
  },
  {
    path: 'HostConfig.CgroupnsMode',
    cgroupV1Host: true,
    reason:
      "dockerd's default follows the host's cgroup version (host on a cgroup v1 host); the container's cgroups are the VM's, always cgroup v2, where dockerd's default is private",
  },
  // Real differences, not fixed yet.
  {
    path: 'AppArmorProfile',
    cases: ['no new privileges false'],
    reason: 'a VM has no AppArmor: podvisor takes apparmor=PROFILE and shows no profile',
  },
  // Refusals.
  {
    path: 'outcome',
    cases: ['systempaths unconfined'],
    reason:
      "podvisor takes `systempaths=unconfined` in SecurityOpt as the CLI's --security-opt means it (no masked or read-only paths); dockerd takes only what the CLI turns it into (empty MaskedPaths and ReadonlyPaths) and refuses it raw",
  },
  {
    path: 'outcome',
    cases: ['host device'],
    reason: "a container runs in its own VM: the host's devices are not in it",
  },
  {
    path: 'outcome',
    cases: ['network host', 'network host with bad storage', 'bad network and a bad seccomp'],
    reason: 'a container runs in its own VM, with its own network stack: --network host is refused (501)',
  },
  {
    path: 'outcome',
    cases: ['log syslog'],
    reason: 'podvisor has the json-file and none log drivers only (501)',
  },
  {
    path: 'outcome',
    cases: ['link-local IPv6'],
    reason: 'IPv6 link-local addresses are not supported (501)',
  },
  {
    path: 'outcome',
    cases: ['storage size', 'storage image disk', 'storage image layers', 'bad storage image'],
    reason:
      "podvisor's own storage options (size of the VM's disk, image=disk|layers); dockerd's overlay2 refuses them",
  },
  {
    path: 'outcome',
    cases: [
      'no command, entrypoint empty',
      'bad ulimit',
      'ulimit soft above hard',
      'bad seccomp profile',
      'bad dns',
      'no command and a bad ulimit',
      'bad ulimit and a bad dns',
      'user network with endpoint settings',
      'several endpoints',
    ],
    reason: EARLY,
  },
  {
    path: 'outcome',
    cases: ['alias on the bridge', 'static address without subnet', 'dockerd 26 endpoint problems'],
    versions: ['1.41'],
    reason: `${EARLY}; here dockerd 26 refuses them at create too, at every API version, and so does podvisor`,
  },
];

/** One line of the container's own view (df, /proc/mounts, /etc/hosts, ...) on one side only, podvisor's on purpose. */
export interface KnownViewDifference {
  /** The section: df, /proc/mounts, /etc/hosts, /etc/resolv.conf, hostname, id. */
  section: string;
  /** Whose line it is. */
  side: 'podvisor' | 'dockerd';
  /** The line, normalised as the test normalises it. */
  line: RegExp;
  /** Why. */
  reason: string;
  /** Seen on a cgroup v1 host only (dockerd's view follows the host's): not stale where it is not seen. */
  cgroupV1Host?: boolean;
}

/** The in-container list (see KnownViewDifference). */
export const KNOWN_VIEW_DIFFERENCES: KnownViewDifference[] = [
  {
    section: 'df',
    side: 'dockerd',
    line: /^<device> \/etc\/(hostname|hosts|resolv\.conf)$/,
    reason:
      "podvisor writes the container's hostname, hosts and resolv.conf in its root; dockerd bind-mounts them from its data root",
  },
  {
    section: '/proc/mounts',
    side: 'dockerd',
    line: /^<device> \/etc\/(hostname|hosts|resolv\.conf) ext4$/,
    reason: 'as in df',
  },
  {
    section: '/proc/mounts',
    side: 'dockerd',
    line: /^(cgroup \/sys\/fs\/cgroup\/\S+ cgroup|tmpfs \/sys\/fs\/cgroup tmpfs)$/,
    cgroupV1Host: true,
    reason: "the host's cgroup v1 hierarchies; the VM's kernel is cgroup v2 (what dockerd shows on a cgroup v2 host)",
  },
  {
    section: 'df',
    side: 'dockerd',
    line: /^tmpfs \/sys\/fs\/cgroup$/,
    reason: 'as the line below',
    cgroupV1Host: true,
  },
  {
    section: '/proc/mounts',
    side: 'podvisor',
    line: /^cgroup2 \/sys\/fs\/cgroup cgroup2$/,
    cgroupV1Host: true,
    reason: 'as the line above',
  },
  {
    section: '/proc/mounts',
    side: 'dockerd',
    line: /^tmpfs \/proc\/(acpi|keys) tmpfs$/,
    reason: "masked paths the VM's kernel does not have (no ACPI, no keyrings): nothing to mask",
  },
  { section: 'df', side: 'dockerd', line: /^tmpfs \/proc\/(acpi|keys)$/, reason: 'as the line above' },
  {
    section: 'df',
    side: 'podvisor',
    line: /^podvisor-vol \/data$/,
    reason: "a volume is the host's directory shared into the VM (9p), not a directory of the host's disk",
  },
  { section: '/proc/mounts', side: 'podvisor', line: /^podvisor-vol \/data 9p$/, reason: 'as in df' },
  { section: 'df', side: 'dockerd', line: /^<device> \/data$/, reason: 'as the line above' },
  { section: '/proc/mounts', side: 'dockerd', line: /^<device> \/data ext4$/, reason: 'as the line above' },
];

/** Whether field path `p` is matched by pattern `pattern` (see the module comment). */
export function pathMatches(pattern: string, p: string): boolean {
  const parts = pattern.split(/(\.\*\*$|\*)/).filter((s) => s !== '');
  const re = parts
    .map((s) => (s === '.**' ? '(\\..*|\\[.*)?' : s === '*' ? '[^.\\[\\]]+' : s.replace(/[.[\]()?+^$|\\{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${re}$`).test(p);
}
