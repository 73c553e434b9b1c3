/**
 * Reading a pod's stored record back. The store (src/storage/state.ts) hands over parsed JSON;
 * this checks it is a PodRecord, migrates the older layout, lets the front end repair its own
 * data, and writes a migrated or repaired record back so that the next load finds it sound.
 *
 * Layouts:
 *   1 (no `version`)  one state for the whole pod: { id, name, created, spec: PodSpec, state,
 *                     restartCount, manuallyStopped, vmId?, initProcessIds?, frontend }, and a
 *                     copy of the Docker HostConfig beside it in hostconfig.json
 *   2                 { version: 2, id, name, created, sandbox: { spec, vmId?, linkEnv? }, containers:
 *                     { [id]: { spec, state, process?, restartCount } }, manuallyStopped, frontend }
 * A migrated record replaces the old one atomically (the store writes a temporary file,
 * fsyncs it and renames it over the old one), so the old record is there until the new one
 * is durable; hostconfig.json is deleted only after that.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pinLegacyBindSources } from '../mounts/bind-sources';
import type { StoredRecord } from '../../storage/state';
import { logger } from '../../util/log';
import type { PodContext } from '../context';
import { initProcessId } from '../lifecycle/container-init';
import { RECORD_VERSION, type ContainerRecord, type PodRecord, type PodSpec, type PodState } from '../types';

const log = logger('state');

/** Layout 1 of a record (see the module comment). */
interface RecordV1 {
  id: string;
  name: string;
  created: string;
  spec: PodSpec;
  state: PodState;
  restartCount?: number;
  manuallyStopped?: boolean;
  vmId?: string;
  initProcessIds?: Record<string, string>;
  frontend: unknown;
}

/** What loading one stored record gave. */
export type Decoded =
  | { record: PodRecord }
  /** Not a record this version can use; `keep`: leave its files alone (a newer layout). */
  | { record?: undefined; keep: boolean };

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Layout 1 -> 2: every container gets the pod's state, init process and restart count. */
export function migrateV1(old: RecordV1): PodRecord {
  const { containers, ...sandbox } = old.spec;
  const onVm = old.state.status === 'running' || old.state.status === 'paused';
  return {
    version: RECORD_VERSION,
    id: old.id,
    name: old.name,
    created: old.created,
    sandbox: { spec: sandbox, ...(onVm && old.vmId ? { vmId: old.vmId } : {}) },
    containers: Object.fromEntries(
      containers.map((c): [string, ContainerRecord] => [
        c.id,
        {
          spec: c,
          state: { ...old.state },
          ...(onVm ? { process: old.initProcessIds?.[c.id] ?? initProcessId(c.id) } : {}),
          restartCount: old.restartCount ?? 0,
        },
      ]),
    ),
    manuallyStopped: old.manuallyStopped === true,
    frontend: old.frontend,
  };
}

/** Whether `r` has the fields of layout 2 that the pod layer relies on. */
function soundV2(r: Record<string, unknown>): boolean {
  if (
    typeof r.name !== 'string' ||
    typeof r.created !== 'string' ||
    !isObject(r.sandbox) ||
    !isObject(r.sandbox.spec) ||
    !isObject(r.containers)
  )
    return false;
  const cs = Object.values(r.containers);
  return (
    cs.length > 0 &&
    cs.every((c) => isObject(c) && isObject(c.spec) && isObject(c.state) && typeof c.state.status === 'string')
  );
}

/** The stored record as a PodRecord, migrated and repaired (see the module comment). */
export async function decodeRecord(ctx: PodContext, raw: StoredRecord & Record<string, unknown>): Promise<Decoded> {
  let r: PodRecord;
  let rewrite = false;
  if (raw.version === undefined) {
    const old = raw as unknown as RecordV1;
    if (
      !isObject(old.spec) ||
      !Array.isArray(old.spec.containers) ||
      old.spec.containers.length === 0 ||
      !isObject(old.state) ||
      typeof old.name !== 'string'
    ) {
      log.error(`container ${raw.id}: unreadable record: missing fields`);
      return { keep: false };
    }
    r = migrateV1(old);
    rewrite = true;
    log.info(`container ${raw.id}: record migrated from layout 1 to ${RECORD_VERSION}`);
  } else if (raw.version === RECORD_VERSION) {
    if (!soundV2(raw)) {
      log.error(`container ${raw.id}: unreadable record: missing fields`);
      return { keep: false };
    }
    r = raw as unknown as PodRecord;
  } else {
    log.error(
      `container ${raw.id}: record of layout ${JSON.stringify(raw.version)}, newer than this daemon's (${RECORD_VERSION}): left alone`,
    );
    return { keep: true };
  }
  // An older version may have stored a front-end field of the wrong type: the front end resets
  // it, so that its clients can decode the container again (one warning per record).
  const fixed = ctx.deps.repairFrontend?.(r.frontend) ?? [];
  if (fixed.length) {
    log.warn(
      `container ${r.id}: its record held ${fixed.length} field(s) of a wrong type, reset to their defaults: ${fixed.join(', ')}`,
    );
    rewrite = true;
  }
  // Bind sources of a record made before they were pinned: pinned now, once.
  if (await pinLegacyBindSources(Object.values(r.containers).map((c) => c.spec))) {
    log.info(`container ${r.id}: bind sources pinned to their paths of now`);
    rewrite = true;
  }
  if (rewrite) {
    try {
      await ctx.deps.state.save(r);
      // The old layout's copy of the HostConfig, never read: gone once the new record is durable.
      if (raw.version === undefined) await fs.promises.rm(path.join(ctx.dir(r.id), 'hostconfig.json'), { force: true });
    } catch (e) {
      log.error(`container ${r.id}: writing the migrated or repaired record: ${(e as Error).message}`);
    }
  }
  return { record: r };
}
