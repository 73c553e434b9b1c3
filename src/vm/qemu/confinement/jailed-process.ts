/**
 * A VM process (QEMU, virtiofsd, the lock holder) started in its jail with PID and network
 * namespaces of its own (host/jail `--pid-ns --net-ns`). In its network namespace it reaches
 * nothing of the host's network: no service on the host's loopback, no abstract unix socket
 * (the containerd-shim CVE-2020-15257 class), no metadata endpoint; what it talks to is its
 * taps, made by the jail in the host's namespace before it left it and held as fds, and unix
 * sockets that are files in its VM directory (QMP, the agent's ports, virtiofsd's, the lock
 * holder's, a saved state's), which a network namespace does not bound. The jail forks, its
 * child is pid 1 of the new namespace and execs the program, and the jail itself stays behind
 * as the program's supervisor, with no capabilities and no fd but its stdio. The supervisor is
 * the daemon's child: it forwards SIGTERM and the like to the program and ends as the program
 * ends (the same exit code or signal), so the child's exit event still says how the program
 * ended; a SIGKILL of the supervisor kills the program too (its parent-death signal).
 *
 * The daemon tracks the program by its host pid (kill, /proc/<pid>/..., vm.json): found here
 * once, as the supervisor's only child (/proc/<pid>/task/<pid>/children), and registered for
 * the ChildProcess (programPid). After a daemon restart the supervisor is found again as the
 * program's parent (jailSupervisorOf).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { UnavailableError } from '../../../errors';
import { isRunning, parentPid, processArgv, spawnDetached, waitGone, signalProcess } from '../processes/processes';

/** The jail's binary name (host/jail), as its supervisors show in /proc. */
export const JAIL_NAME = 'podvisor-jail';

/** The program's host pid of each supervisor the daemon started. */
const programPids = new WeakMap<ChildProcess, number>();

/**
 * The jail's namespace options beyond its mount and IPC namespaces. PODVISOR_JAIL_NETNS=0
 * leaves the network namespace out, for measuring what it costs only (bench/jail.ts), as
 * PODVISOR_JAIL=0 does the whole jail.
 */
function namespaceArgs(): string[] {
  return process.env.PODVISOR_JAIL_NETNS === '0' ? ['--pid-ns'] : ['--pid-ns', '--net-ns'];
}

/** How long the jail may take to fork its program (a few ms; more under load). */
const FORK_TIMEOUT_MS = 10_000;

/**
 * Start `bin args` in the jail `jailBin` with `jailArgs` (its paths, cgroup, capabilities) and
 * PID and network namespaces of its own, detached as spawnDetached starts it (same log, extra
 * fds, env). Resolves with the supervisor once the program's process exists (programPid gives its host
 * pid); rejects when the jail ends before it forked (the reason is in `logFile`).
 */
export async function spawnInPidNamespace(
  jailBin: string,
  jailArgs: string[],
  bin: string,
  args: string[],
  logFile: string,
  extraFds: number[] = [],
  env?: Record<string, string>,
): Promise<ChildProcess> {
  const child = await spawnDetached(
    jailBin,
    [...jailArgs, ...namespaceArgs(), '--', bin, ...args],
    logFile,
    extraFds,
    env,
  );
  const supervisor = child.pid!;
  const deadline = Date.now() + FORK_TIMEOUT_MS;
  for (;;) {
    const pid = onlyChild(supervisor);
    if (pid !== undefined) {
      programPids.set(child, pid);
      return child;
    }
    if (child.exitCode !== null || child.signalCode !== null || !isRunning(supervisor))
      throw new UnavailableError(`${path.basename(bin)}'s jail ended before starting it (see ${logFile})`);
    if (Date.now() > deadline) {
      signalProcess(supervisor, 'SIGKILL');
      throw new UnavailableError(`${path.basename(bin)}'s jail did not start it within ${FORK_TIMEOUT_MS} ms`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** The one child of `pid`, or undefined while it has none. */
function onlyChild(pid: number): number | undefined {
  try {
    const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return children ? Number(children.split(' ')[0]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The host pid of the program a spawned process runs: the jailed program's when `child` is a
 * supervisor spawnInPidNamespace started, else the child's own (a program that exec'd in place).
 */
export function programPid(child: ChildProcess): number {
  return programPids.get(child) ?? child.pid!;
}

/**
 * The supervisor of jailed program `pid` (its parent, when that is a jail whose argv names
 * `marker`, the VM's directory), or undefined (not jailed, or the supervisor is gone).
 */
export function jailSupervisorOf(pid: number, marker: string): number | undefined {
  const parent = parentPid(pid);
  if (!parent || parent === process.pid || !isRunning(parent)) return undefined;
  const argv = processArgv(parent);
  if (!argv || path.basename(argv[0] ?? '') !== JAIL_NAME) return undefined;
  return argv.some((a) => a.includes(marker)) ? parent : undefined;
}

/**
 * SIGKILL a spawned process's program and the process itself (a jail's supervisor), and wait
 * until both are gone (bounded). Resolves true when they are.
 */
export async function killSpawned(child: ChildProcess, timeoutMs = 5000): Promise<boolean> {
  const pids = [...new Set([programPid(child), child.pid!])];
  for (const pid of pids) signalProcess(pid, 'SIGKILL');
  let gone = true;
  for (const pid of pids) gone = (await waitGone(pid, timeoutMs)) && gone;
  return gone;
}

/** Wait (bounded) until the supervisors `pids` are gone once their programs are: SIGKILL after `graceMs`. */
export async function endSupervisors(pids: number[], graceMs = 1000): Promise<void> {
  for (const pid of pids) {
    if (!(await waitGone(pid, graceMs))) {
      signalProcess(pid, 'SIGKILL');
      await waitGone(pid, 5000);
    }
  }
}
