/**
 * A clone's agent once its state is loaded (./clone.ts; a checkpoint's restored agent has seen
 * its old host leave by then: ./clone-load.ts): the connection (with the holder of the
 * guest's 9p locks) and the ACTIVATE that makes the guest this VM's own.
 */
import { randomBytes } from 'node:crypto';
import type { Agent } from '../../types';
import type { ProcessEnd } from '../qemu-vm-init';
import { faultPoint } from '../fault';
import { startLockHolder } from '../processes/lock-holder';
import { raceBoot } from '../start-steps';
import type { StartHost } from '../start-host';
import type { CloneLayout, CloneProgress } from './clone-layout';

/**
 * Start the holder of the guest's 9p locks and connect to the restored agent, side by side
 * (neither waits for the other: the holder's jail is spawned while the agent's handshake
 * crosses into the guest); both are there before any request beyond the handshake.
 */
export async function connectCloneAgent(
  h: StartHost,
  layout: CloneLayout,
  processEnd: Promise<ProcessEnd>,
  made: CloneProgress,
): Promise<Agent> {
  const { paths } = layout;
  // The holder of the guest's 9p locks connects once the state is loaded, as the agent's
  // client does: the port's connection, made before, would be the template's (none) again.
  const holder = startLockHolder(paths);
  made.agentPromise = h.opts.connectAgent({
    ctlPath: paths.ctlSock,
    ioPath: paths.ioSock,
    timeoutMs: h.bootTimeoutMs,
  });
  const [agent] = await Promise.all([raceBoot(made.agentPromise, processEnd, h.bootTimeoutMs + 1000), holder]);
  faultPoint('clone-after-agent-connect');
  return agent;
}

/**
 * ACTIVATE the restored agent: this VM's wall clock and random pool, and with `mountShare` its
 * rootfs share mounted. A clone of a template mounts it (the pod it is for reads its image
 * there); a VM restored from a checkpoint does not: its container reads its image and files
 * from its disks, and the share's mount and the spare namespace forked after it are guest code
 * under TCG that the start would wait for. The agent mounts it at the first create that reads
 * it (a container joining the VM, a pod given the VM after this one).
 */
export async function activateCloneAgent(agent: Agent, mountShare: boolean): Promise<void> {
  if (!agent.activate) throw new Error('the agent cannot be activated');
  await agent.activate({ timeNs: BigInt(Date.now()) * 1_000_000n, entropy: randomBytes(64), mountShare });
}
