/**
 * The fork template of a checkpoint whose VM held joined containers (`--network container:X`,
 * ./fork-template.ts): before the template is saved, its agent destroys each of them and its
 * QEMU unplugs their disks. Every VM started from the template (a restore, a fork) is then the
 * saved container's alone, as runc's restore of a checkpoint brings back the container's own
 * processes only; a joined container that is started again joins the restored VM anew.
 */
import { detachJoinedFiles } from '../../devices/joined-disks-qmp';
import type { ProcessEnd } from '../qemu-vm-init';
import { withQmp } from '../qmp';
import { vmFileSize } from '../../../util/jailed-files';
import { HOST_LEFT_LINES, raceBoot, waitForConsole } from '../start-steps';
import type { StartHost } from '../start-host';
import type { CloneLayout, SavedJoinedDisks } from './clone-layout';

/**
 * Destroy the `joined` containers in the template's guest (running, its state loaded, its agent
 * past its old host's leaving), unplug their disks, and wait until the agent has seen this
 * host leave again: the template is saved as one with no host, as before.
 */
export async function dropJoinedContainers(
  h: StartHost,
  layout: CloneLayout,
  processEnd: Promise<ProcessEnd>,
  joined: ReadonlyArray<SavedJoinedDisks>,
): Promise<void> {
  const { paths } = layout;
  const logged = consoleBytes(paths.consoleLog);
  const agent = await raceBoot(
    h.opts.connectAgent({ ctlPath: paths.ctlSock, ioPath: paths.ioSock, timeoutMs: h.bootTimeoutMs }),
    processEnd,
    h.bootTimeoutMs + 1000,
    "the fork template's agent answered",
  );
  try {
    // Bounded as the agent's handshake is: the guest is the saved one, and may never answer.
    await raceBoot(
      (async () => {
        for (const j of joined) await agent.destroyContainer(j.containerId);
      })(),
      processEnd,
      h.bootTimeoutMs,
      "the joined containers destroyed by the fork template's agent",
    );
  } finally {
    agent.close();
  }
  await withQmp(
    paths.qmpSock,
    10_000,
    async (q) => {
      for (const j of joined) await detachJoinedFiles(q, j.containerId);
    },
    "unplugging the joined containers' disks",
  );
  await waitForConsole(paths.consoleLog, HOST_LEFT_LINES, h.bootTimeoutMs, "the fork template's agent", logged);
}

/** The size of console log `file` now (0 when it is not there yet, or not a file to read: .../../util/jailed-files.ts). */
function consoleBytes(file: string): number {
  return vmFileSize(file);
}
