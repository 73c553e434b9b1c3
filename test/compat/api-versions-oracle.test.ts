/**
 * API versions 1.42 to 1.45 beside the oracle, Debian 13's dockerd 26.1 (API 1.45, unpacked by
 * scripts/dockerd26.sh, never installed), run on a private socket in a network namespace of
 * its own (bench/netns-dockerd.ts): the same requests at pinned versions to both daemons, and
 * the answers compared (statuses and messages of refusals both make, the fields a version adds
 * or removes). Where podvisor refuses what dockerd honours (limitations.md, "API versions 1.42
 * to 1.45") nothing is compared. Without the unpacked dockerd (offline) the suite says so and
 * checks nothing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerSync } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { startNetnsDockerd, type NetnsDockerd } from '../../bench/netns-dockerd';

jest.setTimeout(300000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are read field by field
type Json = any;

/** One daemon as the test reaches it. */
interface Side {
  name: string;
  sock: string;
  env: NodeJS.ProcessEnv;
}

let pv: TestDaemon;
let oracle: NetnsDockerd | undefined;
let dir: string;
const sides: Side[] = [];

/** A request over a side's socket: status, headers (lower-case names) and the parsed body. */
function api(s: Side, method: string, p: string, body?: unknown): { status: number; headers: string; json: Json } {
  const args = ['-s', '-i', '-X', method, '--unix-socket', s.sock, `http://localhost${p}`];
  if (body !== undefined) args.push('-H', 'Content-Type: application/json', '-d', JSON.stringify(body));
  const out = spawnSync('curl', args, { encoding: 'utf8' }).stdout;
  const head = out.slice(0, out.indexOf('\r\n\r\n'));
  const text = out.slice(out.indexOf('\r\n\r\n') + 4);
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), headers: head.toLowerCase(), json };
}

/** The same request to both daemons: their answers, podvisor's first. */
function both(method: string, p: string, body?: unknown): Array<ReturnType<typeof api>> {
  return sides.map((s) => api(s, method, p, body));
}

/**
 * Status and message of a refusal, for comparing. dockerd lists the networks of a "multiple
 * network endpoints" refusal in Go's map order, which changes from run to run: compared sorted.
 */
const refusal = (r: ReturnType<typeof api>) => {
  const message = r.json?.message;
  const endpoints = /^(Container cannot be created with multiple network endpoints: )(.*)$/.exec(String(message));
  return [r.status, endpoints ? endpoints[1] + endpoints[2].split(', ').sort().join(', ') : message];
};

function ok(s: Side, args: string[]): string {
  const r = dockerSync({ env: s.env }, args, 240000);
  if (r.code !== 0) throw new Error(`${s.name}: docker ${args.join(' ')}: ${r.err}`);
  return r.out;
}

