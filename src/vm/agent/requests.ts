/**
 * Small pieces of the host's requests to the agent: checks of ids, paths and sizes before a
 * request goes, the limit fields, and the error class an ERROR answer maps to.
 */
import type {
  CapabilitySets,
  GuestContainerSecurity,
  GuestDeviceNode,
  GuestDeviceRule,
  ProcessRlimit,
  ResourceLimits,
} from '../types';
import { ConflictError, InvalidArgumentError, NotFoundError, PodvisorError, UnavailableError } from '../../errors';
import { ErrorCode, Limits, Tag } from './protocol';
import { TlvWriter, type TlvReader } from './tlv';

const ID_RE = /^[A-Za-z0-9_.-]{1,128}$/;

/** The error class an ERROR frame maps to, with the agent's (sanitised) message. */
export function agentError(r: TlvReader): PodvisorError {
  const code = r.u32(Tag.CODE);
  const raw = r.str(Tag.MESSAGE, 4096) ?? 'agent error';
  // eslint-disable-next-line no-control-regex
  const msg = raw.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 1000);
  switch (code) {
    case ErrorCode.NOT_FOUND:
      return new NotFoundError(msg);
    case ErrorCode.CONFLICT:
      return new ConflictError(msg);
    case ErrorCode.INVALID:
    case ErrorCode.TOO_LARGE:
    case ErrorCode.PERMISSION:
      return new InvalidArgumentError(msg);
    default:
      return new UnavailableError(`agent: ${msg}`);
  }
}

/** MEMORY_MAX / CPU_QUOTA CPU_PERIOD / CPU_WEIGHT / MEMORY_LOW / CPUSET_* / PIDS_MAX fields of CREATE_CONTAINER and UPDATE_RESOURCES. */
export function putLimits(w: TlvWriter, l: ResourceLimits): TlvWriter {
  const ok = (n: number | undefined) => n === undefined || (Number.isSafeInteger(n) && n >= 0);
  if (!ok(l.memoryMax) || !ok(l.cpuQuota) || !ok(l.cpuPeriod) || !ok(l.memoryLow) || !ok(l.pidsMax))
    throw new InvalidArgumentError('invalid resource limits');
  if (l.cpuWeight !== undefined && (!Number.isInteger(l.cpuWeight) || l.cpuWeight < 1 || l.cpuWeight > 10000))
    throw new InvalidArgumentError('invalid resource limits');
  const cpuset = (v: string | undefined) => v === undefined || /^[0-9,-]{0,63}$/.test(v);
  if (!cpuset(l.cpusetCpus) || !cpuset(l.cpusetMems)) throw new InvalidArgumentError('invalid resource limits');
  if (l.memoryMax !== undefined) w.u64(Tag.MEMORY_MAX, l.memoryMax);
  if (l.cpuQuota !== undefined) {
    w.u64(Tag.CPU_QUOTA, l.cpuQuota);
    if (l.cpuPeriod) w.u64(Tag.CPU_PERIOD, l.cpuPeriod);
  }
  if (l.cpuWeight !== undefined) w.u64(Tag.CPU_WEIGHT, l.cpuWeight);
  if (l.memoryLow !== undefined) w.u64(Tag.MEMORY_LOW, l.memoryLow);
  if (l.cpusetCpus !== undefined) w.str(Tag.CPUSET_CPUS, l.cpusetCpus);
  if (l.cpusetMems !== undefined) w.str(Tag.CPUSET_MEMS, l.cpusetMems);
  if (l.pidsMax !== undefined) w.u64(Tag.PIDS_MAX, l.pidsMax);
  return w;
}

export function checkId(id: string, what: string): void {
  if (!ID_RE.test(id) || id.startsWith('.')) throw new InvalidArgumentError(`invalid ${what}: ${JSON.stringify(id)}`);
}

/** Shape only; the agent refuses ".." and resolves the path inside the container's root. */
export function checkPath(p: string): void {
  if (!p.startsWith('/') || Buffer.byteLength(p) > Limits.MAX_PATH) {
    throw new InvalidArgumentError(`path must be absolute: ${JSON.stringify(p)}`);
  }
}

export function checkTermSize(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`invalid terminal size ${n}`);
  return n;
}

/** CAP_* fields of START_PROCESS (each set a mask below 2^64; the agent drops what its kernel lacks). */
export function putCapabilities(w: TlvWriter, c: CapabilitySets): TlvWriter {
  const sets: Array<[number, number]> = [
    [Tag.CAP_BOUNDING, c.bounding],
    [Tag.CAP_EFFECTIVE, c.effective],
    [Tag.CAP_PERMITTED, c.permitted],
    [Tag.CAP_INHERITABLE, c.inheritable],
    [Tag.CAP_AMBIENT, c.ambient],
  ];
  for (const [tag, mask] of sets) {
    if (!Number.isSafeInteger(mask) || mask < 0) throw new InvalidArgumentError('invalid capability set');
    w.u64(tag, mask);
  }
  return w;
}

