/**
 * The guest agent's processes (part of its contract, ./agent-types.ts, which re-exports these):
 * what starting one takes (spec, user, capabilities, rlimits), the handle and exit status it
 * gives back, re-attaching (listed processes, where output resumes) and the process table.
 */
import type { Readable, Writable } from 'node:stream';
import type { PeerCredentials } from './agent-socket-types';

/** User identity of a process inside a container. */
export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

/** Everything the agent needs to start a process in a container. */
export interface ProcessSpec {
  /** The container (mount namespace) to run in; created with Agent.createContainer. */
  containerId: string;
  /**
   * Host-chosen id of this process, unique in the VM. The container's first process is its
   * init: when it exits, every other process of the container is killed.
   */
  processId: string;
  /** argv; args[0] is looked up in PATH from env when it has no slash. */
  args: string[];
  /** KEY=VALUE strings. */
  env: string[];
  /** Working directory inside the container; created if missing. */
  cwd: string;
  user: ProcessUser;
  /** Allocate a pseudo-terminal (stdout carries both streams, stderr is null). */
  terminal: boolean;
  /** Initial terminal size, when terminal is true. */
  rows?: number;
  cols?: number;
  /** Keep stdin open for writing; when false the process gets /dev/null. */
  stdin: boolean;
  /** Its capability sets (as runc applies them); absent: every capability. */
  capabilities?: CapabilitySets;
  /** prctl(PR_SET_NO_NEW_PRIVS) before it execs. */
  noNewPrivs?: boolean;
  /** Resource limits set before it changes user (docker --ulimit); absent: the agent's own. */
  rlimits?: ProcessRlimit[];
  /** Its /proc/self/oom_score_adj, -1000..1000, set before it changes user; absent: the agent's. */
  oomScoreAdj?: number;
}

/** One resource limit of a process (setrlimit). */
export interface ProcessRlimit {
  /** The RLIMIT_* number (RLIMIT_NOFILE is 7). */
  resource: number;
  /** Soft and hard limit; -1 is unlimited (RLIM_INFINITY), as in Docker's Ulimit. */
  soft: number;
  hard: number;
}

/** A process's capability sets, each a bit mask (bit n = capability n; src/util/capabilities.ts). */
export interface CapabilitySets {
  bounding: number;
  effective: number;
  permitted: number;
  inheritable: number;
  ambient: number;
}

/** How a process ended, as Docker reports it. */
export interface ExitStatus {
  /** exit(n) gives n; death by signal s gives 128 + s (Docker's convention). */
  exitCode: number;
  /** The signal number when killed by one. */
  signal?: number;
  /** A container's init only: its cgroup saw an OOM kill during its life (State.OOMKilled). */
  oomKilled?: boolean;
}

/**
 * A process running in the guest. Its streams are flow-controlled end to end: when the
 * consumer of stdout does not read, the guest stops reading the process's pipe, so a fast
 * writer blocks instead of growing host memory.
 */
export interface AgentProcess {
  readonly processId: string;
  readonly containerId: string;
  /** Guest pid (in the VM's root pid namespace). */
  readonly pid: number;
  /** stdout (with TTY: the terminal's output). Ends after the process's last output. */
  readonly stdout: Readable;
  /** stderr; null with a TTY. */
  readonly stderr: Readable | null;
  /** stdin; null when ProcessSpec.stdin was false. end() closes the process's stdin. */
  readonly stdin: Writable | null;
  /**
   * Resolves with the exit status after stdout and stderr have delivered everything the
   * process wrote. Rejects with UnavailableError when the VM or agent dies first.
   */
  readonly exited: Promise<ExitStatus>;
  /**
   * Stream offsets its stdout and stderr start at: 0 for a new process, where the agent
   * continues (or re-sends from) for a re-attached one. Absent means 0.
   */
  readonly outputStart?: { stdout: number; stderr: number };
  /**
   * A connection of Agent.acceptSocket: the process in the guest that connected (the guest's
   * word). Absent for other processes, and from an agent that predates it.
   */
  readonly peer?: PeerCredentials;
}

/** A process the agent lists at a reattach (what a resume callback is asked about). */
export interface AgentProcessInfo {
  processId: string;
  containerId: string;
  pid: number;
  terminal: boolean;
}

/** Where a re-attached process's output should continue: the bytes the host has stored. */
export interface OutputResume {
  stdout: number;
  stderr: number;
  /**
   * Called (before the process is returned) when the agent no longer kept everything after
   * these offsets: `bytes` of that stream are lost, and the stream continues after them.
   */
  lost(stream: 'stdout' | 'stderr', bytes: number): void;
}

/** One process of a container as the agent reads it from the guest's /proc (PROCESS_TABLE). */
export interface GuestTask {
  /** Pid in the VM's root PID namespace (what inspect's State.Pid shows). */
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** Foreground process group of its terminal, 0 when none. */
  tpgid: number;
  /** Effective ids. */
  uid: number;
  gid: number;
  /** The state letter of /proc/<pid>/stat (R, S, D, Z, T, t, X, I...). */
  state: string;
  /** Start time, CPU times: clock ticks (GuestProcessTable.clockTicks per second). */
  startTicks: number;
  utime: number;
  stime: number;
  vszKiB: number;
  rssKiB: number;
  /** Controlling terminal as /proc's tty_nr (major << 8 | minor, high minor bits above), 0 = none. */
  tty: number;
  threads: number;
  /** Nice value, -20..19. */
  nice: number;
  /** Command name (/proc/<pid>/comm). */
  comm: string;
  /** Arguments (/proc/<pid>/cmdline, bounded); empty for kernel threads and zombies. */
  args: string[];
}

/** A container's processes (Agent.processTable), in ascending pid order. */
export interface GuestProcessTable {
  /** Clock ticks per second of the guest's times. */
  clockTicks: number;
  /** The guest's time since boot when it was read, in milliseconds. */
  uptimeMs: number;
  /** The VM's memory, KiB. */
  memTotalKiB: number;
  tasks: GuestTask[];
  /** True when the container had more processes than one answer holds. */
  truncated: boolean;
}
