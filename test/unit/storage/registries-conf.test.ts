/**
 * containers-registries.conf(5) version 2: parsing (and its refusals), the entry a reference
 * matches, the pull sources in order with their rewritten repositories, and the endpoints the
 * registry client tries (registries.conf mirrors, then docker.io's --registry-mirror, then the
 * registry); and a manifest fetched through a mirror under a rewritten path, with the mirror's
 * 404 reported when the registry itself cannot be reached.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  BlockedRegistryError,
  findRegistry,
  loadRegistriesConf,
  parseRegistriesConf,
  pullSources,
} from '../../../src/storage/registry/registries-conf';
import { RegistryHosts } from '../../../src/storage/registry/hosts';
import { RegistryClient, RegistryError } from '../../../src/storage/registry/client';
import { InvalidArgumentError } from '../../../src/errors';

const CONF = `
unqualified-search-registries = ["docker.io"]

[[registry]]
location = "registry.k8s.io"
[[registry.mirror]]
location = "127.0.0.1:5003/k8s"
insecure = true
[[registry.mirror]]
location = "mirror.example.com"

[[registry]]
prefix = "gcr.io/team"
location = "internal.example.com/gcr-team"
mirror-by-digest-only = true
[[registry.mirror]]
location = "10.0.0.9:5000/gcr"

[[registry]]
prefix = "*.corp.example"
[[registry.mirror]]
location = "cache.example/corp"
pull-from-mirror = "tag-only"

[[registry]]
location = "quay.io/banned"
blocked = true

[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "hub-cache.example:5000"
`;

describe('parsing', () => {
  test('version 2 tables with their defaults', () => {
    const c = parseRegistriesConf(CONF, '/etc/containers/registries.conf');
    expect(c.registries.map((r) => r.prefix)).toEqual([
      'registry.k8s.io',
      'gcr.io/team',
      '*.corp.example',
      'quay.io/banned',
      'docker.io',
    ]);
    expect(c.registries[0]).toEqual({
      prefix: 'registry.k8s.io',
      location: 'registry.k8s.io',
      insecure: false,
      blocked: false,
      mirrors: [
        { location: '127.0.0.1:5003/k8s', insecure: true, pullFromMirror: 'all' },
        { location: 'mirror.example.com', insecure: false, pullFromMirror: 'all' },
      ],
    });
    expect(c.registries[1].mirrors[0].pullFromMirror).toBe('digest-only');
    expect(c.registries[3].blocked).toBe(true);
  });

  test('a missing file is no mirrors; a file that is there is read', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-regconf-'));
    try {
      expect(loadRegistriesConf(path.join(dir, 'none.conf')).registries).toEqual([]);
      fs.writeFileSync(path.join(dir, 'r.conf'), CONF);
      expect(loadRegistriesConf(path.join(dir, 'r.conf')).registries).toHaveLength(5);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    ['not TOML', '[[registry]\nlocation = 1', /not valid TOML/],
    ['the version 1 format', '[registries.search]\nregistries = ["docker.io"]', /version 1 format/],
    ['a location with a scheme', '[[registry]]\nlocation = "https://gcr.io"', /must not have a scheme/],
    ['a location that is not a string', '[[registry]]\nlocation = 5', /location must be a string/],
    ['no location nor prefix', '[[registry]]\ninsecure = true', /needs a location or a prefix/],
    ['a wildcard with a location', '[[registry]]\nprefix = "*.a.b"\nlocation = "c.d"', /cannot have a location/],
    ['a wildcard elsewhere', '[[registry]]\nprefix = "a.*.b"', /wildcard is only allowed/],
    ['a prefix twice', '[[registry]]\nlocation = "a.b"\n[[registry]]\nlocation = "a.b"', /more than once/],
    [
      'a mirror without location',
      '[[registry]]\nlocation = "a.b"\n[[registry.mirror]]\ninsecure = true',
      /needs a location/,
    ],
    [
      'a bad pull-from-mirror',
      '[[registry]]\nlocation = "a.b"\n[[registry.mirror]]\nlocation = "c"\npull-from-mirror = "x"',
      /pull-from-mirror must be/,
    ],
    ['insecure not a bool', '[[registry]]\nlocation = "a.b"\ninsecure = "yes"', /insecure must be true or false/],
  ])('%s is refused with a clear error', (_name, text, message) => {
    let err: unknown;
    try {
      parseRegistriesConf(text, 'r.conf');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/^registries.conf r.conf: /);
    expect((err as Error).message).toMatch(message);
  });
});

describe('matching and mirror selection', () => {
  const conf = parseRegistriesConf(CONF, 'r.conf');

  test('the longest prefix wins, only at a component boundary', () => {
    expect(findRegistry(conf, 'gcr.io/team/app')?.prefix).toBe('gcr.io/team');
    expect(findRegistry(conf, 'gcr.io/teamwork/app')).toBeUndefined();
    expect(findRegistry(conf, 'registry.k8s.io/pause')?.prefix).toBe('registry.k8s.io');
    expect(findRegistry(conf, 'registry.k8s.iox/pause')).toBeUndefined();
    expect(findRegistry(conf, 'a.corp.example/x/y')?.prefix).toBe('*.corp.example');
    expect(findRegistry(conf, 'corp.example/x')).toBeUndefined();
  });

  test('mirrors in order with the prefix rewritten, then the registry', () => {
    expect(pullSources(conf, 'registry.k8s.io', 'pause', false)).toEqual([
      { domain: '127.0.0.1:5003', repository: 'k8s/pause', mirror: true, insecure: true },
      { domain: 'mirror.example.com', repository: 'pause', mirror: true, insecure: false },
      { domain: 'registry.k8s.io', repository: 'pause', mirror: false, insecure: false },
    ]);
    expect(pullSources(conf, 'docker.io', 'library/busybox', false)).toEqual([
      { domain: 'hub-cache.example:5000', repository: 'library/busybox', mirror: true, insecure: false },
      { domain: 'docker.io', repository: 'library/busybox', mirror: false, insecure: false },
    ]);
  });

  test('a relocated registry; digest-only mirrors serve digest pulls only', () => {
    expect(pullSources(conf, 'gcr.io', 'team/app', false)).toEqual([
      { domain: 'internal.example.com', repository: 'gcr-team/app', mirror: false, insecure: false },
    ]);
    expect(pullSources(conf, 'gcr.io', 'team/app', true)[0]).toEqual({
      domain: '10.0.0.9:5000',
      repository: 'gcr/app',
      mirror: true,
      insecure: false,
    });
  });

  test('a wildcard keeps the registry, its tag-only mirror gets what follows the host', () => {
    expect(pullSources(conf, 'a.corp.example', 'x/y', false)).toEqual([
      { domain: 'cache.example', repository: 'corp/x/y', mirror: true, insecure: false },
      { domain: 'a.corp.example', repository: 'x/y', mirror: false, insecure: false },
    ]);
    expect(pullSources(conf, 'a.corp.example', 'x/y', true)).toHaveLength(1);
  });

  test('no entry: the registry alone; a blocked one: refused, naming it', () => {
    expect(pullSources(conf, 'ghcr.io', 'o/r', false)).toEqual([
      { domain: 'ghcr.io', repository: 'o/r', mirror: false, insecure: false },
    ]);
    expect(() => pullSources(conf, 'quay.io', 'banned/x', false)).toThrow(BlockedRegistryError);
    expect(() => pullSources(conf, 'quay.io', 'banned/x', false)).toThrow(
      'registry quay.io/banned is blocked in r.conf',
    );
    expect(pullSources(conf, 'quay.io', 'other/x', false)).toHaveLength(1);
  });

  test('endpoints: registries.conf mirrors, then --registry-mirror, then registry-1.docker.io', () => {
    const hosts = new RegistryHosts({ registriesConf: conf, registryMirrors: ['http://127.0.0.1:5001/'] });
    expect(hosts.endpoints('docker.io', { mirrors: true, repository: 'library/busybox' })).toEqual([
      { base: 'https://hub-cache.example:5000', insecureTls: false, mirror: true, repository: undefined },
      { base: 'http://127.0.0.1:5001', insecureTls: false, mirror: true, repository: undefined },
      { base: 'https://registry-1.docker.io', insecureTls: false, mirror: false, repository: undefined },
    ]);
    expect(hosts.endpoints('registry.k8s.io', { mirrors: true, repository: 'pause' }).slice(0, 2)).toEqual([
      { base: 'https://127.0.0.1:5003', insecureTls: true, mirror: true, repository: 'k8s/pause' },
      { base: 'http://127.0.0.1:5003', insecureTls: false, mirror: true, repository: 'k8s/pause' },
    ]);
    // Pushes and logins: the registry alone.
    expect(hosts.endpoints('registry.k8s.io', { mirrors: false, repository: 'pause' })).toEqual([
      { base: 'https://registry.k8s.io', insecureTls: false, mirror: false },
    ]);
  });
});

describe('through the registry client', () => {
  let server: http.Server;
  let port: number;
  const seen: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      if (req.url === '/v2/mirrored/team/app/manifests/1.0') {
        res.writeHead(200, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
        res.end('{"schemaVersion":2}');
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  function hostsWithMirror(): RegistryHosts {
    const conf = parseRegistriesConf(
      `[[registry]]\nlocation = "unreachable.invalid"\n[[registry.mirror]]\nlocation = "127.0.0.1:${port}/mirrored"\n`,
    );
    return new RegistryHosts({ registriesConf: conf });
  }

  test('the manifest comes from the mirror, under the rewritten path', async () => {
    seen.length = 0;
    const client = new RegistryClient('unreachable.invalid', 'team/app', hostsWithMirror());
    const m = await client.getManifest('1.0');
    expect(m.body.toString()).toBe('{"schemaVersion":2}');
    expect(seen).toContain('/v2/mirrored/team/app/manifests/1.0');
  });

  test("the mirror's 404 is reported when the registry itself cannot be reached", async () => {
    const client = new RegistryClient('unreachable.invalid', 'team/app', hostsWithMirror());
    const err = await client.getManifest('2.0').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(404);
    expect((err as RegistryError).detail()).toBe('manifest unknown: manifest unknown');
  });
});
