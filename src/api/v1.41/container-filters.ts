/**
 * The filters of GET /containers/json that dockerd applies by its own rules (daemon/list.go in
 * 20.10), beside the generic ones of kit/filters: `id` (an unambiguous prefix), `name` (a
 * regular expression, with or without the leading '/'), `network` (a network's exact name or a
 * prefix of its id), `publish` and `expose` (ports and ranges over the summary's `Ports`),
 * `is-task` and `isolation`. Pure: the route reads the records, these decide.
 */
import { PodvisorError } from '../../errors';
import { filterMatch, invalidFilter, type FilterMap } from './kit/filters';

/** dockerd answers some bad filter values with an untyped error: a 500 with its message. */
export class UntypedFilterError extends PodvisorError {}

/** The parts of a container summary (GET /containers/json) the filters read. */
export interface SummaryForFilters {
  Id: string;
  /** The name without the leading '/'. */
  name: string;
  Ports: ReadonlyArray<{ PrivatePort: number; PublicPort?: number; Type: string }>;
  /** Networks by name, with their ids. */
  Networks: Readonly<Record<string, { NetworkID: string }>>;
}

/** The filters read once per request, ready to test each container. */
export interface ContainerFilter {
  /** Whether the container passes the id, name, is-task, isolation, network, publish and expose filters. */
  matches(c: SummaryForFilters): boolean;
}

/**
 * The ports of a `publish` or `expose` value, as dockerd's portOp reads them: `80`, `80/udp`,
 * `8000-8010/tcp` (no ':'); keys "port/proto", the proto as given (tcp when none).
 */
export function filterPorts(key: 'publish' | 'expose', value: string): string[] {
  if (value.includes(':')) throw new UntypedFilterError(`filter for '${key}' should not contain ':': ${value}`);
  const fail = (why: string) => new UntypedFilterError(`error while looking up for ${key} ${value}: ${why}`);
  const parts = value.split('/');
  const [proto, port] = value === '' || parts[0] === '' ? ['', ''] : [parts[1] || 'tcp', parts[0]];
  if (port === '') throw fail('Empty string specified for ports.');
  const uint = (s: string): number => {
    if (!/^\d+$/.test(s)) throw fail(`strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`);
    const n = Number(s);
    if (n > 65535) throw fail(`strconv.ParseUint: parsing ${JSON.stringify(s)}: value out of range`);
    return n;
  };
  const ends = port.split('-');
  const start = uint(ends[0]);
  const end = ends.length === 1 ? start : uint(ends[1]);
  if (end < start) throw fail(`Invalid range specified for the Port: ${port}`);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

/**
 * The container ids that dockerd's id filter lets through: each value is looked up as a prefix
 * among all containers (its truncindex), and finds one only where exactly one id starts with
 * it; a container then passes when one of the values also equals or, as a regular
 * expression, matches its id (a prefix always does).
 */
export function idsFound(values: readonly string[], allIds: readonly string[]): Set<string> {
  const found = new Set<string>();
  for (const v of values) {
    if (v === '') continue;
    const hits = allIds.filter((id) => id.startsWith(v));
    if (hits.length === 1) found.add(hits[0]);
  }
  return found;
}

/** Check the values dockerd checks before listing, and make the matcher (`allIds`: every container's id). */
export function containerFilter(f: FilterMap, allIds: readonly string[]): ContainerFilter {
  let isTask: boolean | undefined;
  if (f['is-task']?.length) {
    if (f['is-task'].includes('true')) isTask = true;
    else if (f['is-task'].includes('false')) isTask = false;
    else throw invalidFilter('is-task', f['is-task']);
  }
  const publish = new Set((f.publish ?? []).flatMap((v) => filterPorts('publish', v)));
  const expose = new Set((f.expose ?? []).flatMap((v) => filterPorts('expose', v)));
  const ids = f.id?.length ? idsFound(f.id, allIds) : undefined;
  return {
    matches(c) {
      if (ids && !(ids.has(c.Id) && filterMatch(f.id, c.Id))) return false;
      if (!filterMatch(f.name, `/${c.name}`) && !filterMatch(f.name, c.name)) return false;
      // No container of podvisor is a swarm task.
      if (isTask === true) return false;
      // isolation: dockerd ignores it on Linux (a Windows notion).
      if (
        f.network?.length &&
        !f.network.some(
          (v) =>
            Object.prototype.hasOwnProperty.call(c.Networks, v) ||
            Object.values(c.Networks).some((n) => n.NetworkID.startsWith(v)),
        )
      )
        return false;
      if (publish.size || expose.size) {
        const hit = c.Ports.some(
          (p) => publish.has(`${p.PublicPort ?? 0}/${p.Type}`) || expose.has(`${p.PrivatePort}/${p.Type}`),
        );
        if (!hit) return false;
      }
      return true;
    },
  };
}
