/**
 * Answers as the request's API version shapes them. The route modules build dockerd 20.10's
 * v1.41 answer; each function here turns it into the version asked for (fields a later
 * version added are put in, fields it removed are taken out, as dockerd 26 does), and gives
 * it back untouched at 1.41 and below. They change a copy: an answer may hold a record's own
 * objects.
 */
import { InvalidArgumentError } from '../../../errors';
import { asV141, atLeast, V } from '.';
import { MULTIPLEXED_STREAM, RAW_STREAM } from '../hijack';
import { NO_CLIENT_NEEDS, type ClientNeeds } from './clients';

type Json = Record<string, unknown>;

function dedup(xs: string[]): string[] {
  return xs.filter((x, i) => xs.indexOf(x) === i);
}

/**
 * The endpoints of a container's NetworkSettings.Networks: the v1.41 answer gives a joined
 * user network's Aliases as asked plus the short ID. Before 1.45 dockerd 26 adds the hostname
 * too; from 1.45 they are as asked. DNSNames (documented with 1.44, sent by dockerd 26 at every
 * version) lists name, aliases, short ID, hostname.
 */
function endpointsFor(networks: unknown, c: { id: string; name: string; hostname: string }, v: string): void {
  if (!networks || typeof networks !== 'object') return;
  const short = c.id.slice(0, 12);
  for (const ep of Object.values(networks as Record<string, Json | null>)) {
    if (!ep) continue;
    const aliases = Array.isArray(ep.Aliases) ? (ep.Aliases as string[]) : null;
    const joinedUser = aliases !== null && aliases.at(-1) === short;
    const asked = joinedUser ? aliases.slice(0, -1) : aliases;
    if (joinedUser) {
      ep.Aliases = atLeast(v, V.V1_45)
        ? asked!.length
          ? asked
          : null
        : dedup([...asked!, short, ...(c.hostname ? [c.hostname] : [])]);
    }
    ep.DNSNames = joinedUser ? dedup([c.name, ...asked!, short, ...(c.hostname ? [c.hostname] : [])]) : null;
  }
}

