/**
 * Warm starts (issue 69, docs/warm-starts.md): the first container of a kind is saved once it
 * is ready (healthy, listening, or quiet), and every later container of the same kind starts
 * from that save, as a container of a checkpoint image does (./saved-state-plan.ts): its own
 * ID, name, hostname, address and disk, the saved processes going on.
 *
 * A kind (keyOf) is the image's ID and everything of the creation that reaches the guest: the
 * whole pod spec but what a fork gives each container anew (its ID, name, hostname, labels,
 * network and published ports, restart policy, --rm, log settings) and the random names of its
 * anonymous volumes. A field not named here is in the key, so a setting added later never lets
 * a container start from the state of another. A named volume that is new or empty at the
 * create (none made yet, or one `docker volume create` or Compose made that nothing wrote),
 * mounted by no other container, goes on the container's disk (as with `--storage-opt
 * volumes=disk`) and is part of the kind by its name: every run of the kind finds it as the
 * first run did, so a later run starts from the save with the volume as the first run's start
 * left it, on its own disk. A container whose start depends on the host at its start has no
 * kind and always starts cold: a bind, a named volume that holds data (or that another
 * container mounts, or of a `--rm` container), a device, links, a
 * joined VM (--network/--pid/--ipc container:), a terminal, a CRI sandbox, a cgroup parent,
 * an image read over the layers share.
 *
 * The save (saveWhenReady, then save): once the first container of a kind runs, it is
 * checkpointed with --leave-running, in the background, as soon as it is ready:
 * - with a health check: when its health status first becomes healthy (its `health_status:
 *   healthy` event); never before;
 * - else, once a socket listens in its guest (../pod/stats/guest-sockets.ts, read with each
 *   sample of its CPU use, every second) and it settled: SETTLE_SAMPLES samples in a row under
 *   QUIET_SHARE, each after one that saw a socket listen (a program that listens, then goes
 *   on with its start, such as a database's entrypoint whose temporary server listens on a
 *   unix socket, is not saved while it works);
 * - else, when the guest's CPU use stays under QUIET_SHARE for QUIET_SAMPLES_UNHEARD samples
 *   in a row while nothing listens (the program is waiting for work: a long wait gives a
 *   program that sleeps before it listens the time to), or QUIET_SAMPLES where the guest
 *   cannot tell what listens;
 * and in each case at the latest MAX_WAIT_MS after its start (a health check that has not
 * passed by then included). Its checkpoint's files are
 * linked into `<data-root>/warm-starts/.new-<key>-*`, which is renamed to `<key>` once whole,
 * and the checkpoint is removed from the container. A save that a daemon kill cuts short
 * leaves only a `.new-` directory, which the next sweep removes.
 *
 * A state goes (sweep) when its image is gone or has no tag left (a re-pull or `docker tag`
 * moved it to another image) and no container started from it is left; a
 * state this daemon can no longer start (another guest kernel, agent or QEMU) goes at the next
 * create of its kind, which starts cold.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { logger } from '../util/log';
import { removeTree } from '../util/remove-tree';
import type { DaemonEvent } from '../pod/events';
import { readSavedState, savedStateOf, writeSavedPodRecord, type PodService } from '../pod/service';
import { mainContainer, type PodRecord, type PodSpec } from '../pod/types';
import type { UnpackedState } from './checkpoint-images';

const log = logger('warm-start');

/** The label that asks for warm starts (`true`) or refuses them (`false`) for one container. */
export const WARM_START_LABEL = 'org.podvisor.warm-start';
/** The label a container started warm gets: the state it started from (its key's first 12). */
export const WARM_STATE_LABEL = 'org.podvisor.warm-start.state';

/** A guest is quiet when its CPU use stays under this share... */
const QUIET_SHARE = 0.1;
/** ...for this many one-second samples in a row, where the guest cannot tell what listens... */
const QUIET_SAMPLES = 3;
/** ...or this many, where nothing listens in it... */
const QUIET_SAMPLES_UNHEARD = 8;
/** ...or this long after its start, whichever comes first (whatever the rule). */
const MAX_WAIT_MS = 120_000;
/** Quiet samples in a row, after one that saw a socket listen, that make a listening guest ready. */
const SETTLE_SAMPLES = 2;
/** A checkpoint's files that a warm state keeps (links to them). */
const STATE_FILES = ['vm.state', 'vm.json', 'upper.ext4'];
/** Most first containers remembered at once. */
const MAX_FIRSTS = 1024;

