/**
 * A Docker create's security settings -> the pod layer's ContainerSecurity, with dockerd's
 * rules and words (moby 20.10: oci/caps, daemon/daemon_unix.go parseSecurityOpt, the default
 * masked and read-only paths of its OCI spec):
 *
 *   capabilities   the default set, CapDrop taken out and CapAdd put in; `ALL` in CapAdd is
 *                  every capability but CapDrop's, `ALL` in CapDrop only CapAdd's; names with or
 *                  without `CAP_`, any case; Privileged: every capability
 *   SecurityOpt    `no-new-privileges[:=]BOOL`, `systempaths=unconfined` (no masked or read-only
 *                  paths), `seccomp=`, `apparmor=`, `label=` (kept, not applied in a VM);
 *                  anything else is refused with dockerd's 500
 *   paths          HostConfig.MaskedPaths / ReadonlyPaths as sent, else Docker's defaults;
 *                  none for a privileged container
 *   sysctls        as sent (runc's namespace rule is the guest's, at start, as runc's)
 */
import { InvalidArgumentError, PodvisorError } from '../../../errors';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilityName, isCapability } from '../../../util/capabilities';
import type { ContainerSecurity } from '../../../pod/types';
import type { DockerHostConfig } from './docker-types';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../../translate/request/policy/masked-paths';

/** dockerd 26's masked paths: 20.10's and the power-capping interface (its energy counters). */
export const DOCKERD26_MASKED_PATHS: readonly string[] = [...DEFAULT_MASKED_PATHS, '/sys/devices/virtual/powercap'];

/** A SecurityOpt dockerd does not know: its 500 (a plain error there). */
export class SecurityOptError extends PodvisorError {}

/** CapAdd or CapDrop normalised (`CAP_X`, `ALL`); InvalidArgumentError with dockerd's words for an unknown name. */
function normalizeCaps(list: readonly string[] | null, field: 'CapAdd' | 'CapDrop'): string[] {
  return (list ?? []).map((c) => {
    if (c.toUpperCase() === 'ALL') return 'ALL';
    const name = capabilityName(c);
    if (!isCapability(name))
      throw new InvalidArgumentError(`invalid ${field}: unknown capability: ${JSON.stringify(name)}`);
    return name;
  });
}

/** dockerd's check of CapAdd and CapDrop at create, before the image is looked up. */
export function checkCapabilities(hc: Pick<DockerHostConfig, 'CapAdd' | 'CapDrop'>): void {
  normalizeCaps(hc.CapAdd, 'CapAdd');
  normalizeCaps(hc.CapDrop, 'CapDrop');
}

/** The capabilities of a container (dockerd's TweakCapabilities over its default set). */
export function dockerCapabilities(
  hc: Pick<DockerHostConfig, 'CapAdd' | 'CapDrop' | 'Privileged'>,
  basics: readonly string[] = DEFAULT_CAPABILITIES,
): string[] {
  if (hc.Privileged) return [...ALL_CAPABILITIES];
  const adds = normalizeCaps(hc.CapAdd, 'CapAdd');
  const drops = normalizeCaps(hc.CapDrop, 'CapDrop');
  let caps: string[];
  if (adds.includes('ALL')) caps = ALL_CAPABILITIES.filter((c) => !drops.includes(c));
  else if (drops.includes('ALL')) caps = adds;
  else caps = [...basics.filter((c) => !drops.includes(c)), ...adds];
  return [...new Set(caps)];
}

/** What SecurityOpt asks for. */
interface SecurityOpts {
  noNewPrivs: boolean;
  /** `systempaths=unconfined`: no masked or read-only paths. */
  unconfinedPaths: boolean;
}

/** Go's strconv.ParseBool. */
function parseBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

/** HostConfig.SecurityOpt as dockerd reads it (SecurityOptError with its words for one it does not know). */
export function parseSecurityOpt(opts: readonly string[] | null): SecurityOpts {
  const out: SecurityOpts = { noNewPrivs: false, unconfinedPaths: false };
  for (const opt of opts ?? []) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivs = true;
      continue;
    }
    if (opt === 'disable') continue;
    if (opt === 'systempaths=unconfined') {
      out.unconfinedPaths = true;
      continue;
    }
    const sep = opt.includes('=') ? '=' : opt.includes(':') ? ':' : '';
    if (!sep) throw new SecurityOptError(`invalid --security-opt 1: ${JSON.stringify(opt)}`);
    const key = opt.slice(0, opt.indexOf(sep));
    const value = opt.slice(opt.indexOf(sep) + 1);
    if (key === 'label' || key === 'apparmor' || key === 'seccomp') continue;
    const b = key === 'no-new-privileges' ? parseBool(value) : undefined;
    if (b === undefined) throw new SecurityOptError(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    out.noNewPrivs = b;
  }
  return out;
}

