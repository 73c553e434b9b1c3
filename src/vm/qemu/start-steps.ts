/**
 * The steps a VM start is made of, shared by a boot and a clone (hypervisor.ts): watching a
 * child's exit, waiting for a socket, racing a step against QEMU's death and a deadline, the
 * error detail of a failed start, and the removal of its runtime directory.
 */
import * as fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { UnavailableError } from '../../errors';
import { logger } from '../../util/log';
import type { VmPaths } from './runtime-dir';
import { isRunning } from './processes/processes';
import { removeRuntimeDir, tailLines } from './host-files';
import { readVmFile } from '../../util/jailed-files';
import type { ProcessEnd } from './qemu-vm-init';

const log = logger('vm');

/** The most of a console log waitForConsole reads (the daemon trims it past 1 MiB: qemu-vm.ts). */
const CONSOLE_READ_MAX = 8 * 1024 * 1024;

/** Resolves with the child's exit (never rejects). */
export function childEnd(child: ChildProcess): Promise<ProcessEnd> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Wait until `sock` exists; fail early when the process that should create it exits. */
export async function waitForSocket(sock: string, child: ChildProcess, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(sock)) {
    if (child.exitCode !== null || child.signalCode !== null || !isRunning(child.pid!)) {
      throw new UnavailableError(`${what} exited before listening on ${sock}`);
    }
    if (Date.now() > deadline) throw new UnavailableError(`${what} did not create ${sock} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `step` (by default the agent's handshake), unless QEMU exits first or the deadline passes. */
export async function raceBoot<T>(
  step: Promise<T>,
  end: Promise<ProcessEnd>,
  deadlineMs: number,
  what = 'the agent answered',
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${deadlineMs} ms: ${what}`)), deadlineMs);
  });
  const died = end.then((e): never => {
    const how = e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
    throw new Error(`QEMU ${how} before ${what}`);
  });
  try {
    return await Promise.race([step, died, timeout]);
  } finally {
    clearTimeout(timer);
    died.catch(() => undefined);
  }
}

/** The logs' last lines, for an error message a user can act on. */
export function bootFailureDetail(paths: VmPaths): string {
  let out = '';
  const qemuLines = tailLines(paths.qemuLog, 5);
  if (qemuLines.length) out += `\nQEMU said:\n${qemuLines.join('\n')}`;
  const vfsLines = tailLines(paths.virtiofsdLog, 5).filter((l) => !/virtio_loop|Waiting for vhost-user/.test(l));
  if (vfsLines.length) out += `\nvirtiofsd said:\n${vfsLines.join('\n')}`;
  const con = tailLines(paths.consoleLog, 20);
  out += con.length ? `\nlast console lines:\n${con.join('\n')}` : '\n(the guest printed nothing on its console)';
  return out;
}

/** Remove a VM's runtime directory (after its processes are gone). */
export async function cleanupDir(paths: VmPaths): Promise<void> {
  try {
    await removeRuntimeDir(paths.dir);
  } catch (err) {
    log.error(`cannot remove ${paths.dir}: ${(err as Error).message}`);
  }
}

/** What the agent logs once its host has left both channels (a VM about to be saved, or just restored from a save made while connected). */
export const HOST_LEFT_LINES: readonly RegExp[] = [/host left the control channel/, /host left the stream channel/];

/**
 * Wait until every pattern matches a line of console log `file` (of what follows its first
 * `fromByte` bytes); UnavailableError naming `who` and the lines missing after `timeoutMs`.
 */
export async function waitForConsole(
  file: string,
  patterns: readonly RegExp[],
  timeoutMs: number,
  who: string,
  fromByte = 0,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Not written yet, or not a file to read (../../util/jailed-files.ts): nothing logged.
    const text = (readVmFile(file, CONSOLE_READ_MAX) ?? Buffer.alloc(0)).subarray(fromByte).toString('utf8');
    if (patterns.every((p) => p.test(text))) return;
    if (Date.now() > deadline)
      throw new UnavailableError(
        `${who} did not log ${patterns.filter((p) => !p.test(text)).join(', ')} within ${timeoutMs} ms`,
      );
    await new Promise((r) => setTimeout(r, 10));
  }
}
