/**
 * `POST /build` with the classic builder (what the docker CLI uses with DOCKER_BUILDKIT=0,
 * docker-py's images.build and compose 1.29's `build:`): the body is the context tar, the
 * answer the builder's JSON stream (src/builder/builder.ts), one message a line, ending in
 * `errorDetail` when the build fails. `POST /build/prune` empties the build cache.
 * BuildKit's `/session` is not served (docs/limitations.md).
 */
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Router } from 'express';
import type { ApiServices } from './services';
import { sendJson, svc } from './kit/params';
import { goJson } from './kit/progress';
import { openStream } from './kit/streams';
import { typed } from './schema/routes';
import { InvalidArgumentError } from '../../errors';
import { dockerMessage } from '../../translate/errors';
import type { BuildCache } from '../../builder/cache';
import type { BuildMessage } from '../../builder/builder';
import type { StepSettings } from '../../builder/backend';
import { networkRequestOf } from '../../translate/request/container-request';
import { parsePlatform } from '../../storage/registry/manifest';
import { parseTagged } from '../../storage/reference';
import { decodeRegistryAuth, type AuthConfig } from '../../storage/registry/auth';
import { loginDomain } from '../../storage/service';

/**
 * The builder's modules (with the Dockerfile parser), loaded at the first build or prune rather
 * than with the daemon: a restarted daemon answers ~10 ms sooner (docs/performance-log.md).
 */
async function builderModules() {
  const [context, dockerfile, cache, builder, backend] = await Promise.all([
    import('../../builder/context'),
    import('../../dockerfile/parse'),
    import('../../builder/cache'),
    import('../../builder/builder'),
    import('../../builder/backend'),
  ]);
  return { ...context, ...dockerfile, ...cache, ...builder, ...backend };
}

/** `X-Registry-Config`: base64url JSON of registry -> AuthConfig (the CLI's config file entries). */
function registryConfig(header: string | undefined): Map<string, AuthConfig> {
  const out = new Map<string, AuthConfig>();
  if (!header) return out;
  try {
    const v = JSON.parse(
      Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'),
    ) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) return out;
    for (const [server, entry] of Object.entries(v as Record<string, unknown>)) {
      const auth = decodeRegistryAuth(Buffer.from(JSON.stringify(entry)).toString('base64'));
      if (auth) out.set(loginDomain(server), auth);
    }
  } catch {
    // Like an undecodable X-Registry-Auth: no credentials.
  }
  return out;
}

/**
 * A JSON object query parameter (buildargs, labels); {} when empty or JSON `null` (what Go's
 * client sends for a nil map, as Compose v2 does; dockerd's json.Unmarshal takes it).
 */
function jsonParam<T>(raw: string, name: string): Record<string, T> {
  if (!raw) return {};
  try {
    const v = JSON.parse(raw) as unknown;
    if (v === null) return {};
    if (typeof v === 'object' && !Array.isArray(v)) return v as Record<string, T>;
  } catch {
    // fall through
  }
  throw new InvalidArgumentError(`invalid ${name} parameter: ${raw}`);
}

/** The `cachefrom` parameter: a JSON array of image names (empty when absent or `null`). */
function cacheFromParam(raw: string): string[] {
  if (!raw) return [];
  try {
    const v = JSON.parse(raw) as unknown;
    if (v === null) return [];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // fall through
  }
  throw new InvalidArgumentError(`invalid cachefrom parameter: ${raw}`);
}

/**
 * The images a `--cache-from` build may reuse: each named local image and its parents. Names
 * that are no local image are skipped (dockerd only logs them), so the set may be empty.
 */
function cacheSources(images: NonNullable<ApiServices['images']>, names: string[]): ReadonlySet<string> {
  const ids = new Set<string>();
  for (const name of names) {
    let id: string;
    try {
      id = images.store.find(name).id;
    } catch {
      continue;
    }
    for (const img of images.store.ancestry(id)) ids.add(img.id);
  }
  return ids;
}

/** Register the build routes. */
export function register(router: Router, services: ApiServices): void {
  let cache: BuildCache | undefined;
  const cacheOf = async () =>
    (cache ??= new (await builderModules()).BuildCache(path.join(services.system.dataRoot, 'build-cache.json')));
  router.post('/build', build(services, cacheOf));
  router.post('/build/prune', buildPrune(services, cacheOf));
}

