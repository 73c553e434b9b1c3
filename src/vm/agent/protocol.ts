/**
 * The TypeScript mirror of guest/include/podvisor_agent.h, the host <-> guest agent protocol
 * contract. The header is the source of truth and explains framing, flow control and
 * sessions; test/unit/vm/protocol-contract.test.ts parses it and checks that every constant
 * here agrees, in both directions. Change both files together, append-only. The TLV tags and
 * their value types are in ./protocol-tags.ts, re-exported here.
 */

export { Tag, TAG_TYPES, type TagValueType } from './protocol-tags';

/** PV_PROTOCOL_VERSION: host and agent must be equal. */
export const PROTOCOL_VERSION = 1;

/** Sizes and limits (PV_<NAME>). */
export const Limits = {
  HEADER_SIZE: 12,
  TLV_HEADER_SIZE: 8,
  NONCE_SIZE: 16,
  MAX_CTL_PAYLOAD: 1114112,
  MAX_IO_PAYLOAD: 65536,
  MAX_FILE_SIZE: 1048576,
  MAX_STRING: 131072,
  MAX_ID: 128,
  MAX_PATH: 4096,
  MAX_ARGS: 1024,
  MAX_ENV: 1024,
  MAX_GROUPS: 64,
  MAX_RLIMITS: 16,
  MAX_DEVICE_RULES: 128,
  MAX_DEVICE_NODES: 16,
  MAX_PROCESSES: 1024,
  MAX_CONTAINERS: 64,
  STDIN_WINDOW: 262144,
  MIN_WINDOW: 4096,
  MAX_WINDOW: 16777216,
  OUTPUT_KEEP: 524288,
  MAX_SECONDARY: 8,
  MAX_CMDLINE: 4096,
  MAX_TOP_PROCESSES: 4096,
  MAX_SECCOMP_RULES: 1024,
  MAX_SECCOMP_SYSCALLS: 1024,
} as const;

/** Frame types that are not requests (PV_FRAME_<NAME>). */
export const FrameType = {
  SYNC: 1,
  SYNC_REPLY: 2,
  ACK: 3,
  ERROR: 4,
  EXIT: 5,
  DATA: 6,
  EOF: 7,
  CREDIT: 8,
} as const;

/** Control-channel request opcodes, host -> agent (PV_OP_<NAME>). */
export const Op = {
  VERSION: 16,
  PING: 17,
  CREATE_CONTAINER: 18,
  DESTROY_CONTAINER: 19,
  START_PROCESS: 20,
  SIGNAL: 21,
  RESIZE: 22,
  WRITE_FILE: 23,
  READ_FILE: 24,
  LIST_PROCESSES: 25,
  SHUTDOWN: 26,
  UPDATE_RESOURCES: 27,
  MEMORY_STATS: 28,
  CONFIGURE_INTERFACE: 29,
  ADD_ROUTE: 30,
  LIST_INTERFACES: 31,
  MOUNT: 32,
  UNMOUNT: 33,
  RESUME_OUTPUT: 40,
  CLEAN_POD: 41,
  ACTIVATE: 42,
  PROCESS_TABLE: 43,
  SET_SECCOMP: 46,
  DISK_USAGE: 53,
  // 44-47: reserved for work in progress elsewhere.
  ARCHIVE: 48,
  // 54-57: left for other work in progress.
  SOCKET_LISTEN: 58,
  SOCKET_ACCEPT: 59,
  SOCKET_EVENT: 60,
  SOCKET_ANSWER: 61,
  SOCKET_DIAL: 62,
  FILE_EVENT: 63,
  RELEASE_SHARE: 64,
  RENAME_CONTAINER: 65,
  READY_DISK: 66,
  DROP_READY_DISK: 67,
} as const;

/** The `aux` field of stream-channel frames (PV_STREAM_<NAME>). */
export const Stream = {
  STDIN: 0,
  STDOUT: 1,
  STDERR: 2,
} as const;

/** SOCKET_EVENT's kinds (PV_SOCKET_EVENT_<NAME>). */
export const SocketEvent = {
  CONNECT: 1,
  BOUND: 2,
  WATCH: 3,
} as const;

/** Bits of the MOUNT_FLAGS field (PV_MOUNT_<NAME>). */
export const MountFlag = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
} as const;

/** Seccomp actions of SET_SECCOMP's SECCOMP_DEFAULT and SECCOMP_ACTION (PV_SECCOMP_ACT_<NAME>). */
export const SeccompAct = {
  NONE: 0,
  ALLOW: 1,
  ERRNO: 2,
  KILL_THREAD: 3,
  KILL_PROCESS: 4,
  TRAP: 5,
  TRACE: 6,
  LOG: 7,
} as const;

/** Comparisons of a SECCOMP_ARG (PV_SECCOMP_CMP_<NAME>). */
export const SeccompCmp = {
  NE: 1,
  LT: 2,
  LE: 3,
  EQ: 4,
  GE: 5,
  GT: 6,
  MASKED_EQ: 7,
} as const;

/** What an ARCHIVE request does (PV_ARCHIVE_<NAME>). */
export const ArchiveKind = {
  STAT: 1,
  GET: 2,
  PUT: 3,
  EXPORT: 4,
  LAYER: 5,
} as const;

/** Bits of ARCHIVE_FLAGS (PV_ARCHIVE_F_<NAME>). */
export const ArchiveFlag = {
  FOLLOW: 1,
  NO_OVERWRITE_DIR: 2,
  HEADERS_ONLY: 4,
  CHOWN: 8,
  FREEZE: 16,
} as const;

/** Error classes of ERROR frames (PV_ERR_<NAME>). */
export const ErrorCode = {
  INVALID: 1,
  NOT_FOUND: 2,
  CONFLICT: 3,
  UNAVAILABLE: 4,
  TOO_LARGE: 5,
  PERMISSION: 6,
} as const;

/** String constants (PV_<NAME> string defines). */
export const Names = {
  PORT_CTL_NAME: 'org.podvisor.ctl',
  PORT_IO_NAME: 'org.podvisor.io',
  PORT_LOCKS_NAME: 'org.podvisor.locks',
  PORT_STATUS_NAME: 'org.podvisor.status',
  SHARE_TAG: 'podvisor',
  SHARE_MOUNT: '/run/podvisor/share',
  LAYERS_TAG: 'podvisor-layers',
  DEFAULT_PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  DOCKER_INIT_PATH: '/sbin/docker-init',
  POD_PAUSE_PATH: '/pause',
} as const;

/** True for frame types the agent may send on the control channel. */
export function isCtlFrameFromAgent(type: number): boolean {
  return type === FrameType.SYNC_REPLY || type === FrameType.ACK || type === FrameType.ERROR || type === FrameType.EXIT;
}

/** True for frame types the agent may send on the stream channel. */
export function isIoFrameFromAgent(type: number): boolean {
  return (
    type === FrameType.SYNC_REPLY || type === FrameType.DATA || type === FrameType.EOF || type === FrameType.CREDIT
  );
}
