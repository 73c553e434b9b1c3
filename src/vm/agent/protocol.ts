/**
 * The TypeScript mirror of guest/include/podvisor_agent.h, the host <-> guest agent protocol
 * contract. The header is the source of truth and explains framing, flow control and
 * sessions; test/unit/vm/protocol-contract.test.ts parses it and checks that every constant
 * here agrees, in both directions. Change both files together, append-only.
 */

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
  MAX_PROCESSES: 1024,
  MAX_CONTAINERS: 64,
  STDIN_WINDOW: 262144,
  MIN_WINDOW: 4096,
  MAX_WINDOW: 16777216,
  OUTPUT_KEEP: 524288,
  MAX_SECONDARY: 8,
  MAX_CMDLINE: 4096,
  MAX_TOP_PROCESSES: 4096,
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
  // 44-47: reserved for work in progress elsewhere.
  ARCHIVE: 48,
} as const;

/** The `aux` field of stream-channel frames (PV_STREAM_<NAME>). */
export const Stream = {
  STDIN: 0,
  STDOUT: 1,
  STDERR: 2,
} as const;

/** TLV field tags (PV_TAG_<NAME>). */
export const Tag = {
  PROTOCOL: 1,
  AGENT: 2,
  CODE: 3,
  ERRNO: 4,
  MESSAGE: 5,
  CONTAINER_ID: 6,
  ROOTFS: 7,
  HOSTNAME: 8,
  PROCESS_ID: 9,
  HANDLE: 10,
  ARG: 11,
  ENV: 12,
  CWD: 13,
  UID: 14,
  GID: 15,
  GROUP: 16,
  TERMINAL: 17,
  ROWS: 18,
  COLS: 19,
  STDIN: 20,
  WINDOW: 21,
  PID: 22,
  SIGNAL: 23,
  EXIT_CODE: 24,
  PATH: 25,
  MODE: 26,
  DATA: 27,
  MAX_BYTES: 28,
  PROCESS: 29,
  STDIN_RECEIVED: 30,
  STDIN_LIMIT: 31,
  STDOUT_SENT: 32,
  STDERR_SENT: 33,
  EXITED: 34,
  MEMORY_MAX: 35,
  CPU_QUOTA: 36,
  CPU_PERIOD: 37,
  OOM_KILLED: 38,
  MEMORY_USAGE: 39,
  MEMORY_LIMIT: 40,
  MEMORY_CACHE: 41,
  IFNAME: 42,
  MAC: 43,
  ADDRESS: 44,
  PREFIX: 45,
  MTU: 46,
  LINK_UP: 47,
  GATEWAY: 48,
  DESTINATION: 49,
  INTERFACE: 50,
  FSTYPE: 51,
  SOURCE: 52,
  SUBPATH: 53,
  MOUNT_FLAGS: 54,
  FS_OPTIONS: 55,
  STDOUT_DURABLE: 60,
  STDERR_DURABLE: 61,
  STDOUT_FROM: 62,
  STDERR_FROM: 63,
  SHARE_NS: 64,
  PID_PEER: 65,
  SET_MAC: 66,
  TIME_NS: 67,
  ENTROPY: 68,
  MOUNT_SHARE: 69,
  SECONDARY: 70,
  TASK: 71,
  PPID: 72,
  STATE: 73,
  START_TICKS: 74,
  UTIME: 75,
  STIME: 76,
  VSZ: 77,
  RSS: 78,
  TTY: 79,
  COMM: 80,
  CMDLINE: 81,
  THREADS: 82,
  NICE: 83,
  PGID: 84,
  SID: 85,
  TPGID: 86,
  CLOCK_TICKS: 87,
  UPTIME: 88,
  MEM_TOTAL: 89,
  TRUNCATED: 90,
  LAST_OP: 91,
  ADDRESS6: 92,
  PREFIX6: 93,
  DESTINATION6: 94,
  GATEWAY6: 95,
  UPPER_DISK: 96,
  ARCHIVE_KIND: 140,
  ARCHIVE_NAME: 141,
  ARCHIVE_FLAGS: 142,
} as const;

/** Value type of a TLV field; `[]` means the tag may repeat. */
export type TagValueType = 'u32' | 'u64' | 'str' | 'str[]' | 'u32[]' | 'bytes' | 'tlv[]';

