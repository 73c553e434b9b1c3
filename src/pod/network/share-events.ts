/**
 * inotify across the VM's edge: the events of other writers (the host, other VMs) on the files
 * of a VM's volume share reach the watches its guest processes hold, as under runc where every
 * side shares one kernel.
 *
 * The guest kernel sees only its own writes to a 9p share. When a guest process adds an inotify
 * watch on a share's file, our kernel reports it (a WATCH event through Agent.socketEvent,
 * guest/kernel/patches/0006-9p-host-sockets.patch); the host then watches the same file, with
 * one watcher process per VM, given the share's directory at its start (fd 3), which resolves
 * each path beneath it itself (openat2, no symlink followed: it needs no access to the
 * daemon's descriptors, and so no CAP_SYS_PTRACE)
 * (host/fs-events: fanotify, which names the process behind each event, so the VM's own QEMU's,
 * which the guest has already seen, are left out). Each event it reports goes to the guest
 * (Agent.fileEvent), whose kernel delivers it to the watches as if it had happened there.
 *
 * Nothing costs while nobody watches: no watcher runs for a VM until its guest watches a file,
 * and the host watches only what the guest does. A host watch stays until the VM goes (the
 * guest does not say when a watch is removed; its kernel drops events nobody waits for).
 *
 * A watcher that cannot be started, or dies, is started again by a later WATCH only after a
 * delay that doubles with each failure in a row (RESTART_DELAY_MS up to MAX_RESTART_DELAY_MS;
 * a watcher that ran that long before it died starts the count again): a guest whose watches
 * make the program fail cannot make the host fork and exec it per event. The watcher stays one
 * per VM rather than one for all: it tells a VM's own writes from others' by its QEMU's pid,
 * and one VM's flood of marks then fills only its own program's queue.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ShareSocketEvent, Vm } from '../../vm/types';
import { PACKAGE_ROOT } from '../../util/package-info';
import { logger } from '../../util/log';
import { ROOT_FLAGS } from '../../util/beneath';
import { VM_UID_BASE, VM_UID_COUNT } from '../../vm/qemu/confinement/jail';

const log = logger('pod');

/** The watcher program (scripts/bootstrap.sh builds it). */
export const FS_EVENTS_BIN = path.join(PACKAGE_ROOT, 'host', 'out', 'podvisor-fs-events');

/** The longest path the watcher is asked to resolve, plus one (Linux's PATH_MAX). */
const PATH_MAX = 4096;

/** Files one VM's guest may have watched on the host, at most. */
export const MAX_WATCHES = 4096;

/**
 * Events of one VM waiting for the guest to take them, at most: a guest that stops answering
 * FILE_EVENT loses the ones after (as a full inotify queue does), the daemon keeps no more.
 */
export const MAX_QUEUED_EVENTS = 1024;

/** The wait before a watcher is started again after its first failure (then doubled per failure in a row). */
export const RESTART_DELAY_MS = 1000;

/** The longest the watcher may take to answer a request (then the watch is given up). */
export const ANSWER_TIMEOUT_MS = 10_000;

/** The longest wait before a watcher is started again. */
export const MAX_RESTART_DELAY_MS = 60_000;

/** A VM's failed watcher starts in a row, and when the next start may be tried. */
interface Backoff {
  failures: number;
  notBefore: number;
}

const backoffs = new WeakMap<Vm, Backoff>();

/** One VM's watcher. */
interface Watcher {
  child: ChildProcess;
  /** The watched files by id: their share tag and path. */
  files: Map<number, { tag: string; path: string }>;
  /** Ids by `tag:path`: a file is watched once. */
  ids: Map<string, number>;
  /** Requests waiting for their answer, by id. */
  answers: Map<number, (errno: number) => void>;
  nextId: number;
  /** The events, delivered in order. */
  delivering: Promise<void>;
  /** How many of them wait (MAX_QUEUED_EVENTS at most). */
  queued: number;
  /** The program ended, or could not be started: requests are answered -1 at once. */
  gone: boolean;
  /** When it was started (Date.now()). */
  started: number;
}

const watchers = new WeakMap<Vm, Watcher>();

/**
 * The guest watches the share file named by a WATCH event: watch it on the host too. A path
 * that is not the share's, or no watcher program, leaves the guest with its own events only.
 */
export async function watchShareFile(vm: Vm, ev: ShareSocketEvent): Promise<void> {
  const share = vm.devices.volumes;
  if (!share || ev.tag !== share.tag || !ev.path.startsWith('/') || !vm.agent.fileEvent) return;
  const w = watchers.get(vm) ?? startWatcher(vm);
  if (!w) return;
  const key = `${ev.tag}:${ev.path}`;
  if (w.ids.has(key) || w.ids.size >= MAX_WATCHES) return;
  // No file has a longer path (PATH_MAX): not asked of the watcher.
  if (Buffer.byteLength(ev.path) >= PATH_MAX) return;
  const id = w.nextId++;
  w.ids.set(key, id);
  try {
    // Known before the answer: the watcher's first events may come in the same read as it.
    w.files.set(id, { tag: ev.tag, path: ev.path });
    const errno = await request(w, id, ev.path.slice(1) || '.');
    if (errno !== 0) throw new Error(`errno ${errno}`);
  } catch (e) {
    w.files.delete(id);
    w.ids.delete(key);
    log.debug(`VM ${vm.id}: no host watch on ${ev.path}: ${(e as Error).message}`);
  }
}

