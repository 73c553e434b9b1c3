/**
 * Image routes, in dockerd 20.10's wire format: POST /images/create (pull, streaming progress
 * JSON; with fromSrc, import: image-import.ts), GET /images/json, GET /images/{name}/json, GET /images/{name}/history,
 * POST /images/{name}/tag, DELETE /images/{name}, POST /images/prune,
 * GET /distribution/{name}/json. Names may contain slashes (`127.0.0.1:5000/x/y`), so the
 * routes use wildcards, as the docker CLI sends them unescaped.
 */
import type { Request, Response, Router } from 'express';
import type { ApiServices } from './services';
import type { ImageService } from '../../storage/service';
import type { StoredImageView } from '../../storage/images';
import type { PullEvent } from '../../storage/pull';
import { dockerProgress } from './json/pull-progress';
import { decodeRegistryAuth } from '../../storage/registry/auth';
import { parsePlatform, type Platform } from '../../storage/registry/manifest';
import { isDigest } from '../../storage/digest';
import { isValidTag, parseReference, familiarName, type ImageReference } from '../../storage/reference';
import { InvalidArgumentError, NotFoundError, PodvisorError, UnavailableError } from '../../errors';
import { NoSuchImageError } from '../../storage/errors';
import { dockerMessage } from '../../translate/errors';
import { sendJson, svc } from './kit/params';
import { sharedSizes } from './system-df';
import { apiVersionOf } from './versions';
import { imageInspectFor, imageSummaryFor, sharedSizeAsked } from './versions/views';
import { clientNeedsOf } from './versions/clients';
import { imageListUntil } from './versions/queries';
import { importImage } from './image-import';
import { progressLine, writeProgressError } from './kit/progress';
import { exactBoolFilter, labelsMatch, pruneLabelsMatch } from './kit/filters';
import { pruneUntilSeconds } from './kit/time';
import { typed, type Input } from './schema/routes';
import {
  createdSeconds,
  distributionJson,
  imageDeleteJson,
  imageHistoryJson,
  imageInspectJson,
  imageLabels,
  imageSummaryJson,
} from './json/images';

/** `dangling` of `GET /images/json`: dockerd knows exactly `true` and `false`. */
const LIST_DANGLING = [
  ['true', true],
  ['false', false],
] as const;
/** `dangling` of `POST /images/prune`: dockerd tries `false` and `0` first, then `true` and `1`. */
const PRUNE_DANGLING = [
  ['false', false],
  ['0', false],
  ['true', true],
  ['1', true],
] as const;

type CreateQuery = Input<'POST /images/create'>['query'];
type ListQuery = Input<'GET /images/json'>['query'];

// ---- pull --------------------------------------------------------------------------------

/** The reference a `POST /images/create` asks for (tag param may also be a digest). */
export function pullReference(fromImage: string, tag: string | undefined): ImageReference {
  let ref = parseReference(fromImage);
  if (tag) {
    if (isDigest(tag)) ref = { domain: ref.domain, path: ref.path, digest: tag };
    else if (isValidTag(tag))
      ref = { domain: ref.domain, path: ref.path, tag, ...(ref.digest ? { digest: ref.digest } : {}) };
    else throw new InvalidArgumentError('invalid tag format');
  }
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = 'latest';
  return ref;
}

async function createImage(images: ImageService, query: CreateQuery, req: Request, res: Response): Promise<void> {
  const fromImage = query.fromImage;
  if (!fromImage && query.fromSrc !== undefined) return importImage(images, query, req, res);
  if (!fromImage) throw new UnavailableError('Get "http:": http: no Host in request URL');
  const ref = pullReference(fromImage, query.tag);
  let platform: Platform | undefined;
  const p = query.platform;
  if (p) platform = parsePlatform(p);
  const auth = decodeRegistryAuth(req.get('X-Registry-Auth'));
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error('client went away'));
  };
  res.on('close', onClose);
  const write = (e: PullEvent) => {
    if (!res.headersSent) {
      res.status(200).setHeader('Content-Type', 'application/json');
      res.flushHeaders();
    }
    for (const p of dockerProgress(e)) res.write(progressLine(p));
  };
  try {
    await images.pull(ref, { platform, auth, signal: controller.signal, onProgress: write });
  } catch (err) {
    writeProgressError(res, err);
  } finally {
    res.off('close', onClose);
  }
  if (!res.headersSent) res.status(200).setHeader('Content-Type', 'application/json');
  res.end();
}

