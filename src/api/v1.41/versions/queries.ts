/**
 * Request parameters whose meaning a version changed: query parameters a version brought in
 * (stop's `signal`, the image list's `until`; below that version dockerd ignores or refuses
 * them, and so does podvisor), volume prune's `all`, wait's condition, network create's name
 * check and the WebSocket attach's streams.
 */
import { InvalidArgumentError } from '../../../errors';
import { boolValue } from '../schema/query';
import { parseSignal } from '../../../translate/signals';
import { pruneUntilSeconds } from '../kit/time';
import { asV141 } from '.';
import { ANONYMOUS_VOLUME_LABEL } from '../../../storage/volumes';
import { hostPlatform, parsePlatform, type Platform } from '../../../storage/registry/manifest';

/**
 * `signal` of stop and restart (API 1.42): the signal to send instead of the container's stop
 * signal, read as kill reads its own; ignored below 1.42, as dockerd ignores it there.
 */
export function stopSignalOf(signal: string, v: string): number | undefined {
  return signal && !asV141(v) ? parseSignal(signal) : undefined;
}

const GO_BOOLS: Record<string, boolean> = {
  '1': true,
  t: true,
  T: true,
  true: true,
  TRUE: true,
  True: true,
  '0': false,
  f: false,
  F: false,
  false: false,
  FALSE: false,
  False: false,
};

/**
 * Whether a volume prune takes named volumes too: always below 1.42 (where an `all` filter is
 * unknown, as in dockerd 20.10); from 1.42 only with the `all` filter true (strconv.ParseBool),
 * anonymous volumes alone otherwise.
 */
export function pruneAllVolumes(filters: Record<string, string[] | undefined>, v: string): boolean {
  const all = filters.all;
  if (asV141(v)) {
    if (all !== undefined) throw new InvalidArgumentError("Invalid filter 'all'");
    return true;
  }
  if (!all?.length) return false;
  if (all.length > 1)
    throw new InvalidArgumentError(`invalid filter 'all=[${all.join(' ')}]': only one value is expected`);
  const b = GO_BOOLS[all[0]];
  if (b === undefined)
    throw new InvalidArgumentError(
      `invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(all[0])}: invalid syntax`,
    );
  return b;
}

/**
 * Wait's `condition`: from 1.42 an unknown one is dockerd 26's 400; below, the default
 * (not-running), as dockerd 20.10 took it. Empty is the default at every version.
 */
export function checkWaitCondition(condition: string, v: string): void {
  if (condition && !['not-running', 'next-exit', 'removed'].includes(condition) && !asV141(v))
    throw new InvalidArgumentError(`invalid condition: ${JSON.stringify(condition)}`);
}

/**
 * Whether a network connect reports every problem of its endpoint settings at once, as dockerd
 * 26 does at every version (../../../net/endpoint-settings.ts): from 1.42; at 1.41 the first,
 * as dockerd 20.10.
 */
export function endpointProblemsAtOnce(v: string): boolean {
  return !asV141(v);
}

/**
 * `PUT /volumes/{name}`, the update of a cluster volume: from 1.42 dockerd 26's 503 (this
 * daemon has no swarm, so no cluster volume); at 1.41 the route did not exist (dockerd 20.10's 404).
 */
export function volumeUpdateRefusal(v: string): { status: number; message: string } {
  if (asV141(v)) return { status: 404, message: 'page not found' };
  return { status: 503, message: 'volume update only valid for cluster volumes, but swarm is unavailable' };
}

/**
 * Whether a network may be created with a name another one has: at 1.41 unless the body asks
 * for CheckDuplicate (dockerd 20.10); from 1.42 never, as dockerd 26 (CheckDuplicate deprecated).
 */
export function networkNameMayRepeat(checkDuplicate: boolean | undefined, v: string): boolean {
  return asV141(v) ? !checkDuplicate : false;
}

/**
 * The streams of a WebSocket attach: at 1.41 stdout and stderr unless turned off and stdin
 * when asked (podvisor's answer since before versions); from 1.42 only those asked for, each
 * read as httputils.BoolValue (absent is off), as dockerd 26 reads them.
 */
export function wsAttachStreams(
  q: { stdin?: string; stdout?: string; stderr?: string },
  v: string,
): { stdin: boolean; stdout: boolean; stderr: boolean } {
  const read = (s: string | undefined, absent: boolean) => (s === undefined ? absent : boolValue(s));
  const legacy = asV141(v);
  return { stdin: read(q.stdin, false), stdout: read(q.stdout, legacy), stderr: read(q.stderr, legacy) };
}

/**
 * The `until` filter of `GET /images/json`, in seconds: documented with 1.44 and read by
 * dockerd 26 at every version; here from 1.42, an unknown filter below (dockerd 20.10).
 */
export function imageListUntil(filters: Record<string, string[] | undefined>, v: string): number[] {
  const until = filters.until;
  if (until === undefined) return [];
  if (asV141(v)) throw new InvalidArgumentError("Invalid filter 'until'");
  return until.map((u) => pruneUntilSeconds(u));
}

/**
 * How `POST /volumes/create` without a name makes its volume at version `v`: from 1.42 it is
 * anonymous, as dockerd 26 makes it (labelled com.docker.volume.anonymous, taken by a prune
 * without `all`); up to 1.41 a named volume with a random name, as dockerd 20.10 made it.
 */
export function unnamedVolumeCreate(
  name: string | undefined,
  labels: Record<string, string> | null,
  v: string,
): { anonymous: boolean; labels: Record<string, string> | null } {
  if (name || asV141(v)) return { anonymous: false, labels };
  return { anonymous: true, labels: { ...(labels ?? {}), [ANONYMOUS_VOLUME_LABEL]: '' } };
}

/**
 * The platform of an image `docker import` makes, from the request's `platform` at version
 * `v`: from 1.42 its OS, architecture and variant, as dockerd 26 reads them; up to 1.41 its OS
 * only, the architecture the host's, as dockerd 20.10 did. A bad one is containerd's 400; an OS
 * other than linux is dockerd's "operating system is not supported".
 */
export function importPlatform(platform: string, v: string): Platform {
  const host = hostPlatform();
  if (!platform) return host;
  const asked = parsePlatform(platform);
  if (asked.os !== 'linux') throw new InvalidArgumentError('operating system is not supported');
  return asV141(v) ? host : asked;
}
