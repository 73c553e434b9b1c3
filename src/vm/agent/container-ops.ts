/**
 * Requests of the agent's container, process and file operations (guest/include/podvisor_agent.h):
 * CREATE_CONTAINER, START_PROCESS, SIGNAL, RESIZE, WRITE_FILE, READ_FILE, UNMOUNT and ACTIVATE.
 * What the host sends is checked here before it goes (InvalidArgumentError); the checks that
 * need the client's state (a container without its seccomp filter, a process id in use) stay
 * in ./client.ts, between checkProcess and encodeProcess as before.
 */
import { InvalidArgumentError } from '../../errors';
import type { ActivateRequest, ContainerSpec, ProcessSpec } from '../types';
import {
  checkId,
  checkPath,
  checkTermSize,
  putCapabilities,
  putContainerSecurity,
  putLimits,
  putRlimits,
} from './requests';
import { Limits, Tag } from './protocol';
import { TlvWriter } from './tlv';

/** CREATE_CONTAINER. */
export function encodeContainer(spec: ContainerSpec): TlvWriter {
  checkId(spec.id, 'container id');
  const w = new TlvWriter().str(Tag.CONTAINER_ID, spec.id);
  if (spec.podPause) {
    if (spec.rootfs !== undefined || spec.upperDisk !== undefined || spec.dockerInit)
      throw new InvalidArgumentError("the pod's pause takes no rootfs, upper disk or docker-init");
    w.u32(Tag.POD_PAUSE, 1);
  } else if (spec.rootfs === undefined) {
    throw new InvalidArgumentError('a container needs a rootfs');
  } else {
    w.str(Tag.ROOTFS, spec.rootfs, Limits.MAX_PATH);
  }
  if (spec.hostname !== undefined) w.str(Tag.HOSTNAME, spec.hostname, 64);
  if (spec.limits) putLimits(w, spec.limits);
  if (spec.sharePodNamespaces) w.u32(Tag.SHARE_NS, 1);
  if (spec.pidPeer !== undefined) {
    checkId(spec.pidPeer, 'pid peer');
    w.str(Tag.PID_PEER, spec.pidPeer);
  }
  if (spec.shmPeer !== undefined) {
    checkId(spec.shmPeer, 'shm peer');
    w.str(Tag.SHM_PEER, spec.shmPeer);
  }
  if (spec.upperDisk !== undefined) {
    if (!/^vd[a-z]$/.test(spec.upperDisk) && !/^[A-Za-z0-9-]{1,20}$/.test(spec.upperDisk))
      throw new InvalidArgumentError(`bad upper disk ${spec.upperDisk}: a virtio-blk device name or a serial`);
    w.str(Tag.UPPER_DISK, spec.upperDisk);
  }
  if (spec.imageDisk !== undefined) {
    if (spec.upperDisk === undefined || !/^[A-Za-z0-9-]{1,20}$/.test(spec.imageDisk))
      throw new InvalidArgumentError(`bad image disk ${spec.imageDisk}: a serial, with an upper disk`);
    w.str(Tag.IMAGE_DISK, spec.imageDisk);
  }
  if (spec.security) putContainerSecurity(w, spec.security);
  if (spec.dockerInit) w.u32(Tag.DOCKER_INIT, 1);
  return w;
}

/** START_PROCESS's own checks of `spec`: ids, argument, environment and group counts, cwd. */
export function checkProcess(spec: ProcessSpec): void {
  checkId(spec.containerId, 'container id');
  checkId(spec.processId, 'process id');
  if (spec.args.length < 1 || spec.args.length > Limits.MAX_ARGS || spec.args[0] === '') {
    throw new InvalidArgumentError(`a process needs 1 to ${Limits.MAX_ARGS} arguments`);
  }
  if (spec.env.length > Limits.MAX_ENV)
    throw new InvalidArgumentError(`more than ${Limits.MAX_ENV} environment variables`);
  if (spec.user.additionalGids.length > Limits.MAX_GROUPS) {
    throw new InvalidArgumentError(`more than ${Limits.MAX_GROUPS} supplementary groups`);
  }
  if (!spec.cwd.startsWith('/')) throw new InvalidArgumentError('the working directory must be an absolute path');
  const adj = spec.oomScoreAdj;
  if (adj !== undefined && (!Number.isInteger(adj) || adj < -1000 || adj > 1000))
    throw new InvalidArgumentError(`invalid oom_score_adj ${adj}: it must be between -1000 and 1000`);
}

