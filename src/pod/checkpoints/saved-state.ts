/**
 * The pod's side of checkpoint images (docs/checkpoint-images.md): what a checkpoint of a
 * container records of it for an image (savedStateOf), how such a record coming back from a
 * registry is read (readSavedState: hostile input, checked field by field and bounded), the pod
 * record a restore of it reads (writeSavedPodRecord: only the checked fields, never the
 * sender's record), and when a container of such an image starts from the state
 * (savedStateToRestore).
 *
 * A container of a checkpoint image is a fork of the saved one (./forks.ts): its own id, name,
 * disk (an overlay over the image's copy), address and random pool; its processes are the
 * saved ones. So the record carries only what the guest already holds and a restore must name:
 * the saved container's id and its init's process id there, its hostname, the command it
 * runs, and the volumes kept on its disk (by their directory on that disk).
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../../util/atomic';
import {
  containersOf,
  createdState,
  mainContainer,
  RECORD_VERSION,
  ZERO_TIME,
  type PodMount,
  type PodRecord,
  type PodTmpfsMount,
  type PodVolumeMount,
} from '../types';
import { savedRecord } from './checkpoints';

/** The saved container of a checkpoint image, as its record carries it (see the module comment). */
export interface SavedContainerState {
  /** Its id in the saved guest (64 hex characters). */
  id: string;
  /** Its init's process id in the saved guest (the agent's). */
  process: string;
  hostname: string;
  args: string[];
  env: string[];
  user: string;
  workingDir: string;
  /** Its volumes kept on its own disk (by their directory there) and its tmpfs mounts. */
  mounts: Array<PodVolumeMount | PodTmpfsMount>;
  /** The VM's size it was saved in. */
  vm: { memoryMiB: number; cpus: number };
}