/** What warm starts need of the daemon. */
export interface WarmStartDeps {
  /** `<data-root>/warm-starts`. */
  root: string;
  /** The daemon's --warm-starts. */
  enabled: boolean;
  pods: Pick<
    PodService,
    'get' | 'list' | 'isRunning' | 'sample' | 'listening' | 'checkpoint' | 'checkpointDir' | 'removeCheckpoint'
  >;
  /**
   * Whether image `id` is still stored and has a tag: a state goes once its image has none (it
   * was removed, or a re-pull or `docker tag` moved its last tag to another image).
   */
  imageTagged: (id: string) => boolean;
  /** Refuse a checkpoint's directory this daemon could not start (the hypervisor's). */
  checkStartable?: (dir: string) => void;
  /** Make the fork template of a checkpoint's directory (the hypervisor's), in the background. */
  prepareForkTemplate?: (dir: string) => Promise<void>;
  /** Between two samples of a first run (tests shorten it). */
  sampleMs?: number;
  /**
   * Most bytes the states may take on disk (--warm-starts-max-size): after a save, the least
   * recently used states that no container started from go until they fit; absent: no cap.
   */
  maxBytes?: number;
}

/** A warm state as `docker system df` shows it (with the build cache: docs/warm-starts.md). */
export interface WarmStateUsage {
  key: string;
  /** The image it was saved from. */
  image: string;
  /** Bytes of its files on disk (their blocks: the disk copy is sparse). */
  bytes: number;
  created: Date;
  /** When a container last started from it; undefined: none has yet. */
  lastUsed?: Date;
  /** How many containers started from it. */
  uses: number;
  /** A container started from it still exists. */
  inUse: boolean;
}

/** Warm starts: the states of the kinds of container this daemon has run, and their saves. */
export class WarmStarts {
  /** The first containers of kinds that have no state yet, by pod ID: their kind and image. */
  private readonly firsts = new Map<string, { key: string; image: string }>();
  /** The kinds whose state is being saved, or that cannot be saved. */
  private readonly saving = new Set<string>();
  private readonly unsavable = new Set<string>();
  /** First containers waiting to be healthy, by pod ID: called with true once, false if it stops. */
  private readonly untilHealthy = new Map<string, (healthy: boolean) => void>();

  constructor(private readonly deps: WarmStartDeps) {}

  /** Whether a container with `labels` asks for warm starts (its label, else the daemon's option). */
  wanted(labels: Record<string, string> | undefined): boolean {
    const v = labels?.[WARM_START_LABEL];
    if (v === 'true') return true;
    if (v === 'false') return false;
    return this.deps.enabled;
  }

  /**
   * The kind of pod `spec` of image `imageId`, with anonymous volumes at `anonymousVolumes`
   * (see the module comment), and the named volumes `namedOnDisk`, each new or empty and going
   * on the container's disk (namedVolumesForDisk: their name, target and options are its kind);
   * undefined: it always starts cold.
   */
  keyOf(
    spec: PodSpec,
    imageId: string,
    anonymousVolumes: readonly string[] = [],
    namedOnDisk: ReadonlySet<string> = new Set(),
  ): string | undefined {
    if (spec.containers.length !== 1 || spec.joinPod || spec.cni || spec.hostCgroupParent !== undefined)
      return undefined;
    if (spec.writableLayer || spec.savedState) return undefined;
    const c = spec.containers[0];
    if (!c.imageOnDisk || c.tty || c.openStdin) return undefined;
    if (c.security?.devices?.length) return undefined;
    const mounts: unknown[] = [];
    for (const m of c.mounts ?? []) {
      if (m.type === 'tmpfs') mounts.push(m);
      // An anonymous volume is named at the create: its target and options are its kind.
      else if (m.type === 'volume' && m.anonymous && !m.driver && !m.options)
        mounts.push({ type: m.type, target: m.target, readOnly: m.readOnly, noCopy: !!m.noCopy });
      // A named volume that is new or empty, on the container's disk: as the first run found it.
      else if (m.type === 'volume' && !m.anonymous && namedOnDisk.has(m.name) && !m.driver && !m.options)
        mounts.push({ type: m.type, name: m.name, target: m.target, readOnly: m.readOnly, noCopy: !!m.noCopy });
      else return undefined;
    }
    const { id: _id, name: _name, diskName: _disk, imageRef: _ref, ...container } = c;
    const {
      id: _sid,
      hostname: _host,
      labels: _labels,
      restartPolicy: _restart,
      autoRemove: _rm,
      log: _log,
      network: _net,
      containers: _cs,
      ...sandbox
    } = spec;
    const kind = { image: imageId, sandbox, container: { ...container, mounts }, anonymousVolumes };
    return createHash('sha256').update(JSON.stringify(kind)).digest('hex');
  }

