/**
 * Image routes, in dockerd 20.10's wire format: POST /images/create (pull, streaming progress
 * JSON), GET /images/json, GET /images/{name}/json, GET /images/{name}/history,
 * POST /images/{name}/tag, DELETE /images/{name}, POST /images/prune,
 * GET /distribution/{name}/json. Names may contain slashes (`127.0.0.1:5000/x/y`), so the
 * routes use wildcards, as the docker CLI sends them unescaped.
 */
import type { Request, Response, Router } from 'express';
import type { ApiServices } from './services';
import type { ImageService } from '../../storage/service';
import type { StoredImageView } from '../../storage/images';
import type { PullProgress } from '../../storage/pull';
import { decodeRegistryAuth } from '../../storage/registry/auth';
import { parsePlatform, type Platform } from '../../storage/registry/manifest';
import { isDigest } from '../../storage/digest';
import { isValidTag, parseReference, familiarName, type ImageReference } from '../../storage/reference';
import { InvalidArgumentError, NotImplementedError, PodvisorError, UnavailableError } from '../../errors';
import type { FilterMap as Filters } from './params';
import { typed, type Input } from './schema/routes';

/** Answer JSON as dockerd does: `application/json` without charset, newline-terminated. */
export function sendJson(res: Response, body: unknown, status = 200): void {
  res.status(status).setHeader('Content-Type', 'application/json');
  res.send(Buffer.from(JSON.stringify(body) + '\n'));
}

function images(services: ApiServices): ImageService {
  if (!services.images) throw new UnavailableError('the image service is not available');
  return services.images;
}

type CreateQuery = Input<'POST /images/create'>['query'];
type ListQuery = Input<'GET /images/json'>['query'];

// ---- progress stream formatting (dockerd's jsonmessage) ---------------------------------

/** go-units HumanSize: decimal units, 4 significant digits. */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
  let size = n;
  let i = 0;
  while (size >= 1000 && i < units.length - 1) {
    size /= 1000;
    i++;
  }
  let s = size.toPrecision(4);
  if (s.includes('.') && !s.includes('e')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s + units[i];
}

/** dockerd's progress bar: `[=====>      ]  1.2MB/3.4MB` (its daemon-side width is 200). */
export function progressBar(current: number, total: number): string {
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return humanSize(current).padStart(8);
  const pct = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
  const bar = `[${'='.repeat(pct)}>${' '.repeat(Math.max(0, 50 - pct))}] `;
  const numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
  return bar + numbers;
}

/** JSON as Go's encoder writes it (HTML-safe escapes). */
export function goJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

/** One line of the pull stream, keys in dockerd's order. */
export function progressLine(p: PullProgress): string {
  const o: Record<string, unknown> = { status: p.status };
  if (p.progressDetail) {
    o.progressDetail = p.progressDetail;
    if (p.progressDetail.current !== undefined && p.progressDetail.total !== undefined) {
      o.progress = progressBar(p.progressDetail.current, p.progressDetail.total);
    }
  }
  if (p.id !== undefined) o.id = p.id;
  return goJson(o) + '\r\n';
}

// ---- pull --------------------------------------------------------------------------------

/** The reference a `POST /images/create` asks for (tag param may also be a digest). */
export function pullReference(fromImage: string, tag: string | undefined): ImageReference {
  let ref = parseReference(fromImage);
  if (tag) {
    if (isDigest(tag)) ref = { domain: ref.domain, path: ref.path, digest: tag };
    else if (isValidTag(tag)) ref = { domain: ref.domain, path: ref.path, tag, ...(ref.digest ? { digest: ref.digest } : {}) };
    else throw new InvalidArgumentError('invalid tag format');
  }
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = 'latest';
  return ref;
}

