/**
 * Forks: new pods started from a checkpoint of another (`podvisor fork`, the native
 * API's POST /v1/pods/{ref}/checkpoints/{name}/fork). Each fork is a pod of its own: a new id
 * and name, the saved pod's spec and front-end data, its own copy-on-write disk over the
 * checkpoint's (a qcow2 overlay: src/util/disk-chain.ts),
 * its own VM started from the checkpoint's state, and its own place on the network (a new
 * address, new MACs, its own published ports). Its processes are the saved ones, going on
 * from where they were saved.
 *
 * What a fork's guest is told when it wakes (docs/checkpoint.md): the wall clock, 64 fresh
 * random bytes mixed into its kernel's pool with a reseed (two forks never draw the same
 * random numbers from the kernel), its NICs' own MACs and addresses, its /etc/hosts and
 * /etc/resolv.conf, and its container's new id. What it keeps: its hostname (the saved
 * pod's), and whatever its processes derived from the old identity before the save.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { InvalidArgumentError } from '../../errors';
import { logger } from '../../util/log';
import type { PodContext } from '../context';
import { checkpointsDir, hasCheckpoint, savedRecord } from './checkpoints';
import { CheckpointError } from '../errors';
import { create, start } from '../lifecycle/lifecycle';
import type { Entry } from '../records/registry';
import { removeEntry } from '../lifecycle/removal';
import { containersOf, diskNameOf, podSpecOf, type PodMount, type PodRecord, type PodSpec } from '../types';

const log = logger('pod');

/** Most forks one request may start. */
export const MAX_FORKS = 64;

/**
 * The spec of a fork of saved pod `saved`: new ids (a main container whose id was the pod's
 * keeps that link). A volume kept on the saved container's disk is the fork's own copy, on
 * the fork's copy of that disk: no volume of the store names it (it goes with the fork).
 */
function forkSpec(saved: PodRecord): PodSpec {
  const spec = podSpecOf(saved);
  const id = randomBytes(32).toString('hex');
  const ownCopies = (mounts: PodMount[] | undefined) =>
    mounts?.map((m) => (m.type === 'volume' && m.diskDir ? { ...m, name: '', source: '', anonymous: false } : m));
  // A pod of several's containers run on hot-plugged disks, which the saved guest and QEMU
  // know by the saved containers' names: each fork's container keeps its saved one's.
  const several = spec.containers.length > 1;
  return {
    ...spec,
    id,
    containers: spec.containers.map((c) => ({
      ...c,
      id: c.id === spec.id ? id : randomBytes(32).toString('hex'),
      ...(several ? { diskName: diskNameOf(c) } : {}),
      ...(c.mounts ? { mounts: ownCopies(c.mounts) } : {}),
    })),
  };
}

/**
 * A fork's init containers as the saved pod's had ended: they ran before the save, in the guest
 * the fork goes on from, so the fork shows them exited with their codes and times, as the
 * restored pod does, not created. Containers pair up by their place in the spec.
 */
function keepEndedInits(saved: PodRecord, fork: PodRecord): void {
  const from = containersOf(saved);
  containersOf(fork).forEach((c, i) => {
    const s = from[i];
    if (c.spec.init && s?.spec.init && s.state.status === 'exited') c.state = { ...s.state };
  });
}

/**
 * Start `count` forks of checkpoint `name` of pod `e` (named `ref` by the caller), each created
 * then started from the checkpoint, all at once; `names` names them (else each gets a
 * generated name). The records of the started forks, in order. A fork that fails to start is
 * removed, and the first failure is thrown once every start has ended (the others run on).
 */
export async function forkCheckpoint(
  ctx: PodContext,
  e: Entry,
  ref: string,
  name: string,
  opts: { count: number; names?: string[] },
): Promise<PodRecord[]> {
  const { count, names } = opts;
  if (!Number.isInteger(count) || count < 1 || count > MAX_FORKS)
    throw new InvalidArgumentError(`a fork request starts 1 to ${MAX_FORKS} pods, not ${count}`);
  if (names && names.length !== count) throw new InvalidArgumentError(`${names.length} names for ${count} forks`);
  if (!hasCheckpoint(ctx, e, name)) throw new CheckpointError('missing', ref, name);
  const dir = path.join(checkpointsDir(ctx, e), name);
  const saved = savedRecord(dir);
  if (!saved) throw new CheckpointError('cannot-restore', ref, name, 'its record of the pod cannot be read');
  const created: PodRecord[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const r = await create(ctx, forkSpec(saved), names?.[i], saved.frontend);
      created.push(r);
      const fe = ctx.registry.lookup(r.id);
      keepEndedInits(saved, fe.record);
      await ctx.persist(fe);
    }
  } catch (err) {
    for (const r of created) await removeEntry(ctx, ctx.registry.lookup(r.id)).catch(() => undefined);
    throw err;
  }
  const started = await Promise.allSettled(created.map((r) => start(ctx, ctx.registry.lookup(r.id), r.name, dir)));
  const failed = started.findIndex((s) => s.status === 'rejected');
  for (const [i, s] of started.entries()) {
    if (s.status === 'fulfilled') continue;
    log.warn(`fork ${created[i].name} of ${ref} did not start: ${(s.reason as Error).message}`);
    await removeEntry(ctx, ctx.registry.lookup(created[i].id)).catch(() => undefined);
  }
  if (failed >= 0) throw (started[failed] as PromiseRejectedResult).reason;
  log.info(`checkpoint ${name} of ${ref}: ${count} fork(s) started`);
  return created.map((r) => ctx.registry.lookup(r.id).record);
}
