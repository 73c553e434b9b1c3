/**
 * The list filters' matching rules, as dockerd 20.10 applies them (each expectation below was
 * seen from dockerd 20.10.24 or read in its daemon/list.go, daemon/network/filter.go and
 * volume/service/convert.go): `name` of containers, networks and volumes and a network's `id`
 * are regular expressions or exact values; a container's `id` is an unambiguous prefix;
 * `publish`/`expose` take ports and ranges; `network` an exact name or an id prefix.
 */
import { filterMatch, goRegExp } from '../../../src/api/v1.41/kit/filters';
import {
  containerFilter,
  filterPorts,
  idsFound,
  UntypedFilterError,
  type SummaryForFilters,
} from '../../../src/api/v1.41/container-filters';
import { matchesListFilters } from '../../../src/api/v1.41/networks';
import { matchesVolumeFilters } from '../../../src/api/v1.41/volumes';
import { httpStatusOf } from '../../../src/api/v1.41/errors';
import type { NetworkRecord } from '../../../src/net/types';
import type { VolumeRecord } from '../../../src/storage/volumes';

describe('filterMatch (filters.Args.Match): exact, or an unanchored regular expression', () => {
  test('anchors, substrings, alternation', () => {
    expect(filterMatch(['^proj_default$'], 'proj_default')).toBe(true);
    expect(filterMatch(['^proj_default$'], 'proj_default2')).toBe(false);
    expect(filterMatch(['default'], 'proj_default')).toBe(true);
    expect(filterMatch(['^proj'], 'myproj')).toBe(false);
    expect(filterMatch(['^a$', '^b$'], 'b')).toBe(true);
    expect(filterMatch(['pro.'], 'proj')).toBe(true);
  });

  test('no values match anything; a value that is no valid expression matches only exactly', () => {
    expect(filterMatch(undefined, 'x')).toBe(true);
    expect(filterMatch([], 'x')).toBe(true);
    expect(filterMatch(['['], 'a[b')).toBe(false);
    expect(filterMatch(['['], '[')).toBe(true);
  });

  test("Go's syntax: (?i), (?P<name>), \\A and \\z; what RE2 refuses is no expression", () => {
    expect(filterMatch(['(?i)WEB'], 'myweb_1')).toBe(true);
    expect(filterMatch(['(?P<x>web)_\\d'], 'web_1')).toBe(true);
    expect(filterMatch(['\\Aweb\\z'], 'web')).toBe(true);
    expect(filterMatch(['\\Aweb\\z'], 'web2')).toBe(false);
    expect(goRegExp('a(?=b)')).toBeUndefined();
    expect(goRegExp('(a)\\1')).toBeUndefined();
  });
});

const net = (name: string, id: string, extra: Partial<NetworkRecord> = {}): NetworkRecord =>
  ({ name, id, driver: 'bridge', isDefault: false, endpoints: {}, labels: {}, ...extra }) as unknown as NetworkRecord;

test('networks: name and id as expressions (docker network ls --filter name=^proj_default$)', () => {
  const nets = [
    net('proj_default', 'a1b2c3'),
    net('proj_default_2', 'b2c3d4'),
    net('bridge', 'c3d4e5', { isDefault: true }),
  ];
  const names = (f: Record<string, string[]>) => nets.filter((n) => matchesListFilters(n, f)).map((n) => n.name);
  expect(names({ name: ['^proj_default$'] })).toEqual(['proj_default']);
  expect(names({ name: ['proj_default'] })).toEqual(['proj_default', 'proj_default_2']);
  expect(names({ id: ['^b2'] })).toEqual(['proj_default_2']);
  expect(names({ id: ['c3d4'] })).toEqual(['proj_default_2', 'bridge']);
  expect(names({ driver: ['bridg'] })).toEqual([]);
});

test('volumes: name as an expression, driver exact', () => {
  const vols = ['data', 'olddata', 'data2'].map(
    (name) => ({ name, driver: 'local', labels: {} }) as unknown as VolumeRecord,
  );
  const names = (f: Record<string, string[]>) =>
    vols.filter((v) => matchesVolumeFilters(v, f, () => false)).map((v) => v.name);
  expect(names({ name: ['^data$'] })).toEqual(['data']);
  expect(names({ name: ['data'] })).toEqual(['data', 'olddata', 'data2']);
  expect(names({ name: ['^data', 'old'] })).toEqual(['data', 'olddata', 'data2']);
  expect(names({ driver: ['loc'] })).toEqual([]);
});