/** The RLIMIT records of START_PROCESS (-1: unlimited, sent as all ones). */
export function putRlimits(w: TlvWriter, rlimits: readonly ProcessRlimit[]): TlvWriter {
  if (rlimits.length > Limits.MAX_RLIMITS) throw new InvalidArgumentError('too many resource limits');
  const limit = (n: number): Buffer => {
    if (n !== -1 && (!Number.isSafeInteger(n) || n < 0)) throw new InvalidArgumentError(`invalid resource limit ${n}`);
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n === -1 ? 0xffffffffffffffffn : BigInt(n), 0);
    return b;
  };
  for (const r of rlimits) {
    if (!Number.isInteger(r.resource) || r.resource < 0 || r.resource > 15)
      throw new InvalidArgumentError(`invalid resource limit type ${r.resource}`);
    const rec = new TlvWriter()
      .u32(Tag.RLIMIT_RESOURCE, r.resource)
      .bytes(Tag.RLIMIT_SOFT, limit(r.soft))
      .bytes(Tag.RLIMIT_HARD, limit(r.hard));
    w.nested(Tag.RLIMIT, rec);
  }
  return w;
}

/** The security fields of CREATE_CONTAINER (sysctls, masked and read-only paths, read-only root). */
export function putContainerSecurity(w: TlvWriter, s: GuestContainerSecurity): TlvWriter {
  for (const kv of s.sysctls ?? []) {
    if (!/^[A-Za-z0-9_.-]{1,255}=[^\n]*$/.test(kv))
      throw new InvalidArgumentError(`invalid sysctl ${JSON.stringify(kv)}`);
  }
  for (const p of [...(s.maskedPaths ?? []), ...(s.readonlyPaths ?? [])]) checkPath(p);
  w.strs(Tag.SYSCTL, s.sysctls ?? []);
  w.strs(Tag.MASKED_PATH, s.maskedPaths ?? [], Limits.MAX_PATH);
  w.strs(Tag.READONLY_PATH, s.readonlyPaths ?? [], Limits.MAX_PATH);
  if (s.readonlyRootfs) w.u32(Tag.READONLY_ROOTFS, 1);
  if (s.writableSysfs) w.u32(Tag.WRITABLE_SYSFS, 1);
  if (s.deviceRules) putDeviceRules(w, s.deviceRules);
  if (s.deviceNodes) putDeviceNodes(w, s.deviceNodes);
  return w;
}

const DEVICE_NUMBER_MAX = { major: 0xfff, minor: 0xfffff };

function deviceNumber(n: number | undefined, which: 'major' | 'minor'): number | undefined {
  if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > DEVICE_NUMBER_MAX[which]))
    throw new InvalidArgumentError(`invalid device ${which} ${n}`);
  return n;
}

/** The device program's allow-list: DEVICE_FILTER 1 and one DEVICE_RULE record each. */
function putDeviceRules(w: TlvWriter, rules: readonly GuestDeviceRule[]): void {
  if (rules.length > Limits.MAX_DEVICE_RULES) throw new InvalidArgumentError('too many device rules');
  w.u32(Tag.DEVICE_FILTER, 1);
  for (const r of rules) {
    if (!['a', 'b', 'c'].includes(r.type) || !/^[rwm]{1,3}$/.test(r.access))
      throw new InvalidArgumentError(`invalid device rule ${JSON.stringify(r)}`);
    const access =
      (r.access.includes('m') ? 1 : 0) | (r.access.includes('r') ? 2 : 0) | (r.access.includes('w') ? 4 : 0);
    const rec = new TlvWriter().u32(Tag.DEVICE_TYPE, r.type.charCodeAt(0)).u32(Tag.DEVICE_ACCESS, access);
    const major = deviceNumber(r.major, 'major');
    const minor = deviceNumber(r.minor, 'minor');
    if (major !== undefined) rec.u32(Tag.DEVICE_MAJOR, major);
    if (minor !== undefined) rec.u32(Tag.DEVICE_MINOR, minor);
    w.nested(Tag.DEVICE_RULE, rec);
  }
}

/** One DEVICE_NODE record per node (under /dev, no "." or ".." component). */
function putDeviceNodes(w: TlvWriter, nodes: readonly GuestDeviceNode[]): void {
  if (nodes.length > Limits.MAX_DEVICE_NODES) throw new InvalidArgumentError('too many device nodes');
  for (const n of nodes) {
    const parts = n.path.split('/').slice(2);
    const pathOk =
      n.path.startsWith('/dev/') && Buffer.byteLength(n.path) < 256 && parts.every((p) => p && p !== '.' && p !== '..');
    if (!pathOk || !['b', 'c'].includes(n.type) || !Number.isInteger(n.mode) || n.mode < 0 || n.mode > 0o777)
      throw new InvalidArgumentError(`invalid device node ${JSON.stringify(n)}`);
    const rec = new TlvWriter()
      .str(Tag.PATH, n.path)
      .u32(Tag.DEVICE_TYPE, n.type.charCodeAt(0))
      .u32(Tag.DEVICE_MAJOR, deviceNumber(n.major, 'major')!)
      .u32(Tag.DEVICE_MINOR, deviceNumber(n.minor, 'minor')!)
      .u32(Tag.MODE, n.mode);
    w.nested(Tag.DEVICE_NODE, rec);
  }
}