  /**
   * The state of kind `key`, or undefined when it has none yet. A state this daemon cannot
   * start (another guest kernel, agent or QEMU) is removed, and undefined returned: the
   * container starts cold, and its run makes a new one.
   */
  async stateFor(key: string): Promise<UnpackedState | undefined> {
    const dir = path.join(this.deps.root, key);
    let container;
    try {
      container = readSavedState(JSON.parse(await fs.promises.readFile(path.join(dir, 'saved.json'), 'utf8')));
    } catch {
      return undefined;
    }
    try {
      this.deps.checkStartable?.(dir);
    } catch (err) {
      log.info(`state ${key.slice(0, 12)} cannot start here any more, removed: ${(err as Error).message}`);
      if (!this.namedByContainer(dir)) await removeTree(dir).catch(() => undefined);
      return undefined;
    }
    await this.countUse(dir);
    return { dir, container };
  }

  /** Count a start from state `dir` (its `uses` file: the count, its time the last use). */
  private async countUse(dir: string): Promise<void> {
    const file = path.join(dir, 'uses');
    const uses = Number(await fs.promises.readFile(file, 'utf8').catch(() => '0')) || 0;
    await fs.promises.writeFile(file, String(uses + 1), { mode: 0o600 }).catch(() => undefined);
  }

  /**
   * Pod `podId` (of image `imageId`) is the first of kind `key`: save it once it runs and is
   * ready (in the background). The oldest of too many firsts never started is forgotten.
   */
  expectFirst(podId: string, key: string, imageId: string): void {
    if (this.saving.has(key) || this.unsavable.has(key)) return;
    if (this.firsts.size >= MAX_FIRSTS) this.firsts.delete(this.firsts.keys().next().value as string);
    this.firsts.set(podId, { key, image: imageId });
  }

  /** The daemon's events: the start of a first container of a kind begins its save. */
  onEvent(e: DaemonEvent): void {
    if (e.type !== 'container') return;
    const waiting = this.untilHealthy.get(e.id);
    if (waiting && e.action === 'health_status: healthy') waiting(true);
    else if (waiting && (e.action === 'die' || e.action === 'destroy')) waiting(false);
    const first = this.firsts.get(e.id);
    if (!first) return;
    if (e.action === 'destroy') this.firsts.delete(e.id);
    const { key, image } = first;
    if (e.action !== 'start' || this.saving.has(key)) return;
    this.firsts.delete(e.id);
    this.saving.add(key);
    void this.saveWhenReady(e.id, key, image)
      .catch((err: Error) => {
        this.unsavable.add(key);
        log.info(`container ${e.id.slice(0, 12)}: no warm state for its kind: ${err.message}`);
      })
      .finally(() => this.saving.delete(key));
  }

  /** Wait until pod `podId` is ready (module comment), then save it as kind `key`'s state. */
  private async saveWhenReady(podId: string, key: string, image: string): Promise<void> {
    const until = Date.now() + MAX_WAIT_MS;
    const ready = mainContainer(this.deps.pods.get(podId)).spec.health
      ? await this.whenHealthy(podId, until)
      : await this.whenListeningOrQuiet(podId, until);
    log.info(`container ${podId.slice(0, 12)}: ${ready}: saving it as warm state ${key.slice(0, 12)}`);
    await this.save(podId, key, image);
  }

