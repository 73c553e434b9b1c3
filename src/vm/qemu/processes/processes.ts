/**
 * Helper processes (QEMU, virtiofsd) that must outlive the daemon: started in their own
 * session with stdio going to files, watched through /proc when they are not our children.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { openVmFile } from '../../../util/jailed-files';

/**
 * Start `bin args` detached (own session and process group, so a daemon killed with SIGKILL or
 * a Ctrl-C on its terminal does not take it down), stdin from /dev/null, stdout and stderr
 * appended to `logFile`, and `extraFds` (the caller's, still the caller's to close) as its
 * fds 3, 4 and so on. Resolves once the process exists; rejects when it cannot be started.
 */
export function spawnDetached(
  bin: string,
  args: string[],
  logFile: string,
  extraFds: number[] = [],
  env?: Record<string, string>,
): Promise<ChildProcess> {
  // The log may be in a jail's reach already (a clone's lock holder starts after its QEMU).
  const fd = openVmFile(logFile, 'append-create');
  try {
    const child = spawn(bin, args, {
      detached: true,
      stdio: ['ignore', fd, fd, ...extraFds],
      ...(env ? { env: { ...process.env, ...env } } : {}),
    });
    child.unref();
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        child.off('error', reject);
        // An error after spawn (e.g. a failed kill) must not crash the daemon.
        child.on('error', () => undefined);
        resolve(child);
      });
    });
  } finally {
    fs.closeSync(fd);
  }
}

/** The process's state letter from /proc/<pid>/stat, or undefined when it does not exist. */
function procState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ..." where comm may contain spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** The parent pid of `pid` from /proc/<pid>/stat, or undefined when it is gone. */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** True while `pid` exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  const s = procState(pid);
  return s !== undefined && s !== 'Z' && s !== 'X';
}

/**
 * CPU time `pid` has used so far (user + system), in milliseconds, from /proc/<pid>/stat
 * (clock ticks, usually 10 ms); undefined when it is gone.
 */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces), from the last ')': state is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux this runs on). */
const CLOCK_TICKS = 100;

/** The argv of `pid`, or undefined when it is gone. */
export function processArgv(pid: number): string[] | undefined {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s, i, a) => i < a.length - 1 || s !== '');
  } catch {
    return undefined;
  }
}

/** Launchers that exec the program after their `--`: QEMU's jail (host/jail) and setpriv. */
const LAUNCHERS = ['podvisor-jail', 'setpriv'];

/**
 * The argv of the program a process runs or is about to run: QEMU starts as `podvisor-jail
 * <options> -- qemu-system-x86_64 ...` (jail.ts), or `setpriv <options> -- qemu-system-x86_64
 * ...` with the jail off (confinement.ts), and until the launcher has exec'd it (a few ms) its
 * /proc cmdline is the launcher's. A jail with a PID namespace of its own (jailed-process.ts)
 * stays as the program's supervisor with the launcher's cmdline: it counts as the program too. The part after a launcher's `--` is the program (seen
 * through again when it is itself a launcher); any other argv is returned as it is.
 */
export function programArgv(argv: string[]): string[] {
  if (argv.length === 0 || !LAUNCHERS.includes(path.basename(argv[0]))) return argv;
  const end = argv.indexOf('--');
  return end < 0 ? argv : programArgv(argv.slice(end + 1));
}

/**
 * True when `pid` is running and is the process we started: its program (programArgv: a launcher
 * about to exec QEMU counts as QEMU) ends with `binaryName` and one of its arguments contains
 * `marker` (the VM's runtime directory), so a recycled pid is never mistaken for our VM.
 */
export function isOurProcess(pid: number, binaryName: string, marker: string): boolean {
  if (!isRunning(pid)) return false;
  const raw = processArgv(pid);
  const argv = raw && programArgv(raw);
  if (!argv || argv.length === 0) return false;
  return argv[0].endsWith(binaryName) && argv.slice(1).some((a) => a.includes(marker));
}

/** Send `signal`, ignoring a process that is already gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Resolves when `pid` is gone (or a zombie), polling /proc every `intervalMs`. */
export function pollUntilGone(pid: number, intervalMs = 200): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const promise = new Promise<void>((resolve) => {
    const check = () => {
      if (cancelled) return;
      if (!isRunning(pid)) return resolve();
      timer = setTimeout(check, intervalMs);
      timer.unref();
    };
    check();
  });
  return {
    promise,
    cancel: () => {
      cancelled = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** Wait until `pid` is gone, at most `timeoutMs`. Resolves true when it is gone. */
export async function waitGone(pid: number, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return true;
}

/** SIGKILL `pid` and wait until it is gone (bounded). */
export async function killAndWait(pid: number, timeoutMs = 5000): Promise<boolean> {
  signalProcess(pid, 'SIGKILL');
  return waitGone(pid, timeoutMs);
}

/**
 * Set the nice value of every thread of `pid` (Linux nice values are per thread; threads
 * created later inherit their creator's). Best effort: returns false when any thread refused
 * (lowering a nice value needs CAP_SYS_NICE) or the process is gone.
 */
export function setProcessNice(pid: number, nice: number): boolean {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  let ok = true;
  for (const tid of tids) {
    try {
      os.setPriority(Number(tid), nice);
    } catch {
      ok = false;
    }
  }
  return ok;
}
