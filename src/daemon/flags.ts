/**
 * Command-line flags of podvisord. Names follow dockerd where dockerd has the flag
 * (-H/--host, --data-root, --exec-root, --log-level, --insecure-registry, --registry-mirror,
 * --tls*, -G/--group, --log-driver, --log-opt, --experimental, --config-file); the VM flags and
 * --insecure-tcp are our own. The options themselves are described in ./options.ts; parsing
 * is pure so it can be table-tested.
 */
import { InvalidArgumentError } from '../errors';
import {
  DEFAULT_CONFIG_FILE,
  DEFAULT_HOST,
  DEFAULT_REGISTRIES_CONF,
  defaultCriHost,
  defaultOptions,
  optionOfFlag,
  type DaemonOptions,
} from './options';

export { DEFAULT_HOST, defaultOptions, validateHost, type DaemonOptions } from './options';

/** Usage text printed by --help. */
export const USAGE = `Usage: podvisord [OPTIONS]

A Docker Engine API v1.41 daemon that runs every container in its own microVM.

Options:
      --config-file string     Daemon configuration file (default "${DEFAULT_CONFIG_FILE}")
  -H, --host list              Daemon socket(s) to listen on (default ${DEFAULT_HOST})
  -G, --group string           Group of the unix socket(s) (default "docker")
      --data-root string       Root of persistent state (default "/var/lib/podvisor")
      --exec-root string       Root of runtime state (default "/run/podvisor")
  -l, --log-level string       debug, info, warn, error, fatal (default "info")
      --tls                    Use TLS; implied by --tlsverify
      --tlsverify              Use TLS and verify the remote (client certificates)
      --tlscacert string       Trust certs signed only by this CA (default "~/.docker/ca.pem")
      --tlscert string         Path to TLS certificate file (default "~/.docker/cert.pem")
      --tlskey string          Path to TLS key file (default "~/.docker/key.pem")
      --insecure-tcp           Serve tcp:// hosts without TLS (anyone who reaches them is root)
      --log-driver string      Default log driver of containers: json-file or none (default "json-file")
      --log-opt map            Default log driver options (max-size, max-file...)
      --insecure-registry list Registries reached over plain http
      --registry-mirror list   Preferred Docker registry mirrors
      --checkpoint-image-registry list  Start checkpoint images' saved states only from these
                               registries (default: any; docs/checkpoint-images.md)
      --warm-starts            Start a container from the saved state of the first one of its
                               kind, saved once that one is quiet (default false; label
                               org.podvisor.warm-start=true|false per container;
                               docs/warm-starts.md)
      --warm-starts-max-size string  Most disk the warm states take (e.g. 20GB); the least
                               recently used unused ones go first (default: no cap)
      --registries-conf string Per-registry mirrors, containers-registries.conf(5) version 2
                               (default "${DEFAULT_REGISTRIES_CONF}"; a missing file: none)
      --cri-host list          Kubernetes CRI v1 socket(s) to serve (default unix://<exec-root>/cri.sock,
                               unix:///run/podvisor/cri.sock with the default exec root)
      --no-cri                 Serve no CRI socket
      --experimental           Enable experimental features (build --squash)
      --vm-pool-size int       Idle VMs kept booted (default 2)
      --vm-pool-max int        Grow the pool up to this many VMs while requests arrive, booting
                               on every idle core (default 0: no growth; bounded by memory)
      --vm-templates           Start VMs as clones of a saved template VM when the guest
                               kernel can (default true; false: boot every VM)
      --rootfs-disk            Put each new container's writable layer on a disk of its own
                               (ext4 in the guest) instead of the host (default true; false:
                               the layer is a host directory served over 9p/virtio-fs)
      --storage-opt list       image=disk: containers with a VM of their own that name no
                               image storage option read their image from its disk and keep
                               their anonymous volumes on their own, so they can be saved;
                               image=layers: over the layers share (default image=disk in
                               block mode)
      --vm-memory int          Guest memory in MiB of a container without -m: what it may
                               grow to (default 2048, at most half the host's RAM)
      --vm-cpus int            Default guest vCPUs (default 1)
      --accel string           auto, kvm or tcg (default "auto")
      --unconfined-vms         Start VMs even without their jail or cgroup when this host
                               lacks them (no jail binary, not root, no cgroup2 memory and
                               pids): their QEMU then sees the host's files and has no
                               limits of its own (default false: such a start fails)
      --kernel string          Guest kernel (default: built by bootstrap)
      --initrd string          Guest initramfs (default: built by bootstrap)
      --cni-conf-dir string    CNI configuration of CRI pod sandboxes (default "/etc/cni/net.d")
      --cri-sandbox-image string  infra image of CRI pod sandboxes (default "registry.k8s.io/pause:3.9")
      --cni-bin-dir string     CNI plugin directories, colon-separated (default "/opt/cni/bin:/usr/lib/cni")
  -h, --help                   Print usage
`;

/** The command line, before the configuration file is read. */
export interface CommandLine {
  options: DaemonOptions;
  /** daemon.json keys set by a flag, with the value(s) given (for conflict messages). */
  setKeys: Map<string, string[]>;
  /** The configuration file to read, and whether --config-file named it. */
  configFile: string;
  configFileSet: boolean;
}

/** Parse argv (without node and script). Returns 'help' when --help was asked. */
export function parseCommandLine(argv: string[]): CommandLine | 'help' {
  const o = defaultOptions();
  const setKeys = new Map<string, string[]>();
  let configFile = DEFAULT_CONFIG_FILE;
  let configFileSet = false;
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = (): string => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) throw new InvalidArgumentError(`flag needs an argument: ${arg}`);
      return argv[++i];
    };
    if (arg === '-h' || arg === '--help') return 'help';
    if (arg === '--config-file') {
      configFile = next();
      configFileSet = true;
      continue;
    }
    const def = optionOfFlag(arg);
    if (!def) throw new InvalidArgumentError(`unknown flag: ${arg}`);
    // Bool flags take no separate argument (Go's flag package): --tls, --tls=false.
    const v = def.kind === 'bool' ? (value ?? 'true') : next();
    def.apply(o, v, arg);
    setKeys.set(def.key, [...(setKeys.get(def.key) ?? []), v]);
  }
  return { options: o, setKeys, configFile, configFileSet };
}

/**
 * Fill in what depends on other options: the default host, the default CRI socket (in the
 * exec root), TLS implied by --tlsverify. --no-cri with --cri-host is refused.
 */
export function finishOptions(o: DaemonOptions): DaemonOptions {
  if (o.hosts.length === 0) o.hosts.push(DEFAULT_HOST);
  if (o.noCri && o.criHosts.length)
    throw new InvalidArgumentError('--no-cri and --cri-host (cri-hosts) cannot be used together');
  if (!o.noCri && o.criHosts.length === 0) o.criHosts.push(defaultCriHost(o.execRoot));
  if (o.tlsVerify) o.tls = true;
  return o;
}

/** Parse argv without reading a configuration file (tests, and --help). */
export function parseFlags(argv: string[]): DaemonOptions | 'help' {
  const c = parseCommandLine(argv);
  return c === 'help' ? c : finishOptions(c.options);
}