/** End a VM's watcher (its relay is over). */
export function stopShareWatcher(vm: Vm): void {
  const w = watchers.get(vm);
  if (!w) return;
  watchers.delete(vm);
  w.child.stdin?.end();
  w.child.kill('SIGKILL');
}

/** A failed start, or the watcher's end: the next start waits (see the module comment). */
function failed(vm: Vm, ranMs: number): void {
  const b = backoffs.get(vm) ?? { failures: 0, notBefore: 0 };
  if (ranMs >= MAX_RESTART_DELAY_MS) b.failures = 0;
  b.failures++;
  b.notBefore = Date.now() + Math.min(RESTART_DELAY_MS * 2 ** (b.failures - 1), MAX_RESTART_DELAY_MS);
  backoffs.set(vm, b);
}

function startWatcher(vm: Vm): Watcher | undefined {
  const b = backoffs.get(vm);
  if (b && Date.now() < b.notBefore) return undefined;
  if (!fs.existsSync(FS_EVENTS_BIN)) {
    log.warn(`${FS_EVENTS_BIN} is missing (scripts/bootstrap.sh builds it): file events of the host do not reach VMs`);
    failed(vm, 0);
    return undefined;
  }
  let child: ChildProcess;
  let share: number | undefined;
  try {
    // The share's directory, the watcher's fd 3: the paths it is asked to watch are beneath it.
    // Never through a symlink: a VM an earlier build started has it where its QEMU could swap it.
    share = fs.openSync(vm.devices.volumes!.hostDir, ROOT_FLAGS);
    // With the host ids jailed QEMUs run as: how it tells another VM's 9p server (not by the
    // command name a process gives itself).
    child = spawn(FS_EVENTS_BIN, [String(vm.pid), String(VM_UID_BASE), String(VM_UID_COUNT)], {
      stdio: ['pipe', 'pipe', 'inherit', share],
    });
  } catch (e) {
    // Some failures to start are thrown rather than emitted (E2BIG, ENOMEM...).
    log.warn(`${FS_EVENTS_BIN}: ${(e as Error).message}: file events of the host do not reach VM ${vm.id}`);
    failed(vm, 0);
    return undefined;
  } finally {
    if (share !== undefined) fs.closeSync(share);
  }
  const w: Watcher = {
    child,
    files: new Map(),
    ids: new Map(),
    answers: new Map(),
    nextId: 1,
    delivering: Promise.resolve(),
    queued: 0,
    gone: false,
    started: Date.now(),
  };
  watchers.set(vm, w);
  child.stdin!.on('error', () => undefined);
  const gone = (): void => {
    if (w.gone) return;
    w.gone = true;
    failed(vm, Date.now() - w.started);
    for (const a of w.answers.values()) a(-1);
    w.answers.clear();
    if (watchers.get(vm) === w) watchers.delete(vm);
  };
  child.once('exit', gone);
  // A program that cannot be started (EACCES, EMFILE, EAGAIN) emits this, and no exit.
  child.on('error', (e: Error) => {
    log.warn(`${FS_EVENTS_BIN}: ${e.message}: file events of the host do not reach VM ${vm.id}`);
    gone();
  });
  let buf = Buffer.alloc(0);
  child.stdout!.on('data', (b: Buffer) => {
    buf = Buffer.concat([buf, b]);
    while (buf.length >= 15) {
      const len = buf.readUInt16LE(13);
      if (buf.length < 15 + len) break;
      const kind = buf[0];
      const id = buf.readUInt32LE(1);
      const mask = buf.readUInt32LE(5);
      const cookie = buf.readUInt32LE(9);
      const name = len ? buf.subarray(15, 15 + len).toString() : undefined;
      buf = buf.subarray(15 + len);
      if (kind === 2) {
        w.answers.get(id)?.(mask);
        w.answers.delete(id);
      } else if (kind === 1) deliver(vm, w, id, mask, cookie, name);
    }
  });
  return w;
}

/** Ask the watcher to watch the file at `file` (relative to the share); its errno, 0 when watched. */
function request(w: Watcher, id: number, file: string): Promise<number> {
  if (w.gone) return Promise.resolve(-1);
  return new Promise((resolve) => {
    // A watcher that does not answer holds the event's slot (src/pod/network/share-sockets.ts) no longer than this.
    const timer = setTimeout(() => {
      if (w.answers.get(id) === answered) w.answers.delete(id);
      resolve(-1);
    }, ANSWER_TIMEOUT_MS);
    timer.unref();
    const answered = (errno: number): void => {
      clearTimeout(timer);
      resolve(errno);
    };
    w.answers.set(id, answered);
    const p = Buffer.from(file);
    const head = Buffer.alloc(6);
    head.writeUInt32LE(id, 0);
    head.writeUInt16LE(p.length, 4);
    w.child.stdin!.write(Buffer.concat([head, p]));
  });
}

/** One event to the guest, after the ones before it. */
function deliver(vm: Vm, w: Watcher, id: number, mask: number, cookie: number, name: string | undefined): void {
  const file = w.files.get(id);
  if (!file) return;
  if (w.queued >= MAX_QUEUED_EVENTS) {
    log.debug(`VM ${vm.id}: event on ${file.path} dropped (${MAX_QUEUED_EVENTS} wait for the guest)`);
    return;
  }
  w.queued++;
  w.delivering = w.delivering.then(() =>
    vm.agent.fileEvent!({ ...file, ...(name !== undefined ? { name } : {}), mask, cookie })
      .catch((e: Error) => log.debug(`VM ${vm.id}: event on ${file.path} not delivered: ${e.message}`))
      .finally(() => w.queued--),
  );
}