/** POST /build. */
function build(services: ApiServices, cacheOf: () => Promise<BuildCache>) {
  return typed('POST /build', async ({ query }, req, res) => {
    const c = svc(services, 'containers');
    const images = svc(services, 'images');
    if (query.version === '2')
      throw new InvalidArgumentError(
        'BuildKit is not supported by podvisor: build with DOCKER_BUILDKIT=0 (the classic builder)',
      );
    if (query.remote)
      throw new InvalidArgumentError(
        'remote build contexts are not supported by podvisor; send the context as the request body',
      );
    for (const t of query.t) {
      const r = parseTagged(t);
      if (r.digest !== undefined) throw new InvalidArgumentError(`invalid reference format: ${t}`);
    }
    let platform: ReturnType<typeof parsePlatform> | undefined;
    try {
      if (query.squash && !services.system.experimental)
        throw new InvalidArgumentError('squash is only supported with experimental mode');
      platform = query.platform ? parsePlatform(query.platform) : undefined;
      if (platform && platform.os !== 'linux')
        throw new InvalidArgumentError(`"${platform.os}": operating system is not supported`);
    } catch (err) {
      // Read the context away first: an answer sent while the client still uploads makes it
      // see a broken pipe instead of this message (dockerd's server discards the body too).
      req.resume();
      await new Promise<void>((resolve) => req.once('end', resolve).once('close', resolve));
      throw err;
    }
    const settings: StepSettings = {
      ...(query.networkmode ? { network: networkRequestOf(query.networkmode) } : {}),
      ...(query.extrahosts.length ? { extraHosts: query.extrahosts.flatMap((h) => h.split(',')).filter(Boolean) } : {}),
      resources: {
        ...(query.cpusetcpus ? { cpuset: query.cpusetcpus } : {}),
        ...(query.memory ? { memoryBytes: query.memory } : {}),
        ...(query.shmsize ? { shmBytes: query.shmsize } : {}),
      },
    };
    const buildArgs = jsonParam<string | null>(query.buildargs, 'buildargs');
    const labels = jsonParam<string>(query.labels, 'labels');
    const cacheFrom = cacheFromParam(query.cachefrom);
    const tmp = path.join(services.system.dataRoot, 'build-tmp');
    // The context is read through a pipe (flowing mode), so the transport's guard against a
    // body that stops arriving (limits.ts closeUnreadBodies) sees it; an async iterator over
    // the request would not, and a stalled chunked body held the request forever.
    const loading = builderModules(); // awaited once the body is piped
    const body = new PassThrough();
    req
      .once('error', (e) => body.destroy(e))
      .once('aborted', () =>
        body.destroy(new InvalidArgumentError('the client closed the request before the build context was read')),
      );
    // Whoever reads the body listens while reading; after that (or before), a client that
    // hangs up must not leave an unhandled 'error' that ends the daemon.
    body.on('error', () => undefined);
    req.pipe(body);
    const { openContext, parseDockerfile, PodBuildBackend, Builder, BuildError } = await loading;
    const context = await openContext(body, tmp, query.dockerfile);
    // The stream opens with the first message: a failure before it (a Dockerfile that does
    // not parse, a missing base image) is an HTTP error, as dockerd answers it.
    let stream: { gone: boolean } | undefined;
    // A client that hangs up before the end cancels the build, as dockerd's request context.
    const cancel = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) cancel.abort();
    });
    const emit = (m: BuildMessage) => {
      stream ??= openStream(res, 'application/json');
      if (!stream.gone) res.write(goJson(m) + '\r\n');
    };
    try {
      const df = parseDockerfile(context.dockerfile);
      const backend = new PodBuildBackend(
        images,
        c,
        tmp,
        services.system.version,
        registryConfig(req.get('X-Registry-Config')),
        settings,
        platform,
      );
      const builder = new Builder(
        backend,
        await cacheOf(),
        context.dir,
        {
          tags: query.t,
          quiet: query.q,
          noCache: query.nocache,
          ...(cacheFrom.length ? { cacheSources: cacheSources(images, cacheFrom) } : {}),
          signal: cancel.signal,
          rm: query.rm,
          forceRm: query.forcerm,
          pull: query.pull,
          buildArgs,
          labels,
          ...(query.target ? { target: query.target } : {}),
          ...(query.squash ? { squash: true } : {}),
        },
        emit,
      );
      await images.prepareImageDisk(await builder.build(df));
    } catch (err) {
      if (!stream) {
        await context.dispose();
        throw err;
      }
      const message =
        err instanceof BuildError
          ? err.message
          : (dockerMessage(err) ?? (err instanceof Error ? err.message : String(err)));
      const detail: Record<string, unknown> =
        err instanceof BuildError && err.code !== undefined ? { code: err.code, message } : { message };
      emit({ errorDetail: detail, error: message } as unknown as BuildMessage);
    }
    await context.dispose();
    res.end();
  });
}

/** POST /build/prune. */
function buildPrune(services: ApiServices, cacheOf: () => Promise<BuildCache>) {
  return typed('POST /build/prune', async (_input, _req, res) => {
    const images = svc(services, 'images');
    const ids = await (await cacheOf()).clear();
    let reclaimed = 0;
    const deleted: string[] = [];
    // Step images form chains (each the parent of the next): a pass deletes those without
    // children, which frees their parents for the next pass.
    let left = ids;
    for (let progress = true; progress && left.length; ) {
      progress = false;
      const next: string[] = [];
      for (const id of left) {
        const img = images.store.byId(id);
        if (!img || img.repoTags.length || img.repoDigests.length || images.store.usersOf(id).length) continue;
        if (images.store.children(id).length) {
          next.push(id);
          continue;
        }
        try {
          await images.store.remove(id.slice('sha256:'.length));
          deleted.push(id);
          reclaimed += img.size;
          progress = true;
        } catch {
          // In use meanwhile: kept.
        }
      }
      left = next;
    }
    // Warm starts' states no container started from (docs/warm-starts.md).
    const warm = await services.containers?.warmStarts?.prune();
    if (warm) {
      deleted.push(...warm.deleted.map((k) => k.slice(0, 25)));
      reclaimed += warm.reclaimed;
    }
    sendJson(res, 200, { CachesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed });
  });
}
