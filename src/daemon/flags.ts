/**
 * Command-line flags of podvisord. Names follow dockerd where dockerd has the flag
 * (-H/--host, --data-root, --exec-root, --log-level, --insecure-registry, --registry-mirror);
 * the VM flags are our own. Parsing is pure so it can be table-tested.
 */
import { InvalidArgumentError } from '../errors';
import { isLogLevel, type LogLevel } from '../util/log';

/** The daemon's configuration after flag parsing. */
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
  /** Default guest RAM, MiB. */
  vmMemoryMiB: number;
  /** Default vCPUs. */
  vmCpus: number;
  accel: 'auto' | 'kvm' | 'tcg';
  /** Registries reached over plain http (loopback always is). */
  insecureRegistries: string[];
  /** Mirrors tried first for docker.io. */
  registryMirrors: string[];
  /** Guest kernel and initramfs (default: the ones bootstrap built under guest/out). */
  kernel?: string;
  initrd?: string;
}

/** Default listen address of podvisord (dockerd's is /var/run/docker.sock). */
export const DEFAULT_HOST = 'unix:///run/podvisor/docker.sock';

/** Defaults, as documented in README.md. */
export function defaultOptions(): DaemonOptions {
  return {
    hosts: [],
    dataRoot: '/var/lib/podvisor',
    execRoot: '/run/podvisor',
    logLevel: 'info',
    vmPoolSize: 2,
    vmMemoryMiB: 256,
    vmCpus: 1,
    accel: 'auto',
    insecureRegistries: [],
    registryMirrors: [],
  };
}

/** Usage text printed by --help. */
export const USAGE = `Usage: podvisord [OPTIONS]

A Docker Engine API v1.41 daemon that runs every container in its own microVM.

Options:
  -H, --host list              Daemon socket(s) to listen on (default ${DEFAULT_HOST})
      --data-root string       Root of persistent state (default "/var/lib/podvisor")
      --exec-root string       Root of runtime state (default "/run/podvisor")
  -l, --log-level string       debug, info, warn, error, fatal (default "info")
      --insecure-registry list Registries reached over plain http
      --registry-mirror list   Preferred Docker registry mirrors
      --vm-pool-size int       Idle VMs kept booted (default 2)
      --vm-memory int          Default guest memory in MiB (default 256)
      --vm-cpus int            Default guest vCPUs (default 1)
      --accel string           auto, kvm or tcg (default "auto")
      --kernel string          Guest kernel (default: built by bootstrap)
      --initrd string          Guest initramfs (default: built by bootstrap)
  -h, --help                   Print usage
`;

function intFlag(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`invalid argument "${v}" for "--${name}" flag: not an integer`);
  const n = Number(v);
  if (n < min || n > max) throw new InvalidArgumentError(`invalid argument "${v}" for "--${name}" flag: must be between ${min} and ${max}`);
  return n;
}

/** Check a listen address the way dockerd does (unix:// or tcp://). */
export function validateHost(h: string): string {
  if (/^unix:\/\/\/.+/.test(h)) return h;
  if (/^tcp:\/\/[^/]*:\d+\/?$/.test(h)) return h.replace(/\/$/, '');
  throw new InvalidArgumentError(`invalid argument "${h}" for "-H, --host" flag: Invalid bind address format: ${h}`);
}

/** Parse argv (without node and script). Returns 'help' when --help was asked. */
export function parseFlags(argv: string[]): DaemonOptions | 'help' {
  const o = defaultOptions();
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
    switch (arg) {
      case '-h': case '--help': return 'help';
      case '-H': case '--host': o.hosts.push(validateHost(next())); break;
      case '--data-root': o.dataRoot = next(); break;
      case '--exec-root': o.execRoot = next(); break;
      case '-l': case '--log-level': {
        const l = next();
        if (!isLogLevel(l)) throw new InvalidArgumentError(`invalid argument "${l}" for "-l, --log-level" flag: not a valid log level`);
        o.logLevel = l;
        break;
      }
      case '--insecure-registry': o.insecureRegistries.push(next()); break;
      case '--registry-mirror': o.registryMirrors.push(next()); break;
      case '--vm-pool-size': o.vmPoolSize = intFlag('vm-pool-size', next(), 0, 64); break;
      case '--vm-memory': o.vmMemoryMiB = intFlag('vm-memory', next(), 64, 65536); break;
      case '--vm-cpus': o.vmCpus = intFlag('vm-cpus', next(), 1, 64); break;
      case '--accel': {
        const a = next();
        if (a !== 'auto' && a !== 'kvm' && a !== 'tcg') throw new InvalidArgumentError(`invalid argument "${a}" for "--accel" flag: want auto, kvm or tcg`);
        o.accel = a;
        break;
      }
      case '--kernel': o.kernel = next(); break;
      case '--initrd': o.initrd = next(); break;
      default:
        throw new InvalidArgumentError(`unknown flag: ${arg}`);
    }
  }
  if (o.hosts.length === 0) o.hosts.push(DEFAULT_HOST);
  return o;
}
