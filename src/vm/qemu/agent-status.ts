/**
 * The agent's status port (PV_PORT_STATUS_NAME): the host's sign that the agent has seen its
 * host leave. QEMU writes what the agent sends on that virtio-serial port to a file in the
 * VM's run/ (which QEMU may write, so the daemon reads it only through a checked descriptor:
 * ../../util/jailed-files.ts): one line per channel the host left, its name, written once the agent has
 * dropped what the channel held (guest/agent/channel.c). A template is saved, and a restored
 * checkpoint's agent connected to, only after both lines (./snapshots).
 *
 * Only the agent holds the port (a port has one opener at a time, and no container's device
 * cgroup admits it but a privileged one's, whose VM is its own), so no container can forge the
 * sign. The VM's serial console (console.log) is not such a channel: a process that can open
 * the VM's console can write any line there, so console lines only make error messages richer
 * and never drive what the host does (docs/security.md).
 */
import * as path from 'node:path';
import { UnavailableError } from '../../errors';
import { readVmFile, vmFileSize } from '../../util/jailed-files';
import type { VmPaths } from './runtime-dir';

/** The status port's host end in a VM's run/. */
export const AGENT_STATUS_FILE = 'agent-status';

/** The most of the status file read (an honest agent writes a few lines per save or restore). */
const STATUS_READ_MAX = 64 * 1024;

/** The channels the agent reports its host's leaving of, by the names it writes. */
const HOST_LEFT = ['control', 'stream'] as const;

/** The path of VM `paths`'s status file. */
export function agentStatusFile(paths: Pick<VmPaths, 'runDir'>): string {
  return path.join(paths.runDir, AGENT_STATUS_FILE);
}

/** How many bytes the status file holds now (0 when not there yet): where a wait starts. */
export function agentStatusBytes(paths: Pick<VmPaths, 'runDir'>): number {
  return vmFileSize(agentStatusFile(paths));
}

/** Whether status text `text` reports the host's leaving of both channels. */
export function hostLeftBoth(text: string): boolean {
  const lines = new Set(text.split('\n'));
  return HOST_LEFT.every((c) => lines.has(c));
}

/**
 * Wait until the agent reports (after the first `fromByte` bytes of its status) that it has
 * seen its host leave both channels; UnavailableError naming `who` after `timeoutMs`.
 */
export async function waitForHostLeft(
  paths: Pick<VmPaths, 'runDir'>,
  timeoutMs: number,
  who: string,
  fromByte = 0,
): Promise<void> {
  const file = agentStatusFile(paths);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Not written yet, or not a regular file of its own (a planted link or FIFO): nothing reported.
    const text = (readVmFile(file, STATUS_READ_MAX) ?? Buffer.alloc(0)).subarray(fromByte).toString('utf8');
    if (hostLeftBoth(text)) return;
    if (Date.now() > deadline)
      throw new UnavailableError(`${who} did not report its host gone from both channels within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
