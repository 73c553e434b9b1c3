/**
 * Reading a pod's stored record back: the store (src/storage/state.ts) hands over parsed JSON;
 * this checks it is a PodRecord, lets the front end repair its own data, and writes the
 * repaired record back so that the next load finds it sound.
 */
import type { StoredRecord } from '../storage/state';
import { logger } from '../util/log';
import type { PodContext } from './context';
import type { PodRecord } from './types';

const log = logger('state');

/** The stored record as a PodRecord, repaired; undefined when it is not one (logged). */
export async function decodeRecord(ctx: PodContext, raw: StoredRecord & Record<string, unknown>): Promise<PodRecord | undefined> {
  const r = raw as unknown as PodRecord;
  if (!r.spec || typeof r.spec !== 'object' || !r.state || typeof r.state !== 'object' || typeof r.name !== 'string') {
    log.error(`container ${raw.id}: unreadable record: missing fields`);
    return undefined;
  }
  // An older version may have stored a front-end field of the wrong type: the front end resets
  // it, so that its clients can decode the container again (one warning per record).
  const fixed = ctx.deps.repairFrontend?.(r.frontend) ?? [];
  if (fixed.length) {
    log.warn(`container ${r.id}: its record held ${fixed.length} field(s) of a wrong type, reset to their defaults: ${fixed.join(', ')}`);
    await ctx.deps.state.save(r).catch((e: Error) => log.error(`container ${r.id}: writing the repaired record: ${e.message}`));
  }
  return r;
}
