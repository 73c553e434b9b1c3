/**
 * The daemon's options, described once: each has its daemon.json key (dockerd's key where
 * dockerd has the option), its command-line flags, its value type and how it is applied. The
 * flag parser (./flags.ts) and the configuration file (./config-file.ts) both work from this
 * table, so a key cannot be known to one and not to the other.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { isLogLevel, type LogLevel } from '../util/log';
import { defaultVmMemoryMiB } from './default-vm-memory';
import { DEFAULT_CNI_BIN_DIRS, DEFAULT_CNI_CONF_DIR, parseBinDirs } from '../net/cni/config';
import { ramInBytes } from '../util/go-units';

/** The daemon's configuration after flags and configuration file. */
export interface DaemonOptions {
  /** Listen addresses: unix:///path or tcp://host:port. */
  hosts: string[];
  /** Persistent state: images, layers, containers, volumes. */
  dataRoot: string;
  /** Runtime state that lives until reboot: VM sockets, share dirs, pid files. */
  execRoot: string;
  logLevel: LogLevel;
  /** Idle VMs kept booted (0 disables the pool). */
  vmPoolSize: number;
  /** Most VMs the pool grows to while requests arrive (0: no growth, the pool stays at vmPoolSize). */
  vmPoolMax: number;
  /** Start VMs as clones of a saved template when the guest kernel allows (--vm-templates, default true). */
  vmTemplates: boolean;
  /** Guest RAM, MiB, of a VM no limit sizes: what a container without -m may grow to (default-vm-memory.ts). */
  vmMemoryMiB: number;
  /** Default vCPUs. */
  vmCpus: number;
  accel: 'auto' | 'kvm' | 'tcg';
  /** Registries reached over plain http (loopback always is). */
  insecureRegistries: string[];
  /** Mirrors tried first for docker.io. */
  registryMirrors: string[];
  /**
   * The registries whose checkpoint images start from their saved state (empty: any;
   * docs/checkpoint-images.md). States made on this daemon always do.
   */
  checkpointImageRegistries: string[];
  /**
   * Warm starts (docs/warm-starts.md): the first container of a kind is saved once it is
   * quiet, and later ones of the same kind start from that save. Off by default; a
   * container's label org.podvisor.warm-start=true|false overrides it.
   */
  warmStarts: boolean;
  /** Most bytes warm starts' states take on disk (--warm-starts-max-size); absent: no cap. */
  warmStartsMaxSize?: number;
  /** containers-registries.conf(5) with per-registry mirrors (a missing file: none). */
  registriesConf: string;
  /** CRI v1 gRPC sockets (unix:///path); default <exec-root>/cri.sock unless noCri. */
  criHosts: string[];
  /** Serve no CRI (--no-cri). */
  noCri: boolean;
  /** Guest kernel and initramfs (default: the ones bootstrap built under guest/out). */
  kernel?: string;
  initrd?: string;
  /** Serve tcp:// hosts with TLS (implied by tlsVerify). */
  tls: boolean;
  /** Serve tcp:// hosts with TLS and require client certificates signed by tlsCaCert. */
  tlsVerify: boolean;
  /** CA that client certificates must chain to (PEM). */
  tlsCaCert: string;
  /** The server's certificate and key (PEM). */
  tlsCert: string;
  tlsKey: string;
  /** Serve tcp:// without TLS anyway (podvisor's own flag: dockerd only warns). */
  insecureTcp: boolean;
  /** Group of the unix sockets ('' = the daemon's own group). */
  group: string;
  /** Whether the group is the default one (a missing default group is not an error). */
  groupIsDefault: boolean;
  /** Default log driver of containers that name none, and its default options. */
  logDriver: string;
  logOpts: Record<string, string>;
  /**
   * dockerd's experimental mode (--experimental): the API says so (Docker-Experimental,
   * /version, /info) and `docker build --squash` is served; without it a squash is refused.
   */
  experimental: boolean;
  /**
   * Start VMs even when this host lacks a piece of their confinement (--unconfined-vms): no
   * jail binary, a daemon not run as root, no usable cgroup hierarchy. Off by default: such a
   * VM's start fails, naming the piece (src/vm/qemu/confinement/policy.ts).
   */
  unconfinedVms: boolean;
  /** CNI network configuration directory of CRI sandboxes (--cni-conf-dir; the kubelet's default). */
  cniConfDir: string;
  /** Directories searched for CNI plugins, in order (--cni-bin-dir, colon-separated as the kubelet's). */
  cniBinDirs: string[];
  /**
   * Block mode (--rootfs-disk, default true; --rootfs-disk=false turns it off): a new
   * container's writable layer is an ext4 filesystem on a disk file of its own, mounted by
   * the guest, instead of a host directory served over 9p (docs/design/storage.md, "Block mode"). docker cp,
   * diff, export and commit of such a container are done in a guest
   * (src/storage/archive/guest.ts).
   */
  rootfsDisk: boolean;
  /**
   * The daemon's storage options (--storage-opt, daemon.json `storage-opts`): only podvisor's
   * `image=disk` (the default in block mode) or `image=layers`. With image=disk, a Docker
   * create that joins no other container's VM and names no `image` storage option of its own
   * reads its image from the image's disk and keeps its anonymous volumes on its own disk, so
   * that it can be saved (docs/checkpoint.md); image=layers reads every image over the layers
   * share as before. Unset (undefined): image=disk where block mode is on (imageOnDiskIn).
   */
  imageOnDisk?: boolean;
  /** The infra image of every CRI sandbox (--cri-sandbox-image; containerd's sandbox_image). */
  criSandboxImage: string;
}

