/**
 * Leak checks shared by tests: QEMU and virtiofsd processes, and mounts, left behind.
 */
import * as fs from 'node:fs';

/** A process of interest: pid and command line. */
export interface ProcInfo {
  pid: number;
  cmdline: string;
}

/** Every qemu-system or virtiofsd process on the machine. */
export function listVmProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmd: string;
    try {
      cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    if (/qemu-system|virtiofsd/.test(cmd.split(' ')[0])) out.push({ pid: Number(name), cmdline: cmd });
  }
  return out;
}

/** Mount points whose path starts with `prefix`. */
export function mountsUnder(prefix: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && p.startsWith(prefix));
}
