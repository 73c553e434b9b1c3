/**
 * `docker import` in dockerd 20.10's wire format: `POST /images/create` with `fromSrc` (and
 * no `fromImage`). `fromSrc=-` reads the tar from the request body, anything else is a URL
 * fetched by the daemon (`Downloading from <url>`, then `Importing` progress). `repo` (with
 * its tag, or `tag`) names the image, `message` is its comment, and every `changes` value is
 * one Dockerfile instruction applied to its config. The answer ends with `{"status": <ID>}`.
 * Errors found before anything is written (a bad reference or change, a source that cannot be
 * fetched, a body that is not a tar) are plain API errors; later ones an errorDetail line.
 */
import type { Request, Response } from 'express';
import type { Readable } from 'node:stream';
import type { ImageService } from '../../storage/service';
import type { ImageReference } from '../../storage/reference';
import { fetchSource, importRootfs } from '../../storage/archive-image/import';
import { applyChanges } from '../../dockerfile/changes';
import type { RunConfig } from '../../dockerfile/instructions';
import { isValidTag, parseReference } from '../../storage/reference';
import { InvalidArgumentError, UnavailableError } from '../../errors';
import { goJson, progressLine, writeProgressError } from './kit/progress';
import type { Platform } from '../../storage/registry/manifest';
import { apiVersionOf } from './versions';
import { importPlatform } from './versions/queries';

/** The config dockerd starts an import from (an empty container.Config, as it marshals one). */
const EMPTY_CONFIG = {
  Hostname: '',
  Domainname: '',
  User: '',
  AttachStdin: false,
  AttachStdout: false,
  AttachStderr: false,
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: null,
  Cmd: null,
  Image: '',
  Volumes: null,
  WorkingDir: '',
  Entrypoint: null,
  OnBuild: null,
  Labels: null,
};

/** The reference `repo` and `tag` name, as dockerd's ImportImage reads them. */
export function importReference(repo: string, tag: string): ImageReference | undefined {
  if (!repo) return undefined;
  const ref = parseReference(repo);
  if (ref.digest !== undefined) throw new InvalidArgumentError('cannot import digest reference');
  if (tag) {
    if (!isValidTag(tag)) throw new InvalidArgumentError('invalid tag format');
    return { domain: ref.domain, path: ref.path, tag };
  }
  return { ...ref, tag: ref.tag ?? 'latest' };
}

/** Serve an import (`fromSrc` given, `fromImage` empty). */
export async function importImage(
  images: ImageService,
  query: { fromSrc?: string; repo: string; tag: string; message: string; changes: string[]; platform: string },
  req: Request,
  res: Response,
): Promise<void> {
  const src = query.fromSrc ?? '';
  // dockerd fetches "http://" + src: an empty one is Go's error for a URL without a host.
  if (!src) throw new UnavailableError('Get "http:": http: no Host in request URL');
  let ref: ImageReference | undefined;
  let config: Record<string, unknown>;
  let platform: Platform;
  try {
    platform = importPlatform(query.platform, apiVersionOf(res));
    ref = importReference(query.repo, query.tag);
    config = applyChanges({ ...EMPTY_CONFIG } as unknown as RunConfig, query.changes) as unknown as Record<
      string,
      unknown
    >;
  } catch (err) {
    // The client is still sending the tar: read it to its end first, or it gets a broken
    // pipe instead of the answer.
    if (src === '-' && !req.readableEnded) {
      await new Promise<void>((resolve) => {
        req
          .once('end', resolve)
          .once('close', resolve)
          .once('error', () => resolve());
        req.resume();
      });
    }
    throw err;
  }
  const comment = query.message || `Imported from ${src}`;
  const start = () => {
    if (res.headersSent) return;
    res.status(200).setHeader('Content-Type', 'application/json');
    res.flushHeaders();
  };
  let source: Readable = req;
  let onBytes: ((n: number) => void) | undefined;
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error('client went away'));
  };
  res.on('close', onClose);
  try {
    if (src !== '-') {
      const fetched = await fetchSource(src, controller.signal);
      start();
      res.write(goJson({ status: `Downloading from ${fetched.url}` }) + '\r\n');
      source = fetched.body;
      onBytes = (current) =>
        res.write(
          progressLine({
            status: 'Importing',
            progressDetail: { current, ...(fetched.size ? { total: fetched.size } : {}) },
          }),
        );
    }
    const id = await importRootfs(images.content, images.layers, images.store, source, {
      config,
      comment,
      platform,
      ...(ref ? { ref } : {}),
      ...(onBytes ? { onBytes } : {}),
    });
    start();
    res.write(goJson({ status: id }) + '\r\n');
  } catch (err) {
    writeProgressError(res, err);
  } finally {
    res.off('close', onClose);
  }
  res.end();
}