/** Default listen address of podvisord (dockerd's is /var/run/docker.sock). */
export const DEFAULT_HOST = 'unix:///run/podvisor/docker.sock';

/** Default containers-registries.conf(5), as podman's, CRI-O's and skopeo's. */
export const DEFAULT_REGISTRIES_CONF = '/etc/containers/registries.conf';

/** Default CRI socket, in the exec root: unix:///run/podvisor/cri.sock with the default exec root. */
export function defaultCriHost(execRoot: string): string {
  return `unix://${path.join(execRoot, 'cri.sock')}`;
}

/** Default configuration file (dockerd's is /etc/docker/daemon.json). */
export const DEFAULT_CONFIG_FILE = '/etc/podvisor/daemon.json';

/** Default group of the unix socket, as dockerd's. */
export const DEFAULT_GROUP = 'docker';

/** dockerd's default directory of the TLS files: $DOCKER_CERT_PATH or ~/.docker. */
function certDir(): string {
  return process.env.DOCKER_CERT_PATH || path.join(os.homedir(), '.docker');
}

/** Defaults, as documented in README.md. */
export function defaultOptions(): DaemonOptions {
  const dir = certDir();
  return {
    hosts: [],
    dataRoot: '/var/lib/podvisor',
    execRoot: '/run/podvisor',
    logLevel: 'info',
    vmPoolSize: 2,
    vmPoolMax: 0,
    vmTemplates: true,
    vmMemoryMiB: defaultVmMemoryMiB(os.totalmem()),
    vmCpus: 1,
    accel: 'auto',
    insecureRegistries: [],
    registryMirrors: [],
    checkpointImageRegistries: [],
    warmStarts: false,
    registriesConf: DEFAULT_REGISTRIES_CONF,
    criHosts: [],
    noCri: false,
    // dockerd: DOCKER_TLS_VERIFY in the daemon's environment turns --tlsverify on by default.
    tls: false,
    tlsVerify: !!process.env.DOCKER_TLS_VERIFY,
    tlsCaCert: path.join(dir, 'ca.pem'),
    tlsCert: path.join(dir, 'cert.pem'),
    tlsKey: path.join(dir, 'key.pem'),
    insecureTcp: false,
    group: DEFAULT_GROUP,
    groupIsDefault: true,
    logDriver: 'json-file',
    logOpts: {},
    experimental: false,
    unconfinedVms: false,
    cniConfDir: DEFAULT_CNI_CONF_DIR,
    cniBinDirs: [...DEFAULT_CNI_BIN_DIRS],
    rootfsDisk: true,
    criSandboxImage: DEFAULT_CRI_SANDBOX_IMAGE,
  };
}

/** The CRI sandboxes' infra image when none is set (containerd 1.6's). */
export const DEFAULT_CRI_SANDBOX_IMAGE = 'registry.k8s.io/pause:3.9';

/** The value types of options (Go's type names, used in dockerd-style error messages). */
export type OptionKind = 'string' | '[]string' | 'bool' | 'int' | 'map[string]string';

/** One option: its daemon.json key, flags, type and setter. */
export interface OptionDef {
  key: string;
  flags: string[];
  kind: OptionKind;
  /** Apply one value: a flag's (lists and maps: one element per flag) or the file's. */
  apply(o: DaemonOptions, v: string, flag: string): void;
}

function intValue(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`invalid argument "${v}" for "${flag}" flag: not an integer`);
  const n = Number(v);
  if (n < min || n > max)
    throw new InvalidArgumentError(`invalid argument "${v}" for "${flag}" flag: must be between ${min} and ${max}`);
  return n;
}

