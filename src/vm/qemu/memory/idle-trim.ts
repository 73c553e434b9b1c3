/**
 * The zero-page trim of an idle VM (zero-trim.ts says why it is safe): pings the agent (every
 * earlier request is answered, the agent's channels are idle), waits TRIM_SETTLE_MS for
 * virtiofsd, then stops the VM, punches the guest RAM pages that hold only zeros out of its
 * memfd and, for a split-wx code buffer, TCG's code above the live code (jit-trim.ts), and lets
 * it run again. A clone's guest RAM is never punched (templates.ts), so for a clone only the
 * code buffer is trimmed, without the ping and the wait (they guard guest RAM only), and only
 * when something lies above its live code (jitTrimWorthwhile): otherwise the VM is not even
 * stopped.
 */
import type { Agent, VmSize } from '../../types';
import { UnavailableError } from '../../../errors';
import { withDeadline } from '../../../util/deadline';
import { logger } from '../../../util/log';
import { qmpCommand } from '../qmp';
import { findGuestMemfd, GUEST_MEMFD_LINK, punchZeroPages, whileStopped } from './zero-trim';
import { jitTrimWorthwhile, trimJitBuffer } from './jit-trim';
import { isOurProcess } from '../processes/processes';
import { QEMU_NAME } from '../processes/vm-processes';
import type { VmPaths } from '../runtime-dir';

const log = logger('vm');

/**
 * The pause between the agent's answer to the trim's ping and QMP `stop`, so that virtiofsd has
 * answered what the guest sent on its own after the last request (the FUSE release of a file a
 * finished container had open goes out asynchronously). See zero-trim.ts.
 */
export const TRIM_SETTLE_MS = 75;
/** How long the trim waits for the agent's answer to its ping. */
const TRIM_PING_TIMEOUT_MS = 5000;

/** The running VM a trim acts on. */
export interface IdleTrimTarget {
  id: string;
  pid: number;
  size: VmSize;
  agent: Agent;
}

/**
 * Trim the idle VM `vm` (see the module comment), whose runtime paths are `paths`; `stale`
 * says when the VM is going or being saved meanwhile, and the trim then does nothing more.
 * Throws on a failure (the caller logs it: it costs memory only). The caller must be the VM's
 * only user meanwhile.
 */
export async function trimIdleVm(
  vm: IdleTrimTarget,
  paths: Pick<VmPaths, 'qmpSock' | 'dir'>,
  kind: { clone: boolean; jitBufferBytes: number | undefined },
  stale: () => boolean,
): Promise<void> {
  // A paused guest would never answer the ping; trimGuestZeroPages checks again after it.
  const status = (await qmpCommand(paths.qmpSock, 'query-status')) as { status?: string } | undefined;
  if (status?.status !== 'running')
    throw new UnavailableError(`the VM is ${status?.status ?? 'in an unknown state'}, not running: not trimmed`);
  const jitBytes = kind.jitBufferBytes;
  if (kind.clone) {
    if (!jitBytes || !(await jitTrimWorthwhile(paths.qmpSock, vm.pid, jitBytes))) {
      log.debug(
        `VM ${vm.id}: nothing to trim (a clone's guest RAM stays the template's; no TCG code above the live code)`,
      );
      return;
    }
  } else {
    await withDeadline(vm.agent.ping(), TRIM_PING_TIMEOUT_MS, 'the agent did not answer a ping');
    await new Promise((r) => setTimeout(r, TRIM_SETTLE_MS));
  }
  if (stale() || !isOurProcess(vm.pid, QEMU_NAME, paths.dir)) return;
  const memoryBytes = vm.size.memoryMiB * 1048576;
  const { r, jit } = await whileStopped(paths.qmpSock, async () => ({
    r: kind.clone
      ? undefined
      : await punchZeroPages(findGuestMemfd(vm.pid, memoryBytes), GUEST_MEMFD_LINK, memoryBytes),
    jit: jitBytes ? await trimJitBuffer(paths.qmpSock, vm.pid, jitBytes) : undefined,
  }));
  const mib = (n: number) => (n / 1048576).toFixed(1);
  log.debug(
    `VM ${vm.id}: ` +
      (r
        ? `trimmed ${mib(r.punchedBytes)} of ${mib(r.allocatedBytes)} MiB of guest RAM (zero pages, ${r.ranges} ranges) in ${r.ms} ms`
        : 'guest RAM not trimmed (a clone)') +
      (jit ? `; TCG code buffer ${mib(jit.before)} -> ${mib(jit.after)} MiB (code ${mib(jit.codeBytes)} MiB)` : ''),
  );
}