async function createImage(svc: ImageService, query: CreateQuery, req: Request, res: Response): Promise<void> {
  if (query.fromSrc !== undefined) {
    throw new NotImplementedError('importing a root filesystem (docker import, fromSrc) is not supported by podvisor');
  }
  const fromImage = query.fromImage;
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
  const write = (p: PullProgress) => {
    if (!res.headersSent) {
      res.status(200).setHeader('Content-Type', 'application/json');
      res.flushHeaders();
    }
    res.write(progressLine(p));
  };
  try {
    await svc.pull(ref, { platform, auth, signal: controller.signal, onProgress: write });
  } catch (err) {
    if (!res.headersSent) throw err;
    const message = err instanceof Error ? err.message : String(err);
    res.write(goJson({ errorDetail: { message }, error: message }) + '\r\n');
  } finally {
    res.off('close', onClose);
  }
  if (!res.headersSent) res.status(200).setHeader('Content-Type', 'application/json');
  res.end();
}

// ---- list / inspect / history ------------------------------------------------------------

function createdSeconds(img: StoredImageView): number {
  const t = img.config.created ? Date.parse(img.config.created) : NaN;
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

function labelsOf(img: StoredImageView): Record<string, string> | null {
  const l = img.config.config?.Labels;
  return l && Object.keys(l).length ? (sortKeys(l) as Record<string, string>) : null;
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

function matchesLabels(img: StoredImageView, wanted: string[]): boolean {
  const labels = img.config.config?.Labels ?? {};
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq === -1) return Object.prototype.hasOwnProperty.call(labels, w);
    return labels[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

function danglingValue(f: Filters): boolean | undefined {
  const v = f.dangling;
  if (!v || v.length === 0) return undefined;
  const s = v[0].toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw new InvalidArgumentError(`Invalid filter 'dangling=${v[0]}'`);
}

function listImages(svc: ImageService, query: ListQuery): unknown[] {
  const f = query.filters;
  const dangling = danglingValue(f);
  let before: number | undefined;
  let since: number | undefined;
  if (f.before?.length) before = createdSeconds(svc.store.find(f.before[0]));
  if (f.since?.length) since = createdSeconds(svc.store.find(f.since[0]));
  const legacyFilter = query.filter;
  const out = svc.store
    .list()
    .filter((img) => {
      if (dangling === true && img.repoTags.length > 0) return false;
      if (dangling === false && img.repoTags.length === 0) return false;
      if (f.reference?.length && !matchesReference(img, f.reference)) return false;
      if (legacyFilter && !matchesReference(img, [legacyFilter])) return false;
      if (f.label?.length && !matchesLabels(img, f.label)) return false;
      if (before !== undefined && createdSeconds(img) >= before) return false;
      if (since !== undefined && createdSeconds(img) <= since) return false;
      return true;
    })
    .sort((a, b) => createdSeconds(b) - createdSeconds(a) || b.storedAt - a.storedAt);
  return out.map((img) => {
    const none = img.repoTags.length === 0 && img.repoDigests.length === 0;
    return {
      Containers: -1,
      Created: createdSeconds(img),
      Id: img.id,
      Labels: labelsOf(img),
      ParentId: '',
      RepoDigests: none ? ['<none>@<none>'] : img.repoDigests,
      RepoTags: none || img.repoTags.length === 0 ? ['<none>:<none>'] : img.repoTags,
      SharedSize: -1,
      Size: img.size,
      VirtualSize: img.size,
    };
  });
}

/** A container config section with Docker's field order and defaults. */
function containerConfig(c: Record<string, unknown> | undefined): Record<string, unknown> {
  const src = c ?? {};
  const o: Record<string, unknown> = {
    Hostname: src.Hostname ?? '',
    Domainname: src.Domainname ?? '',
    User: src.User ?? '',
    AttachStdin: src.AttachStdin ?? false,
    AttachStdout: src.AttachStdout ?? false,
    AttachStderr: src.AttachStderr ?? false,
  };
  if (src.ExposedPorts && Object.keys(src.ExposedPorts as object).length) o.ExposedPorts = sortKeys(src.ExposedPorts as Record<string, unknown>);
  o.Tty = src.Tty ?? false;
  o.OpenStdin = src.OpenStdin ?? false;
  o.StdinOnce = src.StdinOnce ?? false;
  o.Env = src.Env ?? null;
  o.Cmd = src.Cmd ?? null;
  if (src.Healthcheck) o.Healthcheck = src.Healthcheck;
  if (src.ArgsEscaped) o.ArgsEscaped = src.ArgsEscaped;
  o.Image = src.Image ?? '';
  o.Volumes = src.Volumes ? sortKeys(src.Volumes as Record<string, unknown>) : null;
  o.WorkingDir = src.WorkingDir ?? '';
  o.Entrypoint = src.Entrypoint ?? null;
  if (src.NetworkDisabled) o.NetworkDisabled = src.NetworkDisabled;
  if (src.MacAddress) o.MacAddress = src.MacAddress;
  o.OnBuild = src.OnBuild ?? null;
  o.Labels = src.Labels ? sortKeys(src.Labels as Record<string, unknown>) : null;
  if (src.StopSignal) o.StopSignal = src.StopSignal;
  if (src.StopTimeout !== undefined && src.StopTimeout !== null) o.StopTimeout = src.StopTimeout;
  if (src.Shell) o.Shell = src.Shell;
  return o;
}

/** Go marshals maps with sorted keys. */
function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}

/** A timestamp as Go's RFC3339Nano marshals it (fraction without trailing zeros, `Z` for UTC). */
export function goTime(iso: string | undefined): string {
  if (!iso) return '0001-01-01T00:00:00Z';
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i.exec(iso);
  if (!m) return iso;
  const frac = (m[2] ?? '').replace(/0+$/, '');
  const zone = m[3] === '+00:00' || m[3] === '-00:00' || m[3].toUpperCase() === 'Z' ? 'Z' : m[3];
  return `${m[1]}${frac ? '.' + frac : ''}${zone}`;
}

/** The ImageInspect body dockerd returns. */
export function inspectImage(svc: ImageService, img: StoredImageView): Record<string, unknown> {
  const raw = img.config as unknown as Record<string, unknown>;
  const dirs = img.layers.map((l) => svc.layers.get(l).dir).reverse();
  const top = dirs[0];
  const topRoot = top ? top.replace(/\/diff$/, '') : '';
  const graph: Record<string, string> = {};
  if (dirs.length > 1) graph.LowerDir = dirs.slice(1).join(':');
  if (top) {
    graph.MergedDir = `${topRoot}/merged`;
    graph.UpperDir = top;
    graph.WorkDir = `${topRoot}/work`;
  }
  const o: Record<string, unknown> = {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Parent: '',
    Comment: typeof raw.comment === 'string' ? raw.comment : '',
    Created: goTime(img.config.created),
    Container: typeof raw.container === 'string' ? raw.container : '',
    ContainerConfig: containerConfig(raw.container_config as Record<string, unknown> | undefined),
    DockerVersion: typeof raw.docker_version === 'string' ? raw.docker_version : '',
    Author: img.config.author ?? '',
    Config: img.config.config ? containerConfig(img.config.config as Record<string, unknown>) : null,
    Architecture: img.config.architecture ?? '',
  };
  if (typeof raw.variant === 'string' && raw.variant) o.Variant = raw.variant;
  o.Os = img.config.os ?? '';
  if (typeof raw['os.version'] === 'string' && raw['os.version']) o.OsVersion = raw['os.version'];
  o.Size = img.size;
  o.VirtualSize = img.size;
  o.GraphDriver = { Data: graph, Name: 'overlay2' };
  o.RootFS = { Type: 'layers', Layers: img.layers };
  o.Metadata = { LastTagTime: goTime(img.lastTagTime) };
  return o;
}

/** `GET /images/{name}/history`, newest first. */
export function imageHistory(svc: ImageService, img: StoredImageView): unknown[] {
  const history = img.config.history?.length ? img.config.history : img.layers.map(() => ({}) as NonNullable<typeof img.config.history>[number]);
  let layer = 0;
  const rows = history.map((h) => {
    let size = 0;
    if (!h.empty_layer) {
      const d = img.layers[layer++];
      if (d && svc.layers.has(d)) size = svc.layers.get(d).size;
    }
    const t = h.created ? Date.parse(h.created) : NaN;
    return { Comment: h.comment ?? '', Created: Number.isFinite(t) ? Math.floor(t / 1000) : 0, CreatedBy: h.created_by ?? '', Id: '<missing>', Size: size, Tags: null as string[] | null };
  });
  rows.reverse();
  if (rows.length) {
    rows[0].Id = img.id;
    rows[0].Tags = img.repoTags.length ? img.repoTags : null;
  }
  return rows;
}

/** Look an image up for inspect: dockerd prefixes "no such image: <name>: ". */
function findForInspect(svc: ImageService, name: string): StoredImageView {
  try {
    return svc.store.find(name);
  } catch (err) {
    if (err instanceof PodvisorError) err.message = `no such image: ${name}: ${err.message}`;
    throw err;
  }
}

/** Register the image routes. */
export function register(router: Router, services: ApiServices): void {
  router.post('/images/create', typed('POST /images/create', async ({ query }, req, res) => {
    await createImage(images(services), query, req, res);
  }));
  router.get('/images/json', typed('GET /images/json', ({ query }, _req, res) => {
    sendJson(res, listImages(images(services), query));
  }));
  router.post('/images/prune', typed('POST /images/prune', async ({ query }, _req, res) => {
    const svc = images(services);
    const f = query.filters;
    const dangling = danglingValue(f) ?? true;
    let until: number | undefined;
    if (f.until?.length) {
      const u = f.until[0];
      until = /^\d+(\.\d+)?$/.test(u) ? Number(u) : Date.parse(u) / 1000;
      if (!Number.isFinite(until)) throw new InvalidArgumentError(`failed to parse value as time or duration: "${u}"`);
    }
    const { items, reclaimed } = await svc.store.prune(dangling, (img) => {
      if (f.label?.length && !matchesLabels(img, f.label)) return false;
      if (f['label!']?.length && f['label!'].some((l) => matchesLabels(img, [l]))) return false;
      if (until !== undefined && createdSeconds(img) >= until) return false;
      return true;
    });
    sendJson(res, { ImagesDeleted: items.length ? items : null, SpaceReclaimed: reclaimed });
  }));
  router.get('/distribution/*name/json', typed('GET /distribution/*name/json', async ({ params }, req, res) => {
    const ref = parseReference(params.name);
    if (ref.tag === undefined && ref.digest === undefined) ref.tag = 'latest';
    sendJson(res, await images(services).distribution(ref, decodeRegistryAuth(req.get('X-Registry-Auth'))));
  }));
  router.get('/images/*name/json', typed('GET /images/*name/json', ({ params }, _req, res) => {
    const svc = images(services);
    sendJson(res, inspectImage(svc, findForInspect(svc, params.name)));
  }));
  router.get('/images/*name/history', typed('GET /images/*name/history', ({ params }, _req, res) => {
    const svc = images(services);
    sendJson(res, imageHistory(svc, svc.store.find(params.name)));
  }));
  router.post('/images/*name/tag', typed('POST /images/*name/tag', async ({ params, query }, _req, res) => {
    const svc = images(services);
    const name = params.name;
    svc.store.find(name);
    const repo = query.repo;
    const tag = query.tag;
    let target: ImageReference;
    try {
      target = parseReference(repo);
      if (target.digest !== undefined) throw new InvalidArgumentError('refusing to create a tag with a digest reference');
      if (tag !== '' && !isValidTag(tag)) throw new InvalidArgumentError('invalid tag format');
      target.tag = tag || target.tag || 'latest';
    } catch (err) {
      // dockerd 20.10 answers a bad repo or tag with a 500.
      throw new UnavailableError((err as Error).message);
    }
    await svc.store.tag(name, target);
    res.status(201).end();
  }));
  router.delete('/images/*name', typed('DELETE /images/*name', async ({ params, query }, _req, res) => {
    const svc = images(services);
    const name = params.name;
    const items = await svc.store.remove(name, { force: query.force, prune: !query.noprune });
    sendJson(res, items);
  }));
}