/** A bool flag value as Go's strconv.ParseBool reads it. */
export function parseBool(flag: string, v: string): boolean {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  throw new InvalidArgumentError(
    `invalid argument "${v}" for "${flag}" flag: strconv.ParseBool: parsing "${v}": invalid syntax`,
  );
}

/** Check a listen address the way dockerd does (unix:// or tcp://). */
export function validateHost(h: string): string {
  if (/^unix:\/\/\/.+/.test(h)) return h;
  if (/^tcp:\/\/[^/]*:\d+\/?$/.test(h)) return h.replace(/\/$/, '');
  throw new InvalidArgumentError(`invalid argument "${h}" for "-H, --host" flag: Invalid bind address format: ${h}`);
}

/** Check a CRI listen address: unix sockets only (the kubelet's --container-runtime-endpoint). */
export function validateCriHost(h: string): string {
  if (/^unix:\/\/\/.+/.test(h)) return h;
  throw new InvalidArgumentError(`invalid argument "${h}" for "--cri-host" flag: want unix:///path/to/socket`);
}

/** Every option podvisord has. */
export const OPTIONS: OptionDef[] = [
  { key: 'hosts', flags: ['-H', '--host'], kind: '[]string', apply: (o, v) => void o.hosts.push(validateHost(v)) },
  { key: 'data-root', flags: ['--data-root'], kind: 'string', apply: (o, v) => void (o.dataRoot = v) },
  { key: 'exec-root', flags: ['--exec-root'], kind: 'string', apply: (o, v) => void (o.execRoot = v) },
  {
    key: 'log-level',
    flags: ['-l', '--log-level'],
    kind: 'string',
    apply: (o, v) => {
      if (!isLogLevel(v))
        throw new InvalidArgumentError(`invalid argument "${v}" for "-l, --log-level" flag: not a valid log level`);
      o.logLevel = v;
    },
  },
  {
    key: 'insecure-registries',
    flags: ['--insecure-registry'],
    kind: '[]string',
    apply: (o, v) => void o.insecureRegistries.push(v),
  },
  {
    key: 'registry-mirrors',
    flags: ['--registry-mirror'],
    kind: '[]string',
    apply: (o, v) => void o.registryMirrors.push(v),
  },
  {
    key: 'checkpoint-image-registries',
    flags: ['--checkpoint-image-registry'],
    kind: '[]string',
    apply: (o, v) => void o.checkpointImageRegistries.push(v),
  },
  {
    key: 'warm-starts',
    flags: ['--warm-starts'],
    kind: 'bool',
    apply: (o, v, f) => void (o.warmStarts = parseBool(f, v)),
  },
  {
    key: 'warm-starts-max-size',
    flags: ['--warm-starts-max-size'],
    kind: 'string',
    apply: (o, v, f) => {
      try {
        o.warmStartsMaxSize = ramInBytes(v);
      } catch (err) {
        throw new InvalidArgumentError(`invalid argument "${v}" for "${f}" flag: ${(err as Error).message}`);
      }
    },
  },
  {
    key: 'registries-conf',
    flags: ['--registries-conf'],
    kind: 'string',
    apply: (o, v) => void (o.registriesConf = v),
  },
  {
    key: 'cri-hosts',
    flags: ['--cri-host'],
    kind: '[]string',
    apply: (o, v) => void o.criHosts.push(validateCriHost(v)),
  },
  { key: 'no-cri', flags: ['--no-cri'], kind: 'bool', apply: (o, v, f) => void (o.noCri = parseBool(f, v)) },
  { key: 'tls', flags: ['--tls'], kind: 'bool', apply: (o, v, f) => void (o.tls = parseBool(f, v)) },
  { key: 'tlsverify', flags: ['--tlsverify'], kind: 'bool', apply: (o, v, f) => void (o.tlsVerify = parseBool(f, v)) },
  { key: 'tlscacert', flags: ['--tlscacert'], kind: 'string', apply: (o, v) => void (o.tlsCaCert = v) },
  { key: 'tlscert', flags: ['--tlscert'], kind: 'string', apply: (o, v) => void (o.tlsCert = v) },
  { key: 'tlskey', flags: ['--tlskey'], kind: 'string', apply: (o, v) => void (o.tlsKey = v) },
  {
    key: 'insecure-tcp',
    flags: ['--insecure-tcp'],
    kind: 'bool',
    apply: (o, v, f) => void (o.insecureTcp = parseBool(f, v)),
  },
  {
    key: 'group',
    flags: ['-G', '--group'],
    kind: 'string',
    apply: (o, v) => {
      o.group = v;
      o.groupIsDefault = false;
    },
  },
  { key: 'log-driver', flags: ['--log-driver'], kind: 'string', apply: (o, v) => void (o.logDriver = v) },
  {
    key: 'log-opts',
    flags: ['--log-opt'],
    kind: 'map[string]string',
    apply: (o, v, f) => {
      const eq = v.indexOf('=');
      if (eq <= 0)
        throw new InvalidArgumentError(`invalid argument "${v}" for "${f}" flag: invalid key value pair format: ${v}`);
      o.logOpts[v.slice(0, eq)] = v.slice(eq + 1);
    },
  },
  {
    key: 'vm-pool-size',
    flags: ['--vm-pool-size'],
    kind: 'int',
    apply: (o, v) => void (o.vmPoolSize = intValue('--vm-pool-size', v, 0, 64)),
  },
  {
    key: 'vm-pool-max',
    flags: ['--vm-pool-max'],
    kind: 'int',
    apply: (o, v) => void (o.vmPoolMax = intValue('--vm-pool-max', v, 0, 64)),
  },
  {
    key: 'vm-templates',
    flags: ['--vm-templates'],
    kind: 'bool',
    apply: (o, v, f) => void (o.vmTemplates = parseBool(f, v)),
  },
  {
    key: 'vm-memory',
    flags: ['--vm-memory'],
    kind: 'int',
    apply: (o, v) => void (o.vmMemoryMiB = intValue('--vm-memory', v, 64, 65536)),
  },
  {
    key: 'vm-cpus',
    flags: ['--vm-cpus'],
    kind: 'int',
    apply: (o, v) => void (o.vmCpus = intValue('--vm-cpus', v, 1, 64)),
  },
  {
    key: 'accel',
    flags: ['--accel'],
    kind: 'string',
    apply: (o, v) => {
      if (v !== 'auto' && v !== 'kvm' && v !== 'tcg')
        throw new InvalidArgumentError(`invalid argument "${v}" for "--accel" flag: want auto, kvm or tcg`);
      o.accel = v;
    },
  },
  {
    key: 'experimental',
    flags: ['--experimental'],
    kind: 'bool',
    apply: (o, v, f) => void (o.experimental = parseBool(f, v)),
  },
  {
    key: 'unconfined-vms',
    flags: ['--unconfined-vms'],
    kind: 'bool',
    apply: (o, v, f) => void (o.unconfinedVms = parseBool(f, v)),
  },
  {
    key: 'cri-sandbox-image',
    flags: ['--cri-sandbox-image'],
    kind: 'string',
    apply: (o, v) => void (o.criSandboxImage = v),
  },
  { key: 'cni-conf-dir', flags: ['--cni-conf-dir'], kind: 'string', apply: (o, v) => void (o.cniConfDir = v) },
  {
    key: 'cni-bin-dir',
    flags: ['--cni-bin-dir'],
    kind: 'string',
    apply: (o, v) => {
      try {
        o.cniBinDirs = parseBinDirs(v);
      } catch (err) {
        throw new InvalidArgumentError(`invalid argument "${v}" for "--cni-bin-dir" flag: ${(err as Error).message}`);
      }
    },
  },
  {
    key: 'rootfs-disk',
    flags: ['--rootfs-disk'],
    kind: 'bool',
    apply: (o, v, f) => void (o.rootfsDisk = parseBool(f, v)),
  },
  {
    key: 'storage-opts',
    flags: ['--storage-opt'],
    kind: '[]string',
    apply: (o, v, f) => {
      const m = /^image=(disk|layers)$/i.exec(v);
      if (!m)
        throw new InvalidArgumentError(
          `invalid argument "${v}" for "${f}" flag: podvisor's storage takes only image=disk or image=layers`,
        );
      o.imageOnDisk = m[1].toLowerCase() === 'disk';
    },
  },
  { key: 'kernel', flags: ['--kernel'], kind: 'string', apply: (o, v) => void (o.kernel = v) },
  { key: 'initrd', flags: ['--initrd'], kind: 'string', apply: (o, v) => void (o.initrd = v) },
];

/**
 * Whether the daemon's containers read their image from its disk by default: `image=disk`,
 * given or unset, in block mode (image disks need the upper disk's guest overlay).
 */
export function imageOnDiskIn(opts: Pick<DaemonOptions, 'imageOnDisk'>, blockMode: boolean): boolean {
  return blockMode && opts.imageOnDisk !== false;
}

/** The option of a flag name (`-H`, `--host`...). */
export function optionOfFlag(flag: string): OptionDef | undefined {
  return OPTIONS.find((d) => d.flags.includes(flag));
}

/** The option of a daemon.json key. */
export function optionOfKey(key: string): OptionDef | undefined {
  return OPTIONS.find((d) => d.key === key);
}