beforeAll(async () => {
  const root = execFileSync('bash', [path.join(__dirname, '../../scripts/dockerd26.sh')], { encoding: 'utf8' }).trim();
  if (!root) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-oracle-'));
  pv = await startDaemon();
  oracle = await startNetnsDockerd(path.join(dir, 'dockerd26'), { root });
  sides.push({ name: 'podvisor', sock: pv.socketPath, env: pv.env });
  sides.push({ name: 'dockerd 26', sock: oracle.env.DOCKER_HOST!.replace(/^unix:\/\//, ''), env: oracle.env });
  for (const s of sides) {
    ok(s, ['pull', '-q', BUSYBOX]);
    for (const n of ['front', 'back']) ok(s, ['network', 'create', n]);
  }
});

afterAll(async () => {
  if (oracle) await oracle.stop();
  if (pv) await stopDaemonLeavingNothing(pv);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const present = () => sides.length === 2;

test('the oracle is there (scripts/dockerd26.sh, run by the bootstrap, unpacked Debian 13 dockerd 26.1)', () => {
  // Without it nothing below compares anything: that is a failure, not a pass.
  expect(present()).toBe(true);
  expect(api(sides[1], 'GET', '/_ping').headers).toMatch(/^api-version: 1\.45$/m);
});

test('refusals both make: the same status and message', () => {
  if (!present()) return;
  const two = {
    Image: BUSYBOX,
    HostConfig: { NetworkMode: 'front' },
    NetworkingConfig: { EndpointsConfig: { front: {}, back: {} } },
  };
  const cases: Array<[string, string, unknown?]> = [
    ['/v1.43/containers/create', 'POST', two],
    [
      '/v1.44/containers/create',
      'POST',
      {
        Image: BUSYBOX,
        MacAddress: '02:42:ac:11:00:99',
        HostConfig: { NetworkMode: 'front' },
        NetworkingConfig: { EndpointsConfig: { front: { MacAddress: '02:42:ac:11:00:98' } } },
      },
    ],
    [
      '/v1.44/containers/create',
      'POST',
      { Image: BUSYBOX, MacAddress: '02:42:ac:11:00:99', NetworkingConfig: { EndpointsConfig: { back: {} } } },
    ],
    [
      '/v1.42/containers/create',
      'POST',
      { Image: BUSYBOX, HostConfig: { Mounts: [{ Type: 'tmpfs', Target: '/t', BindOptions: {} }] } },
    ],
    [
      '/v1.44/containers/create',
      'POST',
      {
        Image: BUSYBOX,
        HostConfig: { Mounts: [{ Type: 'volume', Source: 'v', Target: '/v', VolumeOptions: { Subpath: 'a' } }] },
      },
    ],
    [
      '/v1.43/containers/create',
      'POST',
      {
        Image: BUSYBOX,
        HostConfig: {
          Mounts: [{ Type: 'bind', Source: '/tmp', Target: '/v', BindOptions: { ReadOnlyForceRecursive: true } }],
        },
      },
    ],
    ['/v1.44/containers/create', 'POST', { Image: BUSYBOX, Healthcheck: { StartInterval: 5 } }],
    ['/v1.42/containers/nope/wait?condition=bogus', 'POST'],
    ['/v1.42/networks/create', 'POST', { Name: 'front' }],
    ['/v1.42/system/df?type=layers', 'GET'],
    [`/v1.44/volumes/prune?filters=${encodeURIComponent('{"all":["yes"]}')}`, 'POST'],
    ['/v1.46/version', 'GET'],
  ];
  for (const [p, method, body] of cases) {
    const [mine, theirs] = both(method, p, body);
    expect([p, ...refusal(mine)]).toEqual([p, ...refusal(theirs)]);
    expect(mine.status).toBeGreaterThanOrEqual(400);
  }
});

test('fields a version adds or removes: /_ping, /info, /images/json, image inspect, /system/df', () => {
  if (!present()) return;
  const [p1, p2] = both('GET', '/v1.44/_ping');
  expect(/^swarm: (.*)$/m.exec(p1.headers)?.[1]).toBe(/^swarm: (.*)$/m.exec(p2.headers)?.[1]);
  for (const v of ['1.42', '1.44']) {
    const [a, b] = both('GET', `/v${v}/info`);
    // KernelMemoryTCP is a fact of the kernel (the host's there, the guest's here).
    const keys = (j: Json) => [j.KernelMemory, j.CDISpecDirs];
    expect(keys(a.json)).toEqual(keys(b.json));
  }
  for (const v of ['1.43', '1.44', '1.45']) {
    const [a, b] = both('GET', `/v${v}/images/json`);
    const shape = (j: Json[]) => {
      const img = j.find((i: Json) => (i.RepoTags ?? []).includes(`${BUSYBOX}:latest`));
      return ['VirtualSize' in img, Array.isArray(img.RepoDigests)];
    };
    expect([v, ...shape(a.json)]).toEqual([v, ...shape(b.json)]);
    const [ia, ib] = both('GET', `/v${v}/images/${BUSYBOX}/json`);
    const ishape = (j: Json) => ['VirtualSize' in j, 'ContainerConfig' in j, 'Created' in j];
    expect([v, ...ishape(ia.json)]).toEqual([v, ...ishape(ib.json)]);
  }
  const untilPast = `/v1.44/images/json?filters=${encodeURIComponent('{"until":["2000-01-01"]}')}`;
  expect(both('GET', untilPast).map((r) => [r.status, r.json])).toEqual([
    [200, []],
    [200, []],
  ]);
  const [da, db] = both('GET', '/v1.42/system/df?type=image&type=volume');
  const dshape = (j: Json) => [j.Containers, Array.isArray(j.Images), Array.isArray(j.Volumes), 'BuilderSize' in j];
  expect(dshape(da.json)).toEqual(dshape(db.json));
});

test('create at 1.44 with two networks, a MAC and a start interval; inspect at 1.44 and 1.45', () => {
  if (!present()) return;
  const body = {
    Image: BUSYBOX,
    Cmd: ['sleep', '1000'],
    Hostname: 'hosty',
    MacAddress: '02:42:ac:11:00:99',
    Healthcheck: { Test: ['CMD', 'true'], StartPeriod: 60e9, StartInterval: 2e9 },
    HostConfig: { NetworkMode: 'front' },
    NetworkingConfig: { EndpointsConfig: { front: { Aliases: ['web'] }, back: {} } },
  };
  const created = both('POST', '/v1.44/containers/create?name=multi', body);
  expect(created.map((r) => [r.status, r.json.Warnings])).toEqual([
    [201, created[1].json.Warnings],
    [201, created[1].json.Warnings],
  ]);
  const views = sides.map((s, i) => {
    const id = created[i].json.Id as string;
    expect(api(s, 'POST', `/v1.44/containers/${id}/start`).status).toBe(204);
    const norm = (j: Json) => {
      const nets = j.NetworkSettings.Networks;
      const text = JSON.stringify(
        Object.fromEntries(
          Object.keys(nets)
            .sort()
            .map((n) => [n, [nets[n].Aliases, nets[n].DNSNames, nets[n].MacAddress === '02:42:ac:11:00:99' || n]]),
        ),
      );
      return [text.split(id.slice(0, 12)).join('SHORT'), j.Config.Healthcheck];
    };
    return ['1.43', '1.44', '1.45'].map((v) => norm(api(s, 'GET', `/v${v}/containers/${id}/json`).json));
  });
  expect(views[0]).toEqual(views[1]);
  for (const [s, r] of sides.map((s, i) => [s, created[i]] as const))
    api(s, 'DELETE', `/containers/${r.json.Id}?force=1`);
});

test('endpoint settings: every problem at once, at create and connect, from 1.42', () => {
  if (!present()) return;
  for (const s of sides) ok(s, ['network', 'create', '--subnet', '10.77.0.0/24', 'subnetted']);
  const ipam = { IPv4Address: '300.1.1.1', IPv6Address: 'zz', LinkLocalIPs: ['q'] };
  const cases: Array<[string, unknown]> = [
    ['front', { front: { IPAMConfig: ipam } }],
    ['front', { front: { IPAMConfig: { IPv4Address: '10.9.9.9' }, Aliases: ['a'] } }],
    ['bridge', { bridge: { IPAMConfig: { IPv4Address: '10.9.9.9' }, Aliases: ['a'] } }],
    ['subnetted', { subnetted: { IPAMConfig: { IPv4Address: '10.9.9.9', IPv6Address: 'fd00::1' } } }],
    ['subnetted', { subnetted: { IPAMConfig: { IPv4Address: '10.9.9.9' } } }],
    ['front', { front: { MacAddress: 'bad', IPAMConfig: ipam } }],
  ];
  for (const v of ['1.43', '1.45'])
    for (const [mode, eps] of cases) {
      const body = { Image: BUSYBOX, HostConfig: { NetworkMode: mode }, NetworkingConfig: { EndpointsConfig: eps } };
      const [mine, theirs] = both('POST', `/v${v}/containers/create`, body);
      expect([v, mode, ...refusal(mine)]).toEqual([v, mode, ...refusal(theirs)]);
      expect(mine.status).toBe(400);
    }
  for (const s of sides) ok(s, ['create', '--name', 'joiner', BUSYBOX, 'true']);
  try {
    const [mine, theirs] = both('POST', '/v1.45/networks/subnetted/connect', {
      Container: 'joiner',
      EndpointConfig: { IPAMConfig: { IPv4Address: '10.9.9.9', IPv6Address: 'zz' } },
    });
    expect(refusal(mine)).toEqual(refusal(theirs));
    expect(mine.status).toBe(400);
  } finally {
    for (const s of sides) {
      dockerSync({ env: s.env }, ['rm', '-f', 'joiner']);
      dockerSync({ env: s.env }, ['network', 'rm', 'subnetted']);
    }
  }
});

test("volumes: a container's anonymous volume (Config.Volumes) is labelled, a --mount one is not; PUT /volumes is a 503", () => {
  if (!present()) return;
  const labels = (s: Side, args: string[]) => {
    const id = ok(s, ['create', ...args, BUSYBOX, 'true']).trim();
    const vol = ok(s, ['inspect', '-f', '{{range .Mounts}}{{.Name}}{{end}}', id]).trim();
    const out = ok(s, ['volume', 'inspect', '-f', '{{json .Labels}}', vol]).trim();
    ok(s, ['rm', '-v', id]);
    return out;
  };
  const views = sides.map((s) => [labels(s, ['-v', '/data']), labels(s, ['--mount', 'type=volume,target=/m'])]);
  expect(views[0]).toEqual(['{"com.docker.volume.anonymous":""}', 'null']);
  expect(views[1]).toEqual(views[0]);
  const [mine, theirs] = both('PUT', '/v1.45/volumes/x', {});
  expect(refusal(mine)).toEqual(refusal(theirs));
  expect(mine.status).toBe(503);
});

test('a read-only bind is read-only with the mounts under it (1.44 and later), as dockerd 26 makes it', () => {
  if (!present()) return;
  // Under the prefix other suites' mount checks know as a test's own (test/compat/share-paths.test.ts).
  const src = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-test-mounts-rro-'));
  fs.mkdirSync(path.join(src, 'sub'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'rro-test', path.join(src, 'sub')]);
  try {
    const script = 'touch /m/top 2>/dev/null; echo top $?; touch /m/sub/x 2>/dev/null; echo sub $?';
    const runs = sides.map((s) =>
      dockerSync({ env: s.env }, ['run', '--rm', '-v', `${src}:/m:ro`, BUSYBOX, 'sh', '-c', script], 240000),
    );
    expect(runs[0]).toMatchObject({ code: 0, out: 'top 1\nsub 1' });
    expect(runs[1]).toMatchObject({ code: 0, out: runs[0].out });
  } finally {
    execFileSync('umount', [path.join(src, 'sub')]);
    fs.rmSync(src, { recursive: true, force: true });
  }
});
