/**
 * The CRI ImageService over podvisor's image store: the very store the Docker API uses, so
 * `docker images` lists what a kubelet pulled and the kubelet sees what `docker pull` fetched.
 *
 * Images are shown as containerd's CRI plugin shows them: `id` is the config digest
 * (`sha256:...`, Docker's image ID), `repo_tags` and `repo_digests` fully qualified
 * (`docker.io/library/busybox:latest`, `registry.k8s.io/pause@sha256:...`), `size` the unpacked
 * size the store records, `uid` or `username` from the config's User (its user part: a number
 * gives uid, a name gives username).
 *
 * References name an image as the kubelet gives them: an image ID (full, or a prefix), a
 * reference with tag or digest, or a bare name (`:latest` implied); short names are
 * docker.io's (`busybox` is `docker.io/library/busybox:latest`).
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { ImageService } from '../../storage/service';
import type { StoredImageView } from '../../storage/images';
import type { AuthConfig } from '../../storage/registry/auth';
import { formatReference, parseReference, parseTagged, type ImageReference } from '../../storage/reference';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../errors';

const run = promisify(execFile);

/** ImageSpec as it arrives. */
export interface ImageSpecMsg {
  image?: string;
  annotations?: Record<string, string>;
}

/** An Image message. */
export interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: string;
  uid: { value: string } | null;
  username: string;
  spec: ImageSpecMsg | null;
  pinned: boolean;
}

/** AuthConfig as it arrives (every field a string, '' when unset). */
export interface CriAuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  server_address?: string;
  identity_token?: string;
  registry_token?: string;
}

/** A FilesystemUsage message. */
export interface FilesystemUsageMsg {
  timestamp: string;
  fs_id: { mountpoint: string };
  used_bytes: { value: string };
  inodes_used: { value: string };
}

/** The user part of an image config's User (`1000:1000` -> `1000`), as uid or username. */
export function imageUser(user: string | undefined): { uid: { value: string } | null; username: string } {
  const u = (user ?? '').split(':')[0];
  if (u === '') return { uid: null, username: '' };
  if (/^\d+$/.test(u)) return { uid: { value: String(BigInt(u)) }, username: '' };
  return { uid: null, username: u };
}

/** A familiar reference the store reports (`busybox:latest`) fully qualified. */
function qualified(familiar: string): string {
  return formatReference(parseReference(familiar));
}

/** The CRI Image message of a stored image. */
export function criImage(img: StoredImageView): CriImage {
  return {
    id: img.id,
    repo_tags: img.repoTags.map(qualified),
    repo_digests: img.repoDigests.map(qualified),
    size: String(img.size),
    ...imageUser(img.config?.config?.User),
    spec: null,
    pinned: false,
  };
}

/** The storage layer's credentials from a CRI AuthConfig ('' fields are unset). */
export function authOf(a: CriAuthConfig | null | undefined): AuthConfig | undefined {
  if (!a) return undefined;
  const out: AuthConfig = {};
  if (a.username || a.password) {
    out.username = a.username ?? '';
    out.password = a.password ?? '';
  }
  if (a.auth) out.auth = a.auth;
  if (a.server_address) out.serveraddress = a.server_address;
  if (a.identity_token) out.identitytoken = a.identity_token;
  if (a.registry_token) out.registrytoken = a.registry_token;
  return Object.keys(out).length ? out : undefined;
}

/** The reference of an ImageSpec, refused when empty. */
function specImage(spec: ImageSpecMsg | null | undefined, what: string): string {
  const image = spec?.image ?? '';
  if (image === '') throw new InvalidArgumentError(`${what}: image spec must name an image`);
  return image;
}

/** The CRI image calls over the daemon's image service. */
export class CriImageService {
  constructor(private readonly images: ImageService) {}

  /**
   * The stored image `input` names, undefined when there is none. A reference that cannot
   * name an image is InvalidArgumentError.
   */
  find(input: string): StoredImageView | undefined {
    try {
      return this.images.store.find(input);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** ListImages: every image, or those the filter's image names (the one it resolves to). */
  list(filter: { image?: ImageSpecMsg | null } | null | undefined): { images: CriImage[] } {
    const wanted = filter?.image?.image ?? '';
    if (wanted !== '') {
      const img = this.find(wanted);
      return { images: img ? [criImage(img)] : [] };
    }
    return { images: this.images.store.list().map(criImage) };
  }

  /** ImageStatus: the image, or no image (not an error) when it is not here. */
  status(req: { image?: ImageSpecMsg | null; verbose?: boolean }): {
    image: CriImage | null;
    info: Record<string, string>;
  } {
    const img = this.find(specImage(req.image, 'ImageStatus'));
    if (!img) return { image: null, info: {} };
    const info: Record<string, string> = {};
    if (req.verbose) info.info = JSON.stringify({ id: img.id, layers: img.layers, imageSpec: img.config });
    return { image: criImage(img), info };
  }

  /** PullImage: pull through the registry's mirrors; answers the image ID (containerd's image_ref). */
  async pull(
    req: { image?: ImageSpecMsg | null; auth?: CriAuthConfig | null },
    signal?: AbortSignal,
  ): Promise<{ image_ref: string }> {
    const input = specImage(req.image, 'PullImage');
    let ref: ImageReference;
    try {
      ref = parseTagged(input);
    } catch (err) {
      throw new InvalidArgumentError(
        `failed to parse image reference ${JSON.stringify(input)}: ${(err as Error).message}`,
      );
    }
    // Its disk made as a `docker pull` makes it (where the daemon makes them): a sandbox's
    // containers read their images from them (src/pod/lifecycle/joined-disks.ts).
    const { id } = await this.images.pull(ref, { auth: authOf(req.auth), signal });
    return { image_ref: id };
  }

  /**
   * RemoveImage: the image the spec names goes with all its references (containerd's rule),
   * unless a container uses it. An image that is not here is no error (the call is idempotent).
   */
  async remove(req: { image?: ImageSpecMsg | null }): Promise<object> {
    const img = this.find(specImage(req.image, 'RemoveImage'));
    if (!img) return {};
    const users = this.images.store.usersOf(img.id);
    if (users.length) {
      throw new ConflictError(`image ${img.id} is in use by container ${users[0]}: remove the container first`);
    }
    await this.images.store.remove(img.id, { force: true });
    return {};
  }

  /** ImageFsInfo: the disk use of the image store (layers and blobs), as `du` counts it. */
  async fsInfo(): Promise<{ image_filesystems: FilesystemUsageMsg[] }> {
    const dirs = [this.images.layers.root, this.images.content.root];
    const timestamp = String(BigInt(Date.now()) * 1_000_000n);
    const [bytes, inodes] = await Promise.all([du(['-B1', ...dirs]), du(['--inodes', ...dirs])]);
    return {
      image_filesystems: [
        {
          timestamp,
          fs_id: { mountpoint: path.dirname(this.images.layers.root) },
          used_bytes: { value: bytes },
          inodes_used: { value: inodes },
        },
      ],
    };
  }
}

/** The total `du -s -c` gives for `args` (directories last), as a decimal string. */
async function du(args: string[]): Promise<string> {
  const { stdout } = await run('du', ['-s', '-c', ...args], { maxBuffer: 1024 * 1024 });
  const total = stdout.trim().split('\n').pop() ?? '';
  const m = /^(\d+)\s+total$/.exec(total);
  if (!m) throw new Error(`du gave no total: ${stdout.slice(0, 200)}`);
  return m[1];
}
