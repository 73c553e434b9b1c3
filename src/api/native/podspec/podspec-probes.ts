/**
 * A Kubernetes container's probes (`livenessProbe`, `readinessProbe`, `startupProbe`) read,
 * defaulted and checked as the API server does (pkg/apis/core: SetDefaults_Probe,
 * validateProbe, validateHandler), with its wording for the problems:
 *
 *   - exactly one handler: `exec` (command), `httpGet` (port, path "/", scheme HTTP or
 *     HTTPS, host, httpHeaders) or `tcpSocket` (port, host); `grpc` is refused by name;
 *   - a port is a number (1-65535) or the name of one of the container's `ports`, which is
 *     resolved here (Kubernetes resolves it at each probe, and a name that matches nothing
 *     never probes; here it is refused);
 *   - 0 or absent means the default: periodSeconds 10, timeoutSeconds 1, failureThreshold 3,
 *     successThreshold 1; initialDelaySeconds 0; negative values are refused;
 *   - liveness and startup probes need successThreshold 1; a readiness probe takes no
 *     terminationGracePeriodSeconds; an init container takes no probe.
 */
import type { Fields } from './podspec-read';
import type { ManifestPort, ManifestProbe, ManifestProbeAction, ManifestProbes } from './podspec-types';

/** Kubernetes' probe defaults (SetDefaults_Probe), in seconds and counts. */
export const PROBE_DEFAULTS = {
  periodSeconds: 10,
  timeoutSeconds: 1,
  failureThreshold: 3,
  successThreshold: 1,
} as const;

/** The three probes, by their field in the container. */
const KINDS = [
  ['livenessProbe', 'liveness'],
  ['readinessProbe', 'readiness'],
  ['startupProbe', 'startup'],
] as const;

/** An IANA service name, as a port name must be (k8s IsValidPortName), or why it is not. */
function portNameProblems(name: string): string[] {
  const out: string[] = [];
  if (name.length > 15) out.push('must be no more than 15 characters');
  if (!/^[-a-z0-9]+$/.test(name)) out.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)');
  if (!/[a-z]/.test(name)) out.push('must contain at least one letter (a-z)');
  if (name.includes('--')) out.push('must not contain consecutive hyphens');
  if (name.startsWith('-') || name.endsWith('-')) out.push('must not begin or end with a hyphen');
  return out;
}

/** A Go-style rendering of a bad value in a problem (`2`, `"x"`). */
function shown(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * A probe's port: a number, or a port name of the container resolved to its number. Problems
 * are noted (by `f`'s path) and undefined returned.
 */
function port(f: Fields, ports: ManifestPort[]): number | undefined {
  const v = f.raw('port');
  const at = `${f.path}.port`;
  if (v === undefined || v === '') {
    f.problems.add(at, 'Required value');
    return undefined;
  }
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 1 && v <= 65535) return v;
    f.problems.add(at, `Invalid value: ${v}: must be between 1 and 65535, inclusive`);
    return undefined;
  }
  if (typeof v !== 'string') {
    f.problems.add(at, 'must be a port number or a port name');
    return undefined;
  }
  const bad = portNameProblems(v);
  if (bad.length > 0) {
    for (const why of bad) f.problems.add(at, `Invalid value: ${shown(v)}: ${why}`);
    return undefined;
  }
  const named = ports.find((p) => p.name === v);
  if (!named) {
    f.problems.add(at, `Invalid value: ${shown(v)}: no port of the container is named ${v}`);
    return undefined;
  }
  return named.containerPort;
}

function exec(f: Fields): ManifestProbeAction | undefined {
  const given = f.obj.command !== undefined && f.obj.command !== null;
  const command = f.strings('command');
  f.done();
  if (!command || command.length === 0) {
    // A command of the wrong type was reported by its reader already.
    if (!given || command) f.problems.add(`${f.path}.command`, 'Required value');
    return undefined;
  }
  return { type: 'exec', command };
}

function httpGet(f: Fields, ports: ManifestPort[]): ManifestProbeAction | undefined {
  const p = port(f, ports);
  let path = f.string('path') || '/';
  if (!path.startsWith('/')) path = `/${path}`;
  const scheme = f.string('scheme') || 'HTTP';
  const host = f.string('host') || undefined;
  const headers = f.objects('httpHeaders').map((h) => {
    const out = { name: h.string('name') ?? '', value: h.string('value') ?? '' };
    h.done();
    if (!/^[-A-Za-z0-9]+$/.test(out.name)) {
      f.problems.add(
        `${f.path}.httpHeaders`,
        `Invalid value: ${shown(out.name)}: a valid HTTP header must consist of alphanumeric characters or '-' ` +
          "(e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
      );
    }
    return out;
  });
  f.done();
  if (scheme !== 'HTTP' && scheme !== 'HTTPS') {
    f.problems.add(`${f.path}.scheme`, `Unsupported value: ${shown(scheme)}: supported values: "HTTP", "HTTPS"`);
    return undefined;
  }
  if (p === undefined) return undefined;
  return { type: 'httpGet', ...(host ? { host } : {}), port: p, path, scheme, headers };
}

