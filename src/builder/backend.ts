/**
 * What the builder needs from the daemon, and its implementation on the pod service and the
 * image stores. RUN runs in a temporary container (a pod on a VM) of the image built so
 * far; COPY and ADD write into a temporary container's root on the host (the pod is created,
 * never started: its overlay is mounted on the host for the copy). Every step container is
 * made by the creation service (src/engine, createBuildStep); either way the writable
 * layer is then committed (src/storage/commit.ts) and the container removed. In block mode
 * (the daemon's --rootfs-disk) a RUN step's layer is a disk of its own, as any container's,
 * and its commit packs the layer in a guest, as docker commit does. COPY into an
 * image without layers (FROM scratch) writes into an empty host directory instead.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageService } from '../storage/service';
import type { PodService } from '../pod/service';
import type { CreationService, StepSettings } from '../engine/service';
import type { ImageLookup } from '../storage/types';
import type { ContainerArchive } from '../storage/archive/service';
import type { ImageConfig } from '../storage/types';
import type { RunConfig } from '../dockerfile/instructions';
import { RootDir } from '../storage/archive/resolve';
import { commitWritableLayer, type CommitStores } from '../storage/commit';
import { childImageConfig, recordImage } from '../storage/commit-image';
import { squashImage } from '../storage/squash';
import { InvalidArgumentError } from '../errors';
import { familiarString, parseTagged } from '../storage/reference';
import type { AuthConfig } from '../storage/registry/auth';
import type { Platform } from '../storage/registry/manifest';

/** A step's new image: its parent, config and history text. */
export interface StepImage {
  parentId?: string;
  config: RunConfig;
  createdBy: string;
  /** MAINTAINER's value, recorded as the image's author. */
  author?: string;
  /**
   * The command of the step's container (RUN's, with its build args first as `|N K=V...`; the
   * shell and `#(nop) ` and the instruction for the others). The image records the step's
   * container and its config with this command, as dockerd's classic builder does
   * (`container`, `container_config`): Compose 1.x reads the VOLUME paths that carry data
   * across a recreate from there.
   */
  stepCmd?: string[];
}

/** The step container as an image records it (`container`, `container_config`), when the step names its command. */
export function stepContainerRecord(
  containerId: string,
  step: StepImage,
): { id: string; config: Record<string, unknown> } | undefined {
  if (!step.stepCmd) return undefined;
  return { id: containerId, config: { ...step.config, Cmd: [...step.stepCmd], Image: step.parentId ?? '' } };
}

export type { StepSettings };

/**
 * The containers a build uses: step containers are made by the creation service, then
 * started, followed, committed and removed through the pod service.
 */
export interface BuildContainers {
  /** The creation service (src/engine): every step container is made there. */
  engine: CreationService;
  pods: PodService;
  /** Image lookup (a step's image: has it layers?). */
  images: ImageLookup;
  /** Overlay directories of a container, to commit its writable layer (`disk`: block mode). */
  rootfsPaths?(id: string): Promise<{ lowerDirs: string[]; upperDir: string; disk?: string }>;
  /** Container roots on the host, for COPY and ADD. */
  archive?: ContainerArchive;
}

/** The daemon side of a build (an in-memory fake implements it in unit tests). */
export interface BuildBackend {
  /** A local image by reference or ID, or undefined; `forBase`: only one of the build's platform. */
  findImage(ref: string, forBase?: boolean): { id: string; config: ImageConfig } | undefined;
  /** Pull an image; progress lines go to `out`. */
  pullImage(ref: string, out: (line: string) => void): Promise<{ id: string; config: ImageConfig }>;
  /** An image that adds no layer (a config-only step), made by step container `containerId`. */
  configImage(step: StepImage, containerId: string): Promise<string>;
  /**
   * Run `cmd` in a new container of `step.parentId`; `onStart` gets the container ID, `out`
   * the output as it comes, with the stream it came on. Resolves with the exit code; the
   * container is kept for commit. When `signal` aborts, the container is killed (or never
   * started) and the run resolves.
   */
  run(
    step: StepImage,
    cmd: string[],
    env: string[],
    onStart: (id: string) => void,
    out: (chunk: Buffer, stream: 'stdout' | 'stderr') => void,
    signal?: AbortSignal,
  ): Promise<{ containerId: string; exitCode: number }>;
  /**
   * A container of `step.parentId` with command `cmd`, created and never started (the
   * container dockerd makes for a config-only step). Resolves with its ID.
   */
  createStep(step: StepImage, cmd: string[]): Promise<string>;
  /** Commit a step's container as its image. */
  commit(containerId: string, step: StepImage): Promise<string>;
  /** Write into the root of a new container of `step.parentId` (an empty root for scratch) and commit it. */
  write(step: StepImage, fn: (root: RootDir) => Promise<void>): Promise<string>;
  /** Run `fn` on the root of an image (COPY --from). */
  readImage<T>(imageId: string, fn: (root: RootDir) => Promise<T>): Promise<T>;
  removeContainer(id: string): Promise<void>;
  /** Point `refs` (`name:tag`) at an image. */
  tag(imageId: string, refs: string[]): Promise<void>;
  /**
   * The built image squashed onto its last stage's base (`squash`, src/storage/squash.ts;
   * undefined: FROM scratch, all of it in one layer). Resolves with the new image's ID.
   */
  squash(imageId: string, baseId: string | undefined): Promise<string>;
}