/** The value type of every tag (the first word of each tag's comment in the header). */
export const TAG_TYPES: Readonly<Record<number, TagValueType>> = {
  [Tag.PROTOCOL]: 'u32',
  [Tag.AGENT]: 'str',
  [Tag.CODE]: 'u32',
  [Tag.ERRNO]: 'u32',
  [Tag.MESSAGE]: 'str',
  [Tag.CONTAINER_ID]: 'str',
  [Tag.ROOTFS]: 'str',
  [Tag.HOSTNAME]: 'str',
  [Tag.PROCESS_ID]: 'str',
  [Tag.HANDLE]: 'u32',
  [Tag.ARG]: 'str[]',
  [Tag.ENV]: 'str[]',
  [Tag.CWD]: 'str',
  [Tag.UID]: 'u32',
  [Tag.GID]: 'u32',
  [Tag.GROUP]: 'u32[]',
  [Tag.TERMINAL]: 'u32',
  [Tag.ROWS]: 'u32',
  [Tag.COLS]: 'u32',
  [Tag.STDIN]: 'u32',
  [Tag.WINDOW]: 'u32',
  [Tag.PID]: 'u32',
  [Tag.SIGNAL]: 'u32',
  [Tag.EXIT_CODE]: 'u32',
  [Tag.PATH]: 'str',
  [Tag.MODE]: 'u32',
  [Tag.DATA]: 'bytes',
  [Tag.MAX_BYTES]: 'u32',
  [Tag.PROCESS]: 'tlv[]',
  [Tag.STDIN_RECEIVED]: 'u64',
  [Tag.STDIN_LIMIT]: 'u64',
  [Tag.STDOUT_SENT]: 'u64',
  [Tag.STDERR_SENT]: 'u64',
  [Tag.EXITED]: 'u32',
  [Tag.MEMORY_MAX]: 'u64',
  [Tag.CPU_QUOTA]: 'u64',
  [Tag.CPU_PERIOD]: 'u64',
  [Tag.OOM_KILLED]: 'u32',
  [Tag.MEMORY_USAGE]: 'u64',
  [Tag.MEMORY_LIMIT]: 'u64',
  [Tag.MEMORY_CACHE]: 'u64',
  [Tag.IFNAME]: 'str',
  [Tag.MAC]: 'bytes',
  [Tag.SET_MAC]: 'bytes',
  [Tag.TIME_NS]: 'u64',
  [Tag.ENTROPY]: 'bytes',
  [Tag.MOUNT_SHARE]: 'u32',
  [Tag.SECONDARY]: 'tlv[]',
  [Tag.ADDRESS6]: 'bytes',
  [Tag.PREFIX6]: 'u32',
  [Tag.DESTINATION6]: 'bytes',
  [Tag.GATEWAY6]: 'bytes',
  [Tag.ADDRESS]: 'bytes',
  [Tag.PREFIX]: 'u32',
  [Tag.MTU]: 'u32',
  [Tag.LINK_UP]: 'u32',
  [Tag.GATEWAY]: 'bytes',
  [Tag.DESTINATION]: 'bytes',
  [Tag.INTERFACE]: 'tlv[]',
  [Tag.FSTYPE]: 'str',
  [Tag.SOURCE]: 'str',
  [Tag.SUBPATH]: 'str',
  [Tag.MOUNT_FLAGS]: 'u32',
  [Tag.FS_OPTIONS]: 'str',
  [Tag.STDOUT_DURABLE]: 'u64',
  [Tag.STDERR_DURABLE]: 'u64',
  [Tag.STDOUT_FROM]: 'u64',
  [Tag.STDERR_FROM]: 'u64',
  [Tag.SHARE_NS]: 'u32',
  [Tag.PID_PEER]: 'str',
  [Tag.UPPER_DISK]: 'str',
  [Tag.TASK]: 'tlv[]',
  [Tag.PPID]: 'u32',
  [Tag.STATE]: 'str',
  [Tag.START_TICKS]: 'u64',
  [Tag.UTIME]: 'u64',
  [Tag.STIME]: 'u64',
  [Tag.VSZ]: 'u64',
  [Tag.RSS]: 'u64',
  [Tag.TTY]: 'u32',
  [Tag.COMM]: 'bytes',
  [Tag.CMDLINE]: 'bytes',
  [Tag.THREADS]: 'u32',
  [Tag.NICE]: 'u32',
  [Tag.PGID]: 'u32',
  [Tag.SID]: 'u32',
  [Tag.TPGID]: 'u32',
  [Tag.CLOCK_TICKS]: 'u32',
  [Tag.UPTIME]: 'u64',
  [Tag.MEM_TOTAL]: 'u64',
  [Tag.TRUNCATED]: 'u32',
  [Tag.LAST_OP]: 'u32',
  [Tag.ARCHIVE_KIND]: 'u32',
  [Tag.ARCHIVE_NAME]: 'str',
  [Tag.ARCHIVE_FLAGS]: 'u32',
};

/** Bits of the MOUNT_FLAGS field (PV_MOUNT_<NAME>). */
export const MountFlag = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
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
  SHARE_TAG: 'podvisor',
  SHARE_MOUNT: '/run/podvisor/share',
  DEFAULT_PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
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
