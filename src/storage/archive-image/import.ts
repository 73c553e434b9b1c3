/**
 * `docker import`: a root filesystem tar (plain, or gzip, bzip2, xz or zstd compressed:
 * src/storage/decompress.ts) made into a one-layer image, as
 * dockerd 20.10's ImportImage makes it: the layer is the tar (stored as load stores layers:
 * layer-in.ts), the config carries the given container config, the comment (`Imported from
 * <src>` unless a message is given) in both the image and its one history entry, and the
 * creation time; the image is tagged when a reference is given. The source is the request
 * body or a URL fetched over HTTP(S).
 */
import type { Readable } from 'node:stream';
import type * as http from 'node:http';
import { Transform, pipeline as pipelineCb } from 'node:stream';
import type { ContentStore } from '../content';
import type { LayerStore } from '../layers/store';
import type { ImageStore } from '../images';
import type { ImageConfig } from '../types';
import type { ImageReference } from '../reference';
import { sha256Digest } from '../digest';
import { storeLayerTar } from './layer-in';
import { decompressStream } from '../decompress';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { outbound, OutboundTimeoutError } from '../../util/outbound';
import { hostPlatform, type Platform } from '../registry/manifest';

/** What an import makes. */
export interface ImportRequest {
  /** The container config of the image (dockerd's container.Config, changes applied). */
  config: Record<string, unknown>;
  /** The image's comment (`Imported from -` by default, as dockerd). */
  comment: string;
  /** The tag to give it, if any. */
  ref?: ImageReference;
  /** Bytes of the source read so far (for progress), at most every 100 ms and at its end. */
  onBytes?: (read: number) => void;
  /** The image's OS, architecture and variant (default: the host's). */
  platform?: Platform;
}

/** One GET of `u`: the response once its headers are in, under the daemon's outbound timeouts. */
function get(u: URL, signal?: AbortSignal): Promise<http.IncomingMessage> {
  return outbound.send({ url: u, signal });
}

/**
 * The body of `url` (dockerd prefixes `http://` when it has no scheme), following up to 10
 * redirects as Go's client does. UnavailableError, worded as Go's HTTP client words it, when
 * it cannot be fetched or answers 400 or more. `signal` aborts the fetch (the client went away).
 */
export async function fetchSource(
  url: string,
  signal?: AbortSignal,
): Promise<{ body: Readable; size?: number; url: string }> {
  const full = url.includes('://') ? url : `http://${url}`;
  let u: URL;
  try {
    u = new URL(full);
  } catch {
    throw new InvalidArgumentError(`parse ${JSON.stringify(full)}: invalid URL`);
  }
  const first = u.href;
  for (let hops = 0; ; hops++) {
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new InvalidArgumentError(
        `Get ${JSON.stringify(u.href)}: unsupported protocol scheme ${JSON.stringify(u.protocol.slice(0, -1))}`,
      );
    let res: http.IncomingMessage;
    try {
      res = await get(u, signal);
    } catch (err) {
      if (err instanceof OutboundTimeoutError || err instanceof UnavailableError)
        throw new UnavailableError(`Get ${JSON.stringify(u.href)}: ${err.message}`);
      const port = u.port || (u.protocol === 'https:' ? '443' : '80');
      throw new UnavailableError(
        `Get ${JSON.stringify(u.href)}: dial tcp ${u.hostname}:${port}: ` +
          ((err as { code?: string }).code ?? (err as Error).message),
      );
    }
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      if (hops >= 10) throw new UnavailableError(`Get ${JSON.stringify(u.href)}: stopped after 10 redirects`);
      u = new URL(res.headers.location, u);
      continue;
    }
    if (status >= 400) {
      res.resume();
      throw new UnavailableError(`Got HTTP status code >= 400: ${status} ${res.statusMessage ?? ''}`.trim());
    }
    const len = Number(res.headers['content-length']);
    return { body: res, ...(Number.isFinite(len) && len > 0 ? { size: len } : {}), url: first };
  }
}

/** Import the tar `source` as a new image; resolves with its ID. */
export async function importRootfs(
  content: ContentStore,
  layers: LayerStore,
  images: ImageStore,
  source: Readable,
  req: ImportRequest,
): Promise<string> {
  let counted = source;
  if (req.onBytes) {
    // Progress counts the bytes as they come (compressed or not), as dockerd's does.
    const onBytes = req.onBytes;
    let read = 0;
    let last = 0;
    counted = pipelineCb(
      source,
      new Transform({
        transform(chunk: Buffer, _e, cb) {
          read += chunk.length;
          const now = Date.now();
          if (now - last >= 100) {
            last = now;
            onBytes(read);
          }
          cb(null, chunk);
        },
        flush(cb) {
          onBytes(read);
          cb();
        },
      }),
      () => undefined,
    );
  }
  // The new layer is held from before its commit until the image refers to it: a gc (an rmi
  // meanwhile) would otherwise take it as nobody's.
  let release = () => undefined as void;
  try {
    const diffId = await storeLayerTar(content, layers, await decompressStream(counted), {
      onDiffId: (d) => (release = layers.hold([d])),
    });
    const created = new Date().toISOString();
    const platform = req.platform ?? hostPlatform();
    const config = {
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      comment: req.comment,
      config: req.config,
      created,
      docker_version: '20.10.24',
      history: [{ created, comment: req.comment }],
      os: platform.os,
      rootfs: { type: 'layers', diff_ids: [diffId] },
    };
    const bytes = Buffer.from(JSON.stringify(config));
    const id = sha256Digest(bytes);
    await content.put(bytes, { digest: id }, 'image config');
    await images.commit({
      id,
      config: config as unknown as ImageConfig,
      layers: [diffId],
      refs: req.ref ? [req.ref] : [],
    });
    return id;
  } finally {
    release();
  }
}