/** The real backend (see the module comment). */
export class PodBuildBackend implements BuildBackend {
  private readonly stores: CommitStores;
  /** IDs createStep made up for steps with no image (no container to remove). */
  private readonly phantoms = new Set<string>();

  constructor(
    private readonly images: ImageService,
    private readonly containers: BuildContainers,
    /** Scratch space of the daemon for roots of FROM scratch images. */
    private readonly tmpRoot: string,
    private readonly version: string,
    /** Credentials by registry domain (X-Registry-Config), for FROM and COPY --from pulls. */
    private readonly auths: ReadonlyMap<string, AuthConfig> = new Map(),
    /** The build's settings for the RUN step containers. */
    private readonly settings: StepSettings = {},
    /** The platform of FROM images (`platform`): a local image of another one is pulled again. */
    private readonly platform?: Platform,
  ) {
    this.stores = { content: images.content, layers: images.layers, images: images.store };
  }

  findImage(ref: string, forBase = false): { id: string; config: ImageConfig } | undefined {
    try {
      const img = this.images.store.find(ref);
      const p = this.platform;
      if (forBase && p && (img.config.os !== p.os || img.config.architecture !== p.architecture)) return undefined;
      return { id: img.id, config: img.config };
    } catch {
      return undefined;
    }
  }

  async pullImage(ref: string, out: (line: string) => void): Promise<{ id: string; config: ImageConfig }> {
    const r = parseTagged(ref);
    const auth = this.auths.get(r.domain);
    const res = await this.images.pull(r, {
      ...(auth ? { auth } : {}),
      ...(this.platform ? { platform: this.platform } : {}),
      onProgress: (e) => {
        if (e.kind === 'resolved') out(`${e.tagOrDigest}: Pulling from ${e.repository}`);
        else if (e.kind === 'stored')
          out(`Status: ${e.updated ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarString(r)}`);
      },
    });
    return { id: res.id, config: this.images.store.config(res.id) };
  }

  async configImage(step: StepImage, containerId: string): Promise<string> {
    const parent = step.parentId ? this.images.store.config(step.parentId) : undefined;
    const container = stepContainerRecord(containerId, step);
    const built = childImageConfig({
      ...(parent ? { parent } : {}),
      config: step.config,
      createdBy: step.createdBy,
      ...(container ? { container } : {}),
      ...(step.author ? { author: step.author } : {}),
      dockerVersion: this.version,
    });
    return recordImage(this.stores.content, this.stores.images, built, [], step.parentId);
  }

  private async createContainer(
    imageId: string,
    config: RunConfig,
    cmd: string[],
    env: string[],
    settings: StepSettings = {},
    run = false,
  ): Promise<string> {
    const r = await this.containers.engine.createBuildStep({
      image: imageId,
      cmd,
      env,
      user: config.User ?? '',
      workingDir: config.WorkingDir ?? '',
      settings,
      ...(run ? { run } : {}),
    });
    return r.id;
  }

  async createStep(step: StepImage, cmd: string[]): Promise<string> {
    // dockerd creates this container even with no image or layers (config steps of a FROM
    // scratch stage before its first COPY/ADD); podvisor's containers need a root
    // filesystem, so such a step names a container that never existed (it is removed at
    // once anyway unless the build passed rm=false).
    if (!step.parentId || (await this.containers.images.resolve(step.parentId)).config.rootfs.diff_ids.length === 0) {
      const id = crypto.randomBytes(32).toString('hex');
      this.phantoms.add(id);
      return id;
    }
    return this.createContainer(step.parentId, step.config, cmd, step.config.Env ?? []);
  }