/** START_PROCESS, checked by checkProcess (the process's handle is added by the caller). */
export function encodeProcess(spec: ProcessSpec, window: number): TlvWriter {
  const w = new TlvWriter()
    .str(Tag.CONTAINER_ID, spec.containerId)
    .str(Tag.PROCESS_ID, spec.processId)
    .strs(Tag.ARG, spec.args)
    .strs(Tag.ENV, spec.env)
    .str(Tag.CWD, spec.cwd, Limits.MAX_PATH)
    .u32(Tag.UID, spec.user.uid)
    .u32(Tag.GID, spec.user.gid)
    .u32(Tag.TERMINAL, spec.terminal ? 1 : 0)
    .u32(Tag.STDIN, spec.stdin ? 1 : 0)
    .u32(Tag.WINDOW, window);
  for (const g of spec.user.additionalGids) w.u32(Tag.GROUP, g);
  if (spec.terminal) w.u32(Tag.ROWS, checkTermSize(spec.rows ?? 24)).u32(Tag.COLS, checkTermSize(spec.cols ?? 80));
  if (spec.capabilities) putCapabilities(w, spec.capabilities);
  if (spec.noNewPrivs) w.u32(Tag.NO_NEW_PRIVS, 1);
  if (spec.rlimits) putRlimits(w, spec.rlimits);
  // A two's complement int32 in a u32.
  if (spec.oomScoreAdj !== undefined) w.u32(Tag.OOM_SCORE_ADJ, spec.oomScoreAdj >>> 0);
  if (w.length > Limits.MAX_CTL_PAYLOAD - 64)
    throw new InvalidArgumentError('process arguments and environment are too large');
  return w;
}

/** SIGNAL. */
export function encodeSignal(processId: string, signal: number): TlvWriter {
  checkId(processId, 'process id');
  if (!Number.isInteger(signal) || signal < 1 || signal > 64)
    throw new InvalidArgumentError(`invalid signal ${signal}`);
  return new TlvWriter().str(Tag.PROCESS_ID, processId).u32(Tag.SIGNAL, signal);
}

/** RESIZE. */
export function encodeResize(processId: string, rows: number, cols: number): TlvWriter {
  checkId(processId, 'process id');
  return new TlvWriter()
    .str(Tag.PROCESS_ID, processId)
    .u32(Tag.ROWS, checkTermSize(rows))
    .u32(Tag.COLS, checkTermSize(cols));
}

/** WRITE_FILE. */
export function encodeWriteFile(containerId: string, path: string, data: Buffer, mode: number): TlvWriter {
  checkId(containerId, 'container id');
  checkPath(path);
  if (data.length > Limits.MAX_FILE_SIZE)
    throw new InvalidArgumentError(`file larger than ${Limits.MAX_FILE_SIZE} bytes`);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new InvalidArgumentError(`invalid file mode ${mode}`);
  return new TlvWriter()
    .str(Tag.CONTAINER_ID, containerId)
    .str(Tag.PATH, path, Limits.MAX_PATH)
    .u32(Tag.MODE, mode)
    .bytes(Tag.DATA, data);
}

/** READ_FILE, and the most bytes its answer may carry (`limit`). */
export function encodeReadFile(containerId: string, path: string, maxBytes: number): { w: TlvWriter; limit: number } {
  checkId(containerId, 'container id');
  checkPath(path);
  if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new InvalidArgumentError(`invalid size limit ${maxBytes}`);
  const limit = Math.min(maxBytes, Limits.MAX_FILE_SIZE);
  const w = new TlvWriter()
    .str(Tag.CONTAINER_ID, containerId)
    .str(Tag.PATH, path, Limits.MAX_PATH)
    .u32(Tag.MAX_BYTES, limit);
  return { w, limit };
}

/** UNMOUNT. */
export function encodeUnmount(containerId: string, path: string): TlvWriter {
  checkId(containerId, 'container id');
  checkPath(path);
  return new TlvWriter().str(Tag.CONTAINER_ID, containerId).str(Tag.PATH, path, Limits.MAX_PATH);
}

/** ACTIVATE. */
export function encodeActivate(a: ActivateRequest): TlvWriter {
  if (a.entropy.length < 16 || a.entropy.length > 512)
    throw new InvalidArgumentError('ACTIVATE takes 16 to 512 bytes of entropy');
  const time = Buffer.alloc(8);
  time.writeBigUInt64LE(a.timeNs, 0);
  const w = new TlvWriter().bytes(Tag.TIME_NS, time).bytes(Tag.ENTROPY, a.entropy);
  if (a.mountShare) w.u32(Tag.MOUNT_SHARE, 1);
  return w;
}