/** Go's path.Match for one pattern (used by the reference filter). */
export function globMatch(pattern: string, s: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end === -1) return false;
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1).replace(/\\/g, '\\\\');
      else cls = cls.replace(/\\/g, '\\\\');
      re += `[${cls}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += '\\' + pattern[++i];
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  try {
    return new RegExp(re + '$').test(s);
  } catch {
    return false;
  }
}

function matchesReference(img: StoredImageView, patterns: string[]): boolean {
  const refs = [...img.repoTags, ...img.repoDigests];
  return patterns.some((pat) =>
    refs.some((r) => {
      if (globMatch(pat, r)) return true;
      const name = familiarName(parseReference(r));
      return globMatch(pat, name);
    }),
  );
}

/** `until`: the times of the `until` filter (API 1.42 and later: versions/queries.ts), in seconds. */
function listImages(images: ImageService, query: ListQuery, until: number[]): Record<string, unknown>[] {
  const f = query.filters;
  const dangling = exactBoolFilter(f, 'dangling', LIST_DANGLING);
  let before: number | undefined;
  let since: number | undefined;
  if (f.before?.length) before = createdSeconds(images.store.find(f.before[0]));
  // The earliest of `before` and `until` bounds the list, as dockerd 26 merges them.
  for (const u of until) if (before === undefined || u < before) before = u;
  if (f.since?.length) since = createdSeconds(images.store.find(f.since[0]));
  const legacyFilter = query.filter;
  const out = images.store
    .list()
    .filter((img) => {
      // An untagged image with children (a build step's) shows only with `all`; dangling
      // ones are the heads (dockerd).
      const untagged = img.repoTags.length === 0 && img.repoDigests.length === 0;
      if (untagged && (!query.all || dangling === true) && images.store.children(img.id).length) return false;
      if (dangling === true && img.repoTags.length > 0) return false;
      if (dangling === false && img.repoTags.length === 0) return false;
      if (f.reference?.length && !matchesReference(img, f.reference)) return false;
      if (legacyFilter && !matchesReference(img, [legacyFilter])) return false;
      if (!labelsMatch(imageLabels(img), f.label ?? [])) return false;
      if (before !== undefined && createdSeconds(img) >= before) return false;
      if (since !== undefined && createdSeconds(img) <= since) return false;
      return true;
    })
    .sort((a, b) => createdSeconds(b) - createdSeconds(a) || b.storedAt - a.storedAt);
  return out.map(imageSummaryJson);
}

/** Look an image up for inspect: dockerd prefixes "no such image: <name>: ". */
function findForInspect(images: ImageService, name: string): StoredImageView {
  try {
    return images.store.find(name);
  } catch (err) {
    if (!(err instanceof PodvisorError)) throw err;
    const message = `no such image: ${name}: ${dockerMessage(err) ?? err.message}`;
    // A storage failure is worded by dockerMessage from its fields: answer a plain 404 instead.
    if (err instanceof NoSuchImageError) throw new NotFoundError(message);
    err.message = message;
    throw err;
  }
}

/** Register the image routes. */
export function register(router: Router, services: ApiServices): void {
  router.post(
    '/images/create',
    typed('POST /images/create', async ({ query }, req, res) => {
      await createImage(svc(services, 'images'), query, req, res);
    }),
  );
  router.get(
    '/images/json',
    typed('GET /images/json', ({ query }, _req, res) => {
      const v = apiVersionOf(res);
      const shared = sharedSizeAsked(query['shared-size'], v) ? sharedSizes(services) : undefined;
      const until = imageListUntil(query.filters, v);
      const list = listImages(svc(services, 'images'), query, until).map((img) =>
        imageSummaryFor(img, v, shared?.get(img.Id as string)),
      );
      sendJson(res, 200, list);
    }),
  );
  router.post(
    '/images/prune',
    typed('POST /images/prune', async ({ query }, _req, res) => {
      const images = svc(services, 'images');
      const f = query.filters;
      const dangling = exactBoolFilter(f, 'dangling', PRUNE_DANGLING) ?? true;
      const until = f.until?.length ? pruneUntilSeconds(f.until[0]) : undefined;
      const { items, reclaimed } = await images.store.prune(dangling, (img) => {
        if (!pruneLabelsMatch(imageLabels(img), f)) return false;
        if (until !== undefined && createdSeconds(img) >= until) return false;
        return true;
      });
      sendJson(res, 200, { ImagesDeleted: items.length ? imageDeleteJson(items) : null, SpaceReclaimed: reclaimed });
    }),
  );
  router.get(
    '/distribution/*name/json',
    typed('GET /distribution/*name/json', async ({ params }, req, res) => {
      const ref = parseReference(params.name);
      if (ref.tag === undefined && ref.digest === undefined) ref.tag = 'latest';
      sendJson(
        res,
        200,
        distributionJson(
          await svc(services, 'images').distribution(ref, decodeRegistryAuth(req.get('X-Registry-Auth'))),
        ),
      );
    }),
  );
  router.get(
    '/images/*name/json',
    typed('GET /images/*name/json', ({ params }, req, res) => {
      const images = svc(services, 'images');
      const img = findForInspect(images, params.name);
      const json = imageInspectJson(
        img,
        img.layers.map((l) => images.layers.get(l).dir),
      );
      sendJson(res, 200, imageInspectFor(json, apiVersionOf(res), clientNeedsOf(req)));
    }),
  );
  router.get(
    '/images/*name/history',
    typed('GET /images/*name/history', ({ params }, _req, res) => {
      const images = svc(services, 'images');
      const layerSize = (d: string) => (images.layers.has(d) ? images.layers.get(d).size : undefined);
      const img = images.store.find(params.name);
      sendJson(res, 200, imageHistoryJson(img, layerSize, images.store.ancestry(img.id)));
    }),
  );
  router.post(
    '/images/*name/tag',
    typed('POST /images/*name/tag', async ({ params, query }, _req, res) => {
      const images = svc(services, 'images');
      const name = params.name;
      images.store.find(name);
      const repo = query.repo;
      const tag = query.tag;
      let target: ImageReference;
      try {
        target = parseReference(repo);
        if (target.digest !== undefined)
          throw new InvalidArgumentError('refusing to create a tag with a digest reference');
        if (tag !== '' && !isValidTag(tag)) throw new InvalidArgumentError('invalid tag format');
        target.tag = tag || target.tag || 'latest';
      } catch (err) {
        // dockerd 20.10 answers a bad repo or tag with a 500.
        throw new UnavailableError((err as Error).message);
      }
      await images.store.tag(name, target);
      res.status(201).end();
    }),
  );
  router.delete(
    '/images/*name',
    typed('DELETE /images/*name', async ({ params, query }, _req, res) => {
      const items = await svc(services, 'images').store.remove(params.name, {
        force: query.force,
        prune: !query.noprune,
      });
      sendJson(res, 200, imageDeleteJson(items));
    }),
  );
}