  async run(
    step: StepImage,
    cmd: string[],
    env: string[],
    onStart: (id: string) => void,
    out: (chunk: Buffer, stream: 'stdout' | 'stderr') => void,
    signal?: AbortSignal,
  ): Promise<{ containerId: string; exitCode: number }> {
    if (!step.parentId) throw new InvalidArgumentError('RUN needs an image with a shell: FROM scratch has none');
    const id = await this.createContainer(step.parentId, step.config, cmd, env, this.settings, true);
    onStart(id);
    const pods = this.containers.pods;
    if (signal?.aborted) return { containerId: id, exitCode: 137 };
    await pods.start(id);
    const kill = () => void pods.kill(id, 9).catch(() => undefined);
    signal?.addEventListener('abort', kill, { once: true });
    try {
      if (signal?.aborted) kill();
      for await (const e of pods.logs(id, { stdout: true, stderr: true, follow: true })) out(e.log, e.stream);
      const res = await pods.wait(id, 'not-running');
      return { containerId: id, exitCode: res.exitCode };
    } finally {
      signal?.removeEventListener('abort', kill);
    }
  }

  async commit(containerId: string, step: StepImage): Promise<string> {
    const paths = await this.rootfsPaths(containerId);
    const container = stepContainerRecord(containerId, step);
    // A RUN step's layer on a disk of its own (block mode) is packed in a guest, as docker
    // commit does it (src/storage/archive/guest.ts).
    const archive = this.containers.archive;
    if (paths.disk && !archive) throw new Error('container storage is not available');
    return commitWritableLayer(this.stores, {
      upperDir: paths.upperDir,
      lowerDirs: paths.lowerDirs,
      ...(paths.disk && archive ? { layerTar: () => archive.guestLayer(containerId, paths.lowerDirs) } : {}),
      ...(step.parentId ? { parentId: step.parentId } : {}),
      config: step.config,
      createdBy: step.createdBy,
      ...(container ? { container } : {}),
      ...(step.author ? { author: step.author } : {}),
      dockerVersion: this.version,
      recordParent: true,
    });
  }

  private rootfsPaths(id: string): Promise<{ upperDir: string; lowerDirs: string[]; disk?: string }> {
    if (!this.containers.rootfsPaths) throw new Error('container storage is not available');
    return this.containers.rootfsPaths(id);
  }

  async write(step: StepImage, fn: (root: RootDir) => Promise<void>): Promise<string> {
    if (!step.parentId || this.images.store.config(step.parentId).rootfs.diff_ids.length === 0) {
      await fs.promises.mkdir(this.tmpRoot, { recursive: true, mode: 0o700 });
      const dir = await fs.promises.mkdtemp(path.join(this.tmpRoot, 'scratch-'));
      try {
        const root = await RootDir.open(dir);
        try {
          await fn(root);
        } finally {
          await root.close();
        }
        return await commitWritableLayer(this.stores, {
          upperDir: dir,
          lowerDirs: [],
          ...(step.parentId ? { parentId: step.parentId } : {}),
          config: step.config,
          createdBy: step.createdBy,
          ...(step.author ? { author: step.author } : {}),
          dockerVersion: this.version,
          recordParent: true,
        });
      } finally {
        await fs.promises.rm(dir, { recursive: true, force: true });
      }
    }
    const id = await this.createContainer(step.parentId, step.config, ['/'], []);
    try {
      await this.withRoot(id, fn);
      return await this.commit(id, step);
    } finally {
      await this.removeContainer(id);
    }
  }

  private async withRoot<T>(id: string, fn: (root: RootDir) => Promise<T>): Promise<T> {
    const archive = this.containers.archive;
    if (!archive) throw new Error('container storage is not available');
    const o = await archive.open(id);
    try {
      return await fn(o.root);
    } finally {
      await o.close();
    }
  }

  async readImage<T>(imageId: string, fn: (root: RootDir) => Promise<T>): Promise<T> {
    const id = await this.createContainer(imageId, {}, ['/'], []);
    try {
      return await this.withRoot(id, fn);
    } finally {
      await this.removeContainer(id);
    }
  }

  async removeContainer(id: string): Promise<void> {
    if (this.phantoms.delete(id)) return;
    await this.containers.pods.remove(id, { force: true });
  }

  async tag(imageId: string, refs: string[]): Promise<void> {
    for (const r of refs) await this.images.store.tag(imageId, parseTagged(r));
  }

  squash(imageId: string, baseId: string | undefined): Promise<string> {
    return squashImage(this.stores, this.tmpRoot, imageId, baseId);
  }
}