function containerFacts(json: Json): { id: string; name: string; hostname: string } {
  const config = (json.Config ?? {}) as Json;
  const names = Array.isArray(json.Names) ? (json.Names as string[]) : [];
  const name = String(json.Name ?? names[0] ?? '').replace(/^\//, '');
  return { id: String(json.Id ?? ''), name, hostname: typeof config.Hostname === 'string' ? config.Hostname : '' };
}

/** `GET /containers/{id}/json` for version `v`. */
export function containerInspectFor(json: Json, v: string): Json {
  if (asV141(v)) return json;
  json = structuredClone(json);
  const hc = json.HostConfig as Json | undefined;
  // From 1.42 dockerd leaves them out when unset.
  if (hc && !hc.KernelMemory) delete hc.KernelMemory;
  if (hc && !hc.KernelMemoryTCP) delete hc.KernelMemoryTCP;
  const ns = json.NetworkSettings as Json | undefined;
  endpointsFor(ns?.Networks, containerFacts(json), v);
  return json;
}

/** One `GET /containers/json` entry for version `v`. */
export function containerSummaryFor(json: Json, v: string): Json {
  if (asV141(v)) return json;
  json = structuredClone(json);
  const ns = json.NetworkSettings as Json | undefined;
  endpointsFor(ns?.Networks, containerFacts(json), v);
  return json;
}

/**
 * One `GET /images/json` entry for version `v`: from 1.43 an untagged image has empty lists
 * where it had `<none>:<none>`; from 1.44 VirtualSize is gone; `sharedSize` (1.42's
 * `shared-size=1`) fills SharedSize.
 */
export function imageSummaryFor(json: Json, v: string, sharedSize?: number): Json {
  if (asV141(v)) return json;
  json = structuredClone(json);
  if (sharedSize !== undefined) json.SharedSize = sharedSize;
  if (atLeast(v, V.V1_43)) {
    const tags = json.RepoTags as string[];
    const digests = json.RepoDigests as string[];
    if (Array.isArray(tags)) json.RepoTags = tags.filter((t) => t !== '<none>:<none>');
    if (Array.isArray(digests)) json.RepoDigests = digests.filter((d) => d !== '<none>@<none>');
  }
  if (atLeast(v, V.V1_44)) delete json.VirtualSize;
  return json;
}

/** Whether `shared-size` is read at version `v` (from 1.42). */
export function sharedSizeAsked(asked: boolean, v: string): boolean {
  return asked && !asV141(v);
}

/**
 * `GET /images/{name}/json` for version `v`; a client that still reads ContainerConfig
 * (clients.ts) keeps it, and Container, at 1.45.
 */
export function imageInspectFor(json: Json, v: string, needs: ClientNeeds = NO_CLIENT_NEEDS): Json {
  if (asV141(v)) return json;
  json = structuredClone(json);
  // dockerd 26 leaves out an empty Container at every version it serves.
  if (json.Container === '') delete json.Container;
  if (atLeast(v, V.V1_44)) {
    delete json.VirtualSize;
    // From 1.44 an image with no creation time has no Created (before: Go's zero time).
    if (json.Created === '0001-01-01T00:00:00Z') delete json.Created;
  }
  if (atLeast(v, V.V1_45) && !needs.imageContainerConfig) {
    delete json.Container;
    delete json.ContainerConfig;
  }
  return json;
}

/** The object types `GET /system/df?type=` may name (1.42). */
export type DiskUsageType = 'container' | 'image' | 'volume' | 'build-cache';
const DF_TYPES: readonly string[] = ['container', 'image', 'volume', 'build-cache'];

/** The types a `/system/df` request asks for: every one below 1.42 or without `type`. */
export function diskUsageTypes(types: string[], v: string): Set<DiskUsageType> {
  if (asV141(v) || types.length === 0) return new Set(DF_TYPES as DiskUsageType[]);
  for (const t of types) if (!DF_TYPES.includes(t)) throw new InvalidArgumentError(`unknown object type: ${t}`);
  return new Set(types as DiskUsageType[]);
}

/** `GET /system/df` for version `v`, with only the types asked for (others null, as dockerd). */
export function diskUsageFor(json: Json, v: string, types: Set<DiskUsageType>): Json {
  if (asV141(v)) return json;
  json = structuredClone(json);
  delete json.BuilderSize;
  if (!types.has('image')) {
    json.Images = null;
    json.LayersSize = 0;
  }
  if (!types.has('container')) json.Containers = null;
  if (!types.has('volume')) json.Volumes = null;
  if (atLeast(v, V.V1_44) && Array.isArray(json.Images))
    for (const img of json.Images as Json[]) delete img.VirtualSize;
  return json;
}

/**
 * `GET /info` for version `v`: KernelMemory(TCP) gone from 1.42; CDISpecDirs (documented with
 * 1.44, sent by dockerd 26 at every version) from 1.42.
 */
export function infoFor(json: Json, v: string): Json {
  if (asV141(v)) return json;
  json = structuredClone(json);
  delete json.KernelMemory;
  delete json.KernelMemoryTCP;
  // dockerd lists no CDI directories unless it runs in experimental mode.
  return { ...json, CDISpecDirs: [] };
}

/**
 * The Content-Type of a hijacked attach or exec stream: raw until 1.42, then multiplexed
 * where the stream is stdcopy-framed (no TTY).
 */
export function hijackedStreamType(tty: boolean, v: string): string {
  return asV141(v) || tty ? RAW_STREAM : MULTIPLEXED_STREAM;
}

/**
 * The headers dockerd 26 adds to `/_ping` answers (at every version; served here from 1.42
 * so the v1.41 answer stays dockerd 20.10's): no swarm, and the builder to use, the classic
 * one, the only one podvisor has.
 */
export function pingHeadersFor(v: string): Record<string, string> {
  return asV141(v) ? {} : { 'Builder-Version': '1', Swarm: 'inactive' };
}

/**
 * The answer of `POST /containers/{id}/wait` for version `v`: from 1.42 without `Error` when
 * there is none, as dockerd 26 answers at every version (`{"StatusCode":0}`); at 1.41 with
 * `"Error": null`, as dockerd 20.10.
 */
export function waitResponseFor(statusCode: number, error: { Message: string } | null, v: string): Json {
  if (asV141(v) || error) return { Error: error, StatusCode: statusCode };
  return { StatusCode: statusCode };
}
