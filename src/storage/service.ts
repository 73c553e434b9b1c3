/**
 * The image service the API layer is given: the stores opened under the daemon's data root
 * (`content/`, `layers/`, `images/`), the puller, registry login and manifest inspection.
 * Build it with `ImageService.open(dataRoot, flags)`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ContentStore } from './content';
import { LayerStore } from './layers/store';
import { ImageStore } from './images';
import { Puller, pullError, type PullOptions } from './pull';
import { RegistryHosts } from './registry/hosts';
import type { RegistriesConf } from './registry/registries-conf';
import { RegistryClient, RegistryError } from './registry/client';
import { basicCredentials, type AuthConfig } from './registry/auth';
import { parseManifest, type Descriptor, type Platform } from './registry/manifest';
import { DEFAULT_DOMAIN, type ImageReference } from './reference';
import { sha256Digest } from './digest';
import { ForbiddenError, InvalidArgumentError, NotFoundError, UnauthorizedError, UnavailableError } from '../errors';
import { LoginRefusedError } from './errors';
import { ArchiveLoader } from './archive-image/load';
import { Pusher } from './push';
import { shortId } from './digest';
import type { ImageDiskPrep, ImageDiskProgress } from './image-disks/prep';

/** Registry flags of the daemon. */
export interface RegistryFlags {
  insecureRegistries?: string[];
  registryMirrors?: string[];
  /** Per-registry mirrors (--registries-conf, already read). */
  registriesConf?: RegistriesConf;
}

/** Options of an image service's pull. */
export interface ImagePullOptions extends PullOptions {
  /**
   * false: make no image disk for it, even on a daemon that makes them as images come (a CRI
   * pull: a sandbox's containers read their images over the layers share of its one VM). A
   * later pull without it makes the disk.
   */
  imageDisk?: boolean;
}

/** What a registry says about a reference: its manifest's descriptor and the platforms it serves. */
export interface DistributionRecord {
  descriptor: { mediaType: string; digest: string; size: number };
  platforms: Platform[];
}

/** Everything image-related the API serves. */
export class ImageService {
  private diskPrep: ImageDiskPrep | undefined;
  private statePrep: ((imageId: string) => Promise<void>) | undefined;

  constructor(
    readonly content: ContentStore,
    readonly layers: LayerStore,
    readonly store: ImageStore,
    readonly puller: Puller,
    readonly hosts: RegistryHosts,
    /** `docker load` (spools under `<dataRoot>/load-tmp`). */
    readonly loader: ArchiveLoader,
    readonly pusher: Pusher,
  ) {}

  /** Open (creating when needed) the stores under `dataRoot`. */
  static async open(dataRoot: string, flags: RegistryFlags = {}): Promise<ImageService> {
    const content = new ContentStore(path.join(dataRoot, 'content'));
    const layers = new LayerStore(path.join(dataRoot, 'layers'));
    await content.init();
    await layers.init();
    const store = new ImageStore(path.join(dataRoot, 'images'), content, layers);
    await store.init();
    const hosts = new RegistryHosts(flags);
    const spool = path.join(dataRoot, 'load-tmp');
    await fs.promises.rm(spool, { recursive: true, force: true });
    const loader = new ArchiveLoader(content, layers, store, spool);
    return new ImageService(
      content,
      layers,
      store,
      new Puller(content, layers, store, hosts),
      hosts,
      loader,
      new Pusher(content, layers, store, hosts),
    );
  }

  /**
   * Make each new image's read-only disk as soon as it is stored (a daemon whose containers read
   * their image from a disk by default): pulls, loads, builds and commits call prepareImageDisk.
   */
  makeImageDisks(prep: ImageDiskPrep): void {
    this.diskPrep = prep;
  }

  /**
   * Make the read-only disk of image `imageId` now if this daemon makes them ahead (see
   * makeImageDisks) and it has none; never rejects (the first start makes what failed here).
   */
  async prepareImageDisk(imageId: string, progress?: ImageDiskProgress): Promise<void> {
    await this.diskPrep?.prepare(imageId, progress);
    // A checkpoint image's saved state, made ready for its first run (never rejects).
    await this.statePrep?.(imageId).catch(() => undefined);
  }

  /**
   * Make each checkpoint image's saved state ready for its first run as it comes, after its
   * disk (docs/checkpoint-images.md): set by the daemon.
   */
  prepareSavedStates(prep: (imageId: string) => Promise<void>): void {
    this.statePrep = prep;
  }