function tcpSocket(f: Fields, ports: ManifestPort[]): ManifestProbeAction | undefined {
  const p = port(f, ports);
  const host = f.string('host') || undefined;
  f.done();
  return p === undefined ? undefined : { type: 'tcpSocket', ...(host ? { host } : {}), port: p };
}

/** The one handler of a probe (validateHandler). */
function action(probe: Fields, ports: ManifestPort[]): ManifestProbeAction | undefined {
  const found: Array<() => ManifestProbeAction | undefined> = [];
  const handlers = [
    ['exec', (f: Fields) => exec(f)],
    ['httpGet', (f: Fields) => httpGet(f, ports)],
    ['tcpSocket', (f: Fields) => tcpSocket(f, ports)],
  ] as const;
  for (const [key, read] of handlers) {
    // `exec: {}` is a handler too (whose command is then missing).
    const present = probe.obj[key] !== undefined && probe.obj[key] !== null;
    const f = probe.object(key);
    if (!present) continue;
    if (found.length > 0)
      probe.problems.add(`${probe.path}.${key}`, 'Forbidden: may not specify more than 1 handler type');
    else found.push(() => (f ? read(f) : undefined));
  }
  probe.unsupported('grpc', 'grpc probes are not supported by podvisor (exec, httpGet and tcpSocket are)');
  if (found.length === 0) {
    if (probe.obj.grpc === undefined) probe.problems.add(probe.path, 'Required value: must specify a handler type');
    return undefined;
  }
  return found[0]();
}

/** A probe's int32 field: absent or 0 is the default; negative is refused. */
function count(probe: Fields, key: string, dflt: number): number {
  const v = probe.raw(key);
  if (v === undefined) return dflt;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || Math.abs(n) > 2 ** 31 - 1) {
    probe.problems.add(`${probe.path}.${key}`, 'must be an integer');
    return dflt;
  }
  if (n < 0) {
    probe.problems.add(`${probe.path}.${key}`, `Invalid value: ${n}: must be greater than or equal to 0`);
    return dflt;
  }
  return n === 0 ? dflt : n;
}

/** Read one probe; undefined when it has problems (noted). */
function probeOf(
  probe: Fields,
  kind: 'liveness' | 'readiness' | 'startup',
  ports: ManifestPort[],
): ManifestProbe | undefined {
  const before = probe.problems.list.length;
  const act = action(probe, ports);
  const out = {
    initialDelaySeconds: count(probe, 'initialDelaySeconds', 0),
    periodSeconds: count(probe, 'periodSeconds', PROBE_DEFAULTS.periodSeconds),
    timeoutSeconds: count(probe, 'timeoutSeconds', PROBE_DEFAULTS.timeoutSeconds),
    failureThreshold: count(probe, 'failureThreshold', PROBE_DEFAULTS.failureThreshold),
    successThreshold: count(probe, 'successThreshold', PROBE_DEFAULTS.successThreshold),
  };
  if (kind !== 'readiness' && out.successThreshold !== 1)
    probe.problems.add(`${probe.path}.successThreshold`, `Invalid value: ${out.successThreshold}: must be 1`);
  const grace = probe.raw('terminationGracePeriodSeconds');
  let terminationGracePeriodSeconds: number | undefined;
  if (grace !== undefined) {
    const at = `${probe.path}.terminationGracePeriodSeconds`;
    if (kind === 'readiness')
      probe.problems.add(at, `Invalid value: ${shown(grace)}: must not be set for readinessProbes`);
    else if (typeof grace !== 'number' || !Number.isInteger(grace)) probe.problems.add(at, 'must be an integer');
    else if (grace <= 0) probe.problems.add(at, `Invalid value: ${grace}: must be greater than 0`);
    else terminationGracePeriodSeconds = grace;
  }
  probe.done();
  if (!act || probe.problems.list.length > before) return undefined;
  return {
    action: act,
    ...out,
    ...(terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds } : {}),
  };
}

/**
 * Read a container's probes (see the module comment). `ports` are the container's own (with
 * their names); `init`: an init container, which may have none.
 */
export function readProbes(c: Fields, ports: ManifestPort[], init: boolean): ManifestProbes | undefined {
  const out: ManifestProbes = {};
  for (const [key, kind] of KINDS) {
    const present = c.obj[key] !== undefined && c.obj[key] !== null;
    const f = c.object(key);
    if (!present) continue;
    if (init) {
      c.problems.add(`${c.path}.${key}`, 'Forbidden: may not be set for init containers');
      continue;
    }
    if (!f) continue;
    const p = probeOf(f, kind, ports);
    if (p) out[kind] = p;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
