/**
 * In-memory ImageLookup and RootfsManager, and a PodManager wired to the fake hypervisor, for
 * unit tests of the pod and API layers.
 */
import { joinBeneath, type BeneathPath } from '../../../src/util/beneath';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ImageLookup, ImageRecord, RootfsManager } from '../../../src/storage/types';
import { NotFoundError } from '../../../src/errors';
import { NoSuchImageError } from '../../../src/storage/errors';
import { FakeFactory, FakeHypervisor } from '../../helpers/fake-vm';
import { EventBus } from '../../../src/pod/events';
import { PodManager } from '../../../src/pod/manager';
import { StateStore } from '../../../src/storage/state';
import { parseCreateBody } from '../../../src/api/v1.41/docker/create-body';
import { translateCreate, type TranslateOptions } from '../../../src/api/v1.41/docker/create';
import { repairFrontend } from '../../../src/api/v1.41/docker/repair';
import { decodeBody } from '../../../src/util/go-decode';
import { CreateBodySchema, type CreateBody } from '../../../src/api/v1.41/docker/docker-schema';
import type { PodRecord } from '../../../src/pod/types';
import type { PodManagerDeps } from '../../../src/pod/context';
import type { PodService } from '../../../src/pod/service';
import { PodEngine, type EngineDeps } from '../../../src/engine/engine';

/** The fake busybox image. */
export const BUSYBOX: ImageRecord = {
  id: 'sha256:' + 'b'.repeat(64),
  repoTags: ['busybox:latest'],
  repoDigests: [],
  config: {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: ['sha256:' + 'c'.repeat(64)] },
  },
  size: 2000000,
  storedAt: 0,
};

/** ImageLookup over a fixed set of images. */
export class FakeImages implements ImageLookup {
  readonly users = new Map<string, Set<string>>();
  constructor(readonly images: ImageRecord[] = [BUSYBOX]) {}
  async resolve(ref: string): Promise<ImageRecord> {
    const r = this.images.find(
      (i) =>
        i.repoTags.includes(ref) ||
        i.repoTags.includes(`${ref}:latest`) ||
        i.id === ref ||
        i.id.slice(7).startsWith(ref),
    );
    if (!r) throw new NoSuchImageError(ref);
    return r;
  }
  async layerDirs(imageId: string): Promise<string[]> {
    return [`/fake/layers/${imageId.slice(7, 19)}`];
  }
  async addUser(imageId: string, containerId: string): Promise<void> {
    if (!this.users.has(imageId)) this.users.set(imageId, new Set());
    this.users.get(imageId)?.add(containerId);
  }
  async removeUser(imageId: string, containerId: string): Promise<void> {
    this.users.get(imageId)?.delete(containerId);
  }
}

/** RootfsManager keeping only bookkeeping. */
export class FakeRootfs implements RootfsManager {
  readonly prepared = new Map<string, string[]>();
  readonly mounted = new Map<string, string>();
  failMount = false;
  /** When set, unmount waits for it (a slow teardown). */
  unmountGate: Promise<void> | undefined;
  async prepare(id: string, layers: string[]): Promise<void> {
    this.prepared.set(id, layers);
  }
  async mount(id: string, target: BeneathPath): Promise<void> {
    if (this.failMount) throw new Error('mount failed: injected');
    if (!this.prepared.has(id)) throw new NotFoundError(`no rootfs prepared for ${id}`);
    this.mounted.set(id, joinBeneath(target));
  }
  async unmount(id: string): Promise<void> {
    await this.unmountGate;
    this.mounted.delete(id);
  }
  async adopt(id: string, target: BeneathPath): Promise<void> {
    if (this.prepared.has(id)) this.mounted.set(id, joinBeneath(target));
  }
  async remove(id: string): Promise<void> {
    this.mounted.delete(id);
    this.prepared.delete(id);
  }
  async sizeRw(): Promise<number> {
    return 4096;
  }
}

/** A pod manager on fakes, with a temp data root. */
export interface Harness {
  hv: FakeHypervisor;
  factory: FakeFactory;
  images: FakeImages;
  rootfs: FakeRootfs;
  events: EventBus;
  state: StateStore;
  root: string;
  pods: PodManager;
  /** Create a container from a Docker create body (`networks`: plan its network as a host with these). */
  create(body: Record<string, unknown>, name?: string, networks?: TranslateOptions['networks']): Promise<PodRecord>;
  /**
   * The creation service over the harness's pods (or `pods`, e.g. the Docker view of them), with
   * the test defaults (256 MiB, 1 vCPU, 2 host CPUs); `extra` adds or replaces dependencies.
   */
  engine(pods?: PodService, extra?: Partial<EngineDeps>): PodEngine;
  /** A new manager on the same hypervisor and disk (a daemon restart). */
  restartDaemon(): Promise<PodManager>;
  cleanup(): Promise<void>;
}

let counter = 0;

/** Build a harness. */
export async function harness(hv = new FakeHypervisor(), extra: Partial<PodManagerDeps> = {}): Promise<Harness> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-unit-'));
  const containersRoot = path.join(root, 'containers');
  const images = new FakeImages();
  const rootfs = new FakeRootfs();
  const events = new EventBus();
  const state = new StateStore(containersRoot);
  await state.init();
  const factory = new FakeFactory(hv);
  const resolvConf = path.join(root, 'resolv.conf');
  fs.writeFileSync(resolvConf, 'nameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch example.org\n');
  const mk = () =>
    new PodManager({
      factory,
      hypervisor: hv,
      images,
      rootfs,
      state,
      events,
      containersRoot,
      resolvConf,
      repairFrontend,
      ...extra,
    });
  const h: Harness = {
    hv,
    factory,
    images,
    rootfs,
    events,
    state,
    root,
    pods: mk(),
    async create(body, name, networks) {
      const req = parseCreateBody(decodeBody<CreateBody>(CreateBodySchema, body), 2);
      const image = await images.resolve(req.config.Image);
      const id = (++counter).toString(16).padStart(8, '0') + 'a'.repeat(56);
      const t = translateCreate(req, image, id, {
        defaults: { memoryMiB: 256, cpus: 1 },
        hostCpus: 2,
        ...(networks ? { networks } : {}),
      });
      return h.pods.create(t.spec, name, t.frontend);
    },
    engine(pods, extra = {}) {
      return new PodEngine({
        pods: pods ?? h.pods,
        images,
        vmDefaults: { memoryMiB: 256, cpus: 1 },
        hostCpus: 2,
        ...extra,
      });
    },
    async restartDaemon() {
      h.pods.shutdown();
      h.pods = mk();
      await h.pods.restore();
      return h.pods;
    },
    async cleanup() {
      h.pods.shutdown();
      await new Promise((r) => setTimeout(r, 20));
      await state.flush();
      fs.rmSync(root, { recursive: true, force: true, maxRetries: 20, retryDelay: 25 });
    },
  };
  return h;
}

/** A sink collecting output, for attach and exec tests. */
export function collector(): {
  sink: import('../../../src/pod/io/io').OutputSink;
  out: () => string;
  err: () => string;
  ended: () => boolean;
} {
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  let ended = false;
  return {
    sink: {
      write: (s, d) => {
        (s === 'stdout' ? o : e).push(d);
        return true;
      },
      drain: async () => {},
      end: () => {
        ended = true;
      },
    },
    out: () => Buffer.concat(o).toString(),
    err: () => Buffer.concat(e).toString(),
    ended: () => ended,
  };
}
