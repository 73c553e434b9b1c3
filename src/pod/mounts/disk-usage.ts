/**
 * docker ps -s / system df for a block-mode container (its writable layer is an ext4 the host
 * never reads): while its VM runs, what the guest's statfs of the layer says is in use; the
 * host's own figure otherwise (RootfsManager.sizeRw: the disk file's allocated blocks).
 */
import type { Agent } from '../../vm/agent-types';

/**
 * Bytes in use on container `id`'s upper disk as its guest reports them, bounded by
 * `hostBytes` (the disk file's allocated blocks: a guest cannot claim more than it wrote);
 * `hostBytes` itself when the guest does not answer (an agent that predates DISK_USAGE, a
 * container that is stopping).
 */
export async function guestDiskUsed(agent: Agent, id: string, hostBytes: number): Promise<number> {
  const u = agent.diskUsage ? await agent.diskUsage(id).catch(() => undefined) : undefined;
  if (!u || !Number.isSafeInteger(u.used) || u.used < 0) return hostBytes;
  return Math.min(u.used, hostBytes);
}