  /**
   * Pull an image (see Puller.pull); its disk is made before the closing status
   * (prepareImageDisk), unless `imageDisk` is false.
   */
  pull(ref: ImageReference, opts: ImagePullOptions): Promise<{ id: string; updated: boolean }> {
    if ((!this.diskPrep && !this.statePrep) || opts.imageDisk === false) return this.puller.pull(ref, opts);
    const emit = opts.onProgress;
    return this.puller.pull(ref, {
      ...opts,
      afterStore: (id) =>
        this.prepareImageDisk(
          id,
          emit && {
            making: () => emit({ kind: 'image-disk', image: shortId(id), made: false }),
            made: () => emit({ kind: 'image-disk', image: shortId(id), made: true }),
          },
        ),
    });
  }

  /**
   * Check credentials against a registry's /v2/ (`docker login`): resolves when the registry
   * accepts them; UnauthorizedError, or LoginRefusedError (the URL and status) when not.
   */
  async login(auth: AuthConfig): Promise<void> {
    const domain = loginDomain(auth.serveraddress);
    // dockerd parses the address as a URL first: garbage is the client's error (400).
    if (!URL.canParse(`https://${domain}/`) || /[\s%]/.test(domain)) {
      throw new InvalidArgumentError(
        `unable to parse server address: parse ${JSON.stringify(`https://${domain}`)}: invalid host`,
      );
    }
    const client = new RegistryClient(domain, '', this.hosts, auth);
    let res: { ok: boolean; status: number; url: string };
    try {
      res = await client.checkLogin();
    } catch (err) {
      if (err instanceof RegistryError && err.status === 401) {
        throw new UnauthorizedError(err.errors.length ? err.detail() : 'unauthorized: incorrect username or password');
      }
      throw new UnavailableError(err instanceof Error ? err.message : String(err));
    }
    if (!res.ok) {
      if (res.status === 401 && !basicCredentials(auth))
        throw new UnauthorizedError('unauthorized: authentication required');
      throw new LoginRefusedError(res.url, res.status);
    }
  }

  /** `GET /distribution/{name}/json`: the registry's descriptor and platforms for a reference. */
  async distribution(ref: ImageReference, auth?: AuthConfig): Promise<DistributionRecord> {
    const client = new RegistryClient(ref.domain, ref.path, this.hosts, auth, 'pull', !!ref.digest);
    try {
      const m = await client.getManifest(ref.digest ?? ref.tag ?? 'latest');
      const parsed = parseManifest(m.body, m.contentType);
      const descriptor: Descriptor = { mediaType: parsed.mediaType, digest: sha256Digest(m.body), size: m.body.length };
      let platforms: Platform[];
      if (parsed.kind === 'index') {
        platforms = parsed.manifests.filter((d) => d.platform).map((d) => d.platform as Platform);
      } else {
        const cfgBlob = await client.getBlob(parsed.config.digest);
        const chunks: Buffer[] = [];
        for await (const c of cfgBlob.stream as AsyncIterable<Buffer>) chunks.push(c);
        const cfg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          architecture?: string;
          os?: string;
          variant?: string;
        };
        platforms = [
          { architecture: cfg.architecture ?? '', os: cfg.os ?? '', ...(cfg.variant ? { variant: cfg.variant } : {}) },
        ];
      }
      return {
        descriptor: { mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size },
        platforms,
      };
    } catch (err) {
      const e = pullError(err, ref);
      // dockerd answers this endpoint with the registry's own words: the same kind of
      // failure, but none of the pull's wording.
      if (err instanceof RegistryError && err.errors.length) throw sameKind(e, err.detail());
      throw e;
    }
  }
}

/** A failure of `e`'s kind (so the same status) whose whole message is `message`. */
function sameKind(e: Error, message: string): Error {
  for (const Kind of [ForbiddenError, UnauthorizedError, NotFoundError, UnavailableError])
    if (e instanceof Kind) return new Kind(message);
  e.message = message;
  return e;
}

/** Registry domain from a login server address (`https://index.docker.io/v1/` -> docker.io). */
export function loginDomain(server: string | undefined): string {
  if (!server) return DEFAULT_DOMAIN;
  let s = server.replace(/^[a-z]+:\/\//i, '');
  s = s.replace(/\/.*$/, '');
  if (s === 'index.docker.io' || s === 'registry-1.docker.io' || s === DEFAULT_DOMAIN) return DEFAULT_DOMAIN;
  return s;
}