  /** Wait until pod `podId`'s health status is first healthy, or time `until`; what it waited for. */
  private whenHealthy(podId: string, until: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const done = (healthy: boolean | 'late') => {
        clearTimeout(timer);
        this.untilHealthy.delete(podId);
        if (healthy === 'late') resolve(`not healthy ${MAX_WAIT_MS / 1000} s after its start`);
        else if (healthy) resolve('healthy');
        else reject(new Error('it stopped before it was healthy'));
      };
      const timer = setTimeout(() => done('late'), Math.max(0, until - Date.now()));
      timer.unref?.();
      this.untilHealthy.set(podId, done);
      // Its status may have changed before the wait began (its stop is an event to come: the
      // wait begins at its start event, before the pod layer counts it as running).
      if (mainContainer(this.deps.pods.get(podId)).health?.status === 'healthy') done(true);
    });
  }

  /**
   * Sample pod `podId` each second until a socket listens in it and it settled, or it is quiet
   * (module comment), or time `until`; what it waited for.
   */
  private async whenListeningOrQuiet(podId: string, until: number): Promise<string> {
    const { pods } = this.deps;
    const sampleMs = this.deps.sampleMs ?? 1000;
    const listening = async () => (pods.listening ? await pods.listening(podId).catch(() => undefined) : undefined);
    let quiet = 0;
    let settled = 0;
    let heard: string[] | undefined;
    let last = await pods.sample(podId);
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, sampleMs));
      if (!pods.isRunning(podId)) throw new Error('it stopped before it was ready');
      const [now, sockets] = await Promise.all([pods.sample(podId), listening()]);
      let quietNow = false;
      if (now && last) {
        const wall = (now.readAt - last.readAt) * 1e6 * Math.max(1, now.onlineCpus);
        quietNow = wall > 0 && (now.cpuTotalNs - last.cpuTotalNs) / wall < QUIET_SHARE;
      }
      last = now;
      quiet = quietNow ? quiet + 1 : 0;
      // A quiet sample counts towards the settle once a socket listened at the sample before.
      settled = sockets?.length && heard?.length && quietNow ? settled + 1 : 0;
      heard = sockets;
      if (settled >= SETTLE_SAMPLES) return `listening on ${heard!.slice(0, 3).join(', ')}`;
      if (quiet >= (sockets ? QUIET_SAMPLES_UNHEARD : QUIET_SAMPLES)) return 'quiet';
    }
    return `not ready ${MAX_WAIT_MS / 1000} s after its start`;
  }

  /** Save running pod `podId` (of image `image`) as the state of kind `key` (module comment). */
  private async save(podId: string, key: string, image: string): Promise<void> {
    const { pods } = this.deps;
    const name = `warm-${randomBytes(6).toString('hex')}`;
    const started = Date.now();
    await pods.checkpoint!(podId, name, { exit: false });
    const tmp = path.join(this.deps.root, `.new-${key.slice(0, 12)}-${randomBytes(4).toString('hex')}`);
    try {
      const from = pods.checkpointDir!(podId, name);
      const container = savedStateOf(from);
      await fs.promises.mkdir(this.deps.root, { recursive: true, mode: 0o700 });
      await fs.promises.mkdir(tmp, { mode: 0o700 });
      for (const f of STATE_FILES) await fs.promises.link(path.join(from, f), path.join(tmp, f));
      await writeSavedPodRecord(tmp, container);
      await fs.promises.writeFile(path.join(tmp, 'saved.json'), JSON.stringify(container), { mode: 0o600 });
      await fs.promises.writeFile(path.join(tmp, 'image'), JSON.stringify({ id: image }), { mode: 0o600 });
      const dir = path.join(this.deps.root, key);
      await removeTree(dir);
      await fs.promises.rename(tmp, dir);
      log.info(
        `container ${podId.slice(0, 12)}: saved as warm state ${key.slice(0, 12)} in ${Date.now() - started} ms`,
      );
      // The cap is kept once the state is whole, with its fork template.
      void this.deps.prepareForkTemplate?.(dir).then(
        () => this.enforceCap(),
        (err: Error) => log.warn(`warm state ${key.slice(0, 12)}: ${err.message}`),
      );
    } finally {
      await removeTree(tmp).catch(() => undefined);
      await pods.removeCheckpoint!(podId, name).catch(() => undefined);
    }
  }

  /** The whole states, as `docker system df` shows them, least recently used first. */
  async usage(): Promise<WarmStateUsage[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.deps.root);
    } catch {
      return [];
    }
    const out: WarmStateUsage[] = [];
    for (const key of names.filter((n) => !n.startsWith('.'))) {
      const dir = path.join(this.deps.root, key);
      try {
        const image = (JSON.parse(await fs.promises.readFile(path.join(dir, 'image'), 'utf8')) as { id?: string }).id;
        if (typeof image !== 'string') continue;
        let bytes = 0;
        for (const f of await fs.promises.readdir(dir))
          bytes += (await fs.promises.lstat(path.join(dir, f))).blocks * 512;
        const created = (await fs.promises.lstat(path.join(dir, 'saved.json'))).mtime;
        const used = await fs.promises.lstat(path.join(dir, 'uses')).catch(() => undefined);
        const uses = used ? Number(await fs.promises.readFile(path.join(dir, 'uses'), 'utf8')) || 0 : 0;
        out.push({
          key,
          image,
          bytes,
          created,
          ...(used ? { lastUsed: used.mtime } : {}),
          uses,
          inUse: this.namedByContainer(dir),
        });
      } catch {
        // Not a whole state (being removed): not shown.
      }
    }
    const at = (u: WarmStateUsage) => (u.lastUsed ?? u.created).getTime();
    return out.sort((a, b) => at(a) - at(b));
  }

  /**
   * Remove the states no container started from (`docker system prune`, `docker builder
   * prune`); their keys and the bytes freed.
   */
  async prune(): Promise<{ deleted: string[]; reclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const u of await this.usage()) {
      if (u.inUse) continue;
      await removeTree(path.join(this.deps.root, u.key));
      deleted.push(u.key);
      reclaimed += u.bytes;
    }
    return { deleted, reclaimed };
  }

  /** Remove least recently used states no container started from until all fit maxBytes. */
  async enforceCap(): Promise<void> {
    const max = this.deps.maxBytes;
    if (max === undefined) return;
    const states = await this.usage();
    let total = states.reduce((n, u) => n + u.bytes, 0);
    for (const u of states) {
      if (total <= max) break;
      if (u.inUse) continue;
      await removeTree(path.join(this.deps.root, u.key));
      total -= u.bytes;
      log.info(`warm state ${u.key.slice(0, 12)} removed: the states took more than --warm-starts-max-size`);
    }
  }

  /** Whether a container's record names checkpoint directory `dir` as the state it started from. */
  private namedByContainer(dir: string): boolean {
    return this.deps.pods.list().some((r: PodRecord) => r.sandbox.spec.savedState?.dir === dir);
  }

  /**
   * Remove the states whose image is gone or untagged and that no container started from, and the `.new-`
   * directories of saves a daemon kill cut short (none is under way at a daemon's start).
   */
  async sweep(): Promise<void> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.deps.root);
    } catch {
      return;
    }
    for (const n of names) {
      const dir = path.join(this.deps.root, n);
      if (n.startsWith('.new-')) {
        if (this.saving.size === 0) await removeTree(dir).catch(() => undefined);
        continue;
      }
      if (this.namedByContainer(dir)) continue;
      let image = '';
      try {
        image = (JSON.parse(await fs.promises.readFile(path.join(dir, 'image'), 'utf8')) as { id?: string }).id ?? '';
      } catch {
        // No image recorded: not a whole state.
      }
      if (image && this.deps.imageTagged(image)) continue;
      await removeTree(dir).catch((err: Error) => log.warn(`removing ${dir}: ${err.message}`));
    }
  }
}
