/**
 * Finding every process of our VMs from /proc alone, whatever the daemon wrote or failed to
 * write before it died. Each VM process (QEMU, virtiofsd) is started with its runtime directory
 * `<execRoot>/vms/<id>/` in its argv (socket and log paths), and /proc/<pid>/cmdline outlives
 * the daemon: a scan for our binaries whose argv names a directory under OUR exec root finds
 * them all, and never a process of another daemon with another exec root (the match is on the
 * path with its trailing slash). See docs/architecture.md, "How a VM is recorded and reconciled".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isRunning, processArgv, programArgv } from './processes';
import { JAIL_NAME } from '../confinement/jailed-process';
import { isValidVmId, vmsRoot } from '../runtime-dir';

/** argv[0] suffixes that identify our helper processes in /proc (see processes.isOurProcess). */
export const QEMU_NAME = 'qemu-system-x86_64';
export const VIRTIOFSD_NAME = 'virtiofsd';

/** One live process of one of our VMs. */
export interface VmProcess {
  pid: number;
  /** The VM id: the runtime directory named in its argv. */
  vmId: string;
  kind: 'qemu' | 'virtiofsd';
  /**
   * The jail's supervisor of that process (jailed-process.ts: the jail with a PID namespace of
   * its own stays as the program's parent, with the jail's argv), not the program itself.
   */
  supervisor?: true;
}

/** The VM id named by `argv` when it is QEMU or virtiofsd of a VM under `execRoot`. */
export function vmOfArgv(raw: string[], execRoot: string): { vmId: string; kind: VmProcess['kind'] } | undefined {
  // QEMU's setpriv, before it has exec'd QEMU, is QEMU already: same pid, same arguments.
  const argv = programArgv(raw);
  if (argv.length === 0) return undefined;
  const bin = path.basename(argv[0]);
  const kind = bin.endsWith(QEMU_NAME) ? 'qemu' : bin.endsWith(VIRTIOFSD_NAME) ? 'virtiofsd' : undefined;
  if (!kind) return undefined;
  const prefix = vmsRoot(execRoot) + path.sep;
  for (const a of argv.slice(1)) {
    const i = a.indexOf(prefix);
    if (i < 0) continue;
    const vmId = a.slice(i + prefix.length).split(/[/,]/)[0];
    if (isValidVmId(vmId)) return { vmId, kind };
  }
  return undefined;
}

/** Every running QEMU and virtiofsd of a VM under `execRoot` (a /proc scan, a few ms). */
export function scanVmProcesses(execRoot: string): VmProcess[] {
  const out: VmProcess[] = [];
  for (const { pid, argv } of liveProcesses()) {
    const hit = vmOfArgv(argv, execRoot);
    if (hit && isRunning(pid)) out.push({ pid, ...hit, ...(isSupervisor(pid, argv) ? { supervisor: true } : {}) });
  }
  return out;
}

/**
 * True when `pid`, whose argv is `argv`, is a jail in this daemon's PID namespace: a program's
 * supervisor (or, for the few ms before it forks, a jail about to start one). The program
 * itself, pid 1 of a namespace of its own, shows the jail's argv only until it has exec'd.
 */
function isSupervisor(pid: number, argv: string[]): boolean {
  if (path.basename(argv[0] ?? '') !== JAIL_NAME) return false;
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`) === fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return false;
  }
}

/** Every other process of this host with its argv, from /proc (those that vanish meanwhile are left out). */
export function liveProcesses(): Array<{ pid: number; argv: string[] }> {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const out: Array<{ pid: number; argv: string[] }> = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const argv = processArgv(pid);
    if (argv) out.push({ pid, argv });
  }
  return out;
}