/** Most bytes of any string of a saved record, and most entries of any list. */
const MAX_STRING = 4096;
const MAX_LIST = 1024;
const HEX64 = /^[0-9a-f]{64}$/;
/** A volume's directory on the container's disk, as the daemon names it (`volumes/<volume name>`). */
const DISK_DIR = /^volumes\/[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/;

/**
 * What checkpoint `dir` of pod `r` records for an image of it; refused (Error, its message
 * the reason) for what no image can carry: a pod of several, a container joined to it, a mount
 * of the host (a bind, a volume on the share), a terminal.
 */
export function savedStateOf(dir: string): SavedContainerState {
  const r = savedRecord(dir);
  if (!r) throw new Error('its record of the container cannot be read');
  if (containersOf(r).length !== 1) throw new Error('a pod of several containers cannot be saved as an image yet');
  const c = mainContainer(r);
  if (!c.process) throw new Error('its saved process is not known');
  if (c.spec.tty) throw new Error('a container with a terminal cannot be saved');
  const mounts: SavedContainerState['mounts'] = [];
  for (const m of c.spec.mounts ?? []) {
    if (m.type === 'tmpfs') mounts.push(m);
    else if (m.type === 'volume' && m.diskDir) mounts.push({ ...m, name: '', source: '', anonymous: false });
    else
      throw new Error(
        `its ${m.type === 'bind' ? `bind mount of ${m.source}` : `volume at ${m.target}`} lives on this host: an image can carry only what is on the container's own disk`,
      );
  }
  return {
    id: c.spec.id,
    process: c.process,
    hostname: r.sandbox.spec.hostname,
    args: c.spec.args,
    env: c.spec.env,
    user: c.spec.user,
    workingDir: c.spec.workingDir,
    mounts,
    vm: { memoryMiB: r.sandbox.spec.vm.memoryMiB, cpus: r.sandbox.spec.vm.cpus },
  };
}

/** Fail with `why` (the caller words it) unless `ok`. */
function check(ok: boolean, why: string): asserts ok {
  if (!ok) throw new Error(`its record is not one this daemon reads: ${why}`);
}

/** A string of at most MAX_STRING bytes with no NUL. */
function isText(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_STRING && !v.includes('\0');
}

/** A list of texts, at most MAX_LIST. */
function isTexts(v: unknown): v is string[] {
  return Array.isArray(v) && v.length <= MAX_LIST && v.every(isText);
}

/** An absolute path inside a container with no `..` and no NUL. */
function isContainerPath(v: unknown): v is string {
  return isText(v) && v.startsWith('/') && !v.split('/').includes('..');
}

/** One saved mount, rebuilt from its checked fields only. */
function readMount(m: unknown): PodVolumeMount | PodTmpfsMount {
  const o = m as Record<string, unknown>;
  check(typeof o === 'object' && o !== null, 'a mount is not an object');
  check(isContainerPath(o.target), 'a mount has no valid target');
  check(typeof o.readOnly === 'boolean', 'a mount has no readOnly');
  if (o.type === 'tmpfs') {
    check(o.options === undefined || (isText(o.options) && /^[\w=,.:-]*$/.test(o.options)), 'tmpfs options');
    for (const k of ['noexec', 'nosuid', 'nodev'] as const) check(typeof o[k] === 'boolean', `tmpfs ${k}`);
    return {
      type: 'tmpfs',
      target: o.target,
      readOnly: o.readOnly,
      noexec: o.noexec as boolean,
      nosuid: o.nosuid as boolean,
      nodev: o.nodev as boolean,
      ...(o.options ? { options: o.options as string } : {}),
    };
  }
  check(o.type === 'volume' && typeof o.diskDir === 'string' && DISK_DIR.test(o.diskDir), 'a mount of the host');
  return {
    type: 'volume',
    name: '',
    source: '',
    target: o.target,
    readOnly: o.readOnly,
    anonymous: false,
    diskDir: o.diskDir,
  };
}

/**
 * A saved container's record as it came in an image (hostile: from any registry), checked field
 * by field and rebuilt from the checked fields; Error (its message the reason) otherwise.
 */
export function readSavedState(v: unknown): SavedContainerState {
  const o = v as Record<string, unknown>;
  check(typeof o === 'object' && o !== null && !Array.isArray(o), 'not an object');
  check(typeof o.id === 'string' && HEX64.test(o.id), 'no container id');
  check(typeof o.process === 'string' && /^[\w.-]{1,128}$/.test(o.process), 'no process id');
  check(isText(o.hostname) && /^[a-zA-Z0-9][a-zA-Z0-9.-]{0,253}$/.test(o.hostname), 'no valid hostname');
  check(isTexts(o.args) && o.args.length > 0, 'no command');
  check(isTexts(o.env), 'no environment');
  check(isText(o.user) && isText(o.workingDir), 'no user or working directory');
  check(Array.isArray(o.mounts) && o.mounts.length <= 64, 'no mounts');
  const vm = o.vm as Record<string, unknown>;
  check(
    typeof vm === 'object' &&
      vm !== null &&
      Number.isInteger(vm.memoryMiB) &&
      (vm.memoryMiB as number) > 0 &&
      (vm.memoryMiB as number) <= 1024 * 1024 &&
      Number.isInteger(vm.cpus) &&
      (vm.cpus as number) > 0 &&
      (vm.cpus as number) <= 1024,
    'no VM size',
  );
  return {
    id: o.id,
    process: o.process,
    hostname: o.hostname,
    args: [...o.args],
    env: [...o.env],
    user: o.user,
    workingDir: o.workingDir,
    mounts: o.mounts.map(readMount),
    vm: { memoryMiB: vm.memoryMiB as number, cpus: vm.cpus as number },
  };
}

/**
 * Write into `dir` (the unpacked state of an image) the pod record a restore reads there
 * (./checkpoints.ts savedMain, savedInits, savedRecord): the saved container alone, rebuilt
 * from `s`'s checked fields.
 */
export async function writeSavedPodRecord(dir: string, s: SavedContainerState): Promise<void> {
  const mounts: PodMount[] = s.mounts;
  const record: PodRecord = {
    version: RECORD_VERSION,
    id: s.id,
    name: 'saved',
    created: ZERO_TIME,
    sandbox: {
      spec: {
        id: s.id,
        hostname: s.hostname,
        domainname: '',
        labels: {},
        vm: { ...s.vm },
        restartPolicy: { name: 'no', maximumRetryCount: 0 },
        autoRemove: false,
      } as PodRecord['sandbox']['spec'],
    },
    containers: {
      [s.id]: {
        spec: {
          id: s.id,
          image: '',
          imageRef: '',
          args: s.args,
          env: s.env,
          workingDir: s.workingDir,
          user: s.user,
          tty: false,
          openStdin: false,
          stdinOnce: false,
          stopSignal: 15,
          stopTimeout: 10,
          mounts,
        },
        state: { ...createdState(), status: 'running' },
        process: s.process,
        restartCount: 0,
      },
    },
    manuallyStopped: false,
    frontend: null,
  };
  await writeFileAtomic(path.join(dir, 'pod.json'), JSON.stringify(record));
}

/**
 * The directory of the saved state pod `r` starts from now: its spec names one (a container of
 * a checkpoint image) and it has never run; undefined otherwise (a boot).
 */
export function savedStateToRestore(r: PodRecord, running: boolean): string | undefined {
  const s = r.sandbox.spec.savedState;
  if (!s || running) return undefined;
  if (mainContainer(r).state.startedAt !== ZERO_TIME) return undefined;
  return s.dir;
}