describe('containers', () => {
  const web: SummaryForFilters = {
    Id: '55c36857a967' + '0'.repeat(52),
    name: 'web',
    Ports: [
      { PrivatePort: 90, Type: 'tcp' },
      { PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
    ],
    Networks: { bridge: { NetworkID: 'f00dfeed' } },
  };
  const myweb: SummaryForFilters = { Id: 'e6f54f946a8c' + '1'.repeat(52), name: 'myweb_1', Ports: [], Networks: {} };
  const other: SummaryForFilters = {
    Id: 'e6aa' + '2'.repeat(60),
    name: 'other',
    Ports: [],
    Networks: { proj_default: { NetworkID: 'beef' } },
  };
  const all = [web, myweb, other];
  const names = (f: Record<string, string[]>) => {
    const m = containerFilter(
      f,
      all.map((c) => c.Id),
    );
    return all.filter((c) => m.matches(c)).map((c) => c.name);
  };

  test('name: an expression over the name with and without its slash', () => {
    expect(names({ name: ['^web$'] })).toEqual(['web']);
    expect(names({ name: ['^/web$'] })).toEqual(['web']);
    expect(names({ name: ['web'] })).toEqual(['web', 'myweb_1']);
    expect(names({ name: ['['] })).toEqual([]);
  });

  test('id: a prefix found among all containers, and only when one container has it', () => {
    expect(names({ id: ['5'] })).toEqual(['web']);
    expect(names({ id: ['e6'] })).toEqual([]);
    expect(names({ id: ['e6f5'] })).toEqual(['myweb_1']);
    expect(names({ id: ['6f5'] })).toEqual([]);
    expect(names({ id: ['^e6f5'] })).toEqual([]);
    expect(names({ id: ['e6f5', '55c'] })).toEqual(['web', 'myweb_1']);
    expect(names({ id: ['e6f5'], name: ['^web'] })).toEqual([]);
    expect([
      ...idsFound(
        ['', 'e6a'],
        all.map((c) => c.Id),
      ),
    ]).toEqual([other.Id]);
  });

  test('network: an exact name or an id prefix', () => {
    expect(names({ network: ['bridge'] })).toEqual(['web']);
    expect(names({ network: ['brid'] })).toEqual([]);
    expect(names({ network: ['bee'] })).toEqual(['other']);
  });

  test('publish and expose: ports and ranges; an exposed-only port is published as 0', () => {
    expect(names({ publish: ['8080'] })).toEqual(['web']);
    expect(names({ publish: ['8080/udp'] })).toEqual([]);
    expect(names({ publish: ['8000-9000'] })).toEqual(['web']);
    expect(names({ publish: ['0'] })).toEqual(['web']);
    expect(names({ publish: ['90'] })).toEqual([]);
    expect(names({ expose: ['90'] })).toEqual(['web']);
    expect(names({ expose: ['79-81/tcp'] })).toEqual(['web']);
    expect(names({ expose: ['90/TCP'] })).toEqual([]);
    expect(filterPorts('publish', '8080/')).toEqual(['8080/tcp']);
  });

  test('is-task: no podvisor container is a swarm task; isolation is ignored, as on Linux', () => {
    expect(names({ 'is-task': ['false'] })).toEqual(['web', 'myweb_1', 'other']);
    expect(names({ 'is-task': ['true'] })).toEqual([]);
    expect(() => names({ 'is-task': ['x'] })).toThrow("Invalid filter 'is-task=[x]'");
    expect(names({ isolation: ['hyperv'] })).toEqual(['web', 'myweb_1', 'other']);
  });

  test("bad publish/expose values: dockerd's messages, as its 500", () => {
    const cases: Array<[string, string]> = [
      ['8080:80', "filter for 'publish' should not contain ':': 8080:80"],
      ['abc', 'error while looking up for publish abc: strconv.ParseUint: parsing "abc": invalid syntax'],
      ['90-80', 'error while looking up for publish 90-80: Invalid range specified for the Port: 90-80'],
      ['70000', 'error while looking up for publish 70000: strconv.ParseUint: parsing "70000": value out of range'],
      ['', 'error while looking up for publish : Empty string specified for ports.'],
      ['/tcp', 'error while looking up for publish /tcp: Empty string specified for ports.'],
    ];
    for (const [v, message] of cases) {
      let err: unknown;
      try {
        filterPorts('publish', v);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UntypedFilterError);
      expect((err as Error).message).toBe(message);
      expect(httpStatusOf(err as UntypedFilterError)).toBe(500);
    }
  });
});