/**
 * The container's security settings, and the MaskedPaths and ReadonlyPaths its inspect shows
 * (dockerd's: the defaults when none were sent, dockerd 26's with `dockerd26`; null for a
 * privileged container; [] with `systempaths=unconfined`).
 */
export function dockerSecurity(
  hc: DockerHostConfig,
  dockerd26 = false,
): {
  security: ContainerSecurity;
  maskedPaths: string[] | null;
  readonlyPaths: string[] | null;
} {
  const opts = parseSecurityOpt(hc.SecurityOpt);
  const defaultMasked = dockerd26 ? DOCKERD26_MASKED_PATHS : DEFAULT_MASKED_PATHS;
  let masked: string[] | null = hc.MaskedPaths ? [...hc.MaskedPaths] : [...defaultMasked];
  let readonly: string[] | null = hc.ReadonlyPaths ? [...hc.ReadonlyPaths] : [...DEFAULT_READONLY_PATHS];
  if (opts.unconfinedPaths) masked = readonly = [];
  if (hc.Privileged) masked = readonly = null;
  return {
    security: {
      capabilities: dockerCapabilities(hc),
      privileged: hc.Privileged,
      noNewPrivs: opts.noNewPrivs,
      readonlyRootfs: hc.ReadonlyRootfs,
      maskedPaths: masked ?? [],
      readonlyPaths: readonly ?? [],
      sysctls: { ...(hc.Sysctls ?? {}) },
    },
    maskedPaths: masked,
    readonlyPaths: readonly,
  };
}

/** A resource limit of the container's processes. */
type ProcessRlimit = NonNullable<ContainerSecurity['rlimits']>[number];

/**
 * Linux's RLIMIT_* numbers (the same on every architecture podvisor's guests run) by the names
 * of Docker's `--ulimit` (go-units' ulimitNameMapping).
 */
const RLIMIT_NUMBERS: Readonly<Record<string, number>> = {
  cpu: 0,
  fsize: 1,
  data: 2,
  stack: 3,
  core: 4,
  rss: 5,
  nproc: 6,
  nofile: 7,
  memlock: 8,
  locks: 10,
  sigpending: 11,
  msgqueue: 12,
  nice: 13,
  rtprio: 14,
  rttime: 15,
};

/**
 * HostConfig.Ulimits (`[{Name, Soft, Hard}]`) as the resource limits of the container's init
 * and execs, as runc sets them (dockerd turns each into RLIMIT_<NAME>). -1 is unlimited; a
 * name seen twice keeps its last value (the CLI keeps one per name). InvalidArgumentError, with
 * go-units' words, for a name Docker does not know or a soft limit above the hard one (dockerd
 * would pass them to runc and fail the start).
 */
export function parseUlimits(list: readonly unknown[] | null | undefined): ProcessRlimit[] {
  const byName = new Map<string, ProcessRlimit>();
  for (const raw of list ?? []) {
    const u = (raw ?? {}) as { Name?: unknown; Soft?: unknown; Hard?: unknown };
    const name = typeof u.Name === 'string' ? u.Name : '';
    const resource = Object.prototype.hasOwnProperty.call(RLIMIT_NUMBERS, name) ? RLIMIT_NUMBERS[name] : undefined;
    if (resource === undefined) throw new InvalidArgumentError(`invalid --ulimit: invalid ulimit type: ${name}`);
    const limit = (v: unknown): number => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < -1)
        throw new InvalidArgumentError(`invalid --ulimit ${name}: limits must be integers (-1: unlimited)`);
      return v;
    };
    const soft = limit(u.Soft);
    const hard = limit(u.Hard);
    const above = (a: number, b: number): boolean => b !== -1 && (a === -1 || a > b);
    if (above(soft, hard))
      throw new InvalidArgumentError(
        `invalid --ulimit ${name}: ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`,
      );
    byName.delete(name);
    byName.set(name, { resource, soft, hard });
  }
  return [...byName.values()];
}
