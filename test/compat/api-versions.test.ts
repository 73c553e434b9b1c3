/**
 * Clients pinned at API 1.44 and 1.45 (Docker 29 refuses anything older, so docker-java,
 * testcontainers and the CLI with DOCKER_API_VERSION now send them): the stock docker CLI with
 * DOCKER_API_VERSION set, and curl at `/v1.44/` and `/v1.45/`, against the real daemon. The
 * daemon announces 1.45 (minimum 1.24) in /version as dockerd 26.1 does, serves unversioned
 * paths as 1.45, and serves each pinned request as its version (src/api/v1.41/versions); a
 * client pinned at 1.41 still gets dockerd 20.10's answers.
 */
import { spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerSync, type CliResult } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox`;

let d: TestDaemon;

/** The docker CLI pinned at API version `v`. */
function pinned(v: string, args: string[]): CliResult {
  return dockerSync({ env: { ...d.env, DOCKER_API_VERSION: v } }, args, 240000);
}

function pinnedOk(v: string, args: string[]): string {
  const r = pinned(v, args);
  if (r.code !== 0) throw new Error(`DOCKER_API_VERSION=${v} docker ${args.join(' ')}: ${r.err}`);
  return r.out;
}

/** curl over the daemon's socket: the status line's code, the headers and the body. */
function curl(p: string, method = 'GET'): { status: number; headers: string; body: string } {
  const r = spawnSync('curl', ['-s', '-i', '-X', method, '--unix-socket', d.socketPath, `http://localhost${p}`], {
    encoding: 'utf8',
  });
  const [head, ...rest] = r.stdout.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), headers: head, body: rest.join('\r\n\r\n') };
}

beforeAll(async () => {
  d = await startDaemon();
  const pull = dockerSync(d, ['pull', '-q', BUSYBOX]);
  if (pull.code !== 0) throw new Error(pull.err);
});

afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

describe.each(['1.44', '1.45'])('DOCKER_API_VERSION=%s', (v) => {
  test('docker version: the client speaks the pinned version, the server announces 1.45', () => {
    expect(pinnedOk(v, ['version', '--format', '{{.Client.APIVersion}} {{.Server.APIVersion}}'])).toBe(`${v} 1.45`);
  });

  test('docker run --rm, ps and inspect', () => {
    expect(pinnedOk(v, ['run', '--rm', BUSYBOX, 'echo', 'hi'])).toBe('hi');
    const name = `pinned-${v.replace('.', '')}`;
    const id = pinnedOk(v, ['create', '--name', name, BUSYBOX, 'true']);
    expect(pinnedOk(v, ['ps', '-a', '--format', '{{.Names}}', '--filter', `name=^${name}$`])).toBe(name);
    const info = JSON.parse(pinnedOk(v, ['inspect', name]))[0];
    expect([info.Id, info.Name, info.Config.Image]).toEqual([id, `/${name}`, BUSYBOX]);
    expect('KernelMemory' in info.HostConfig).toBe(false);
    const img = JSON.parse(pinnedOk(v, ['image', 'inspect', BUSYBOX]))[0];
    expect(['VirtualSize' in img, 'ContainerConfig' in img]).toEqual([false, v === '1.44']);
    pinnedOk(v, ['rm', name]);
  });

  test('docker stop -s: the signal given, not the stop signal (a trap on TERM would hold it for the timeout)', () => {
    const name = `stopsig-${v.replace('.', '')}`;
    pinnedOk(v, ['run', '-d', '--name', name, BUSYBOX, 'sh', '-c', "trap '' TERM; sleep 1000"]);
    const t0 = Date.now();
    pinnedOk(v, ['stop', '-s', 'KILL', '-t', '60', name]);
    expect(Date.now() - t0).toBeLessThan(30000);
    expect(pinnedOk(v, ['inspect', '-f', '{{.State.ExitCode}}', name])).toBe('137');
    pinnedOk(v, ['rm', name]);
  });

  test('docker network create, ls and rm', () => {
    const net = `pinned-net-${v.replace('.', '')}`;
    pinnedOk(v, ['network', 'create', net]);
    expect(pinnedOk(v, ['network', 'ls', '--format', '{{.Name}}', '--filter', `name=^${net}$`])).toBe(net);
    pinnedOk(v, ['network', 'rm', net]);
    expect(pinnedOk(v, ['network', 'ls', '-q', '--filter', `name=^${net}$`])).toBe('');
  });

  test(`curl at /v${v}/`, () => {
    const ping = curl(`/v${v}/_ping`);
    expect([ping.status, ping.body]).toEqual([200, 'OK']);
    expect(ping.headers).toMatch(/^Swarm: inactive$/im);
    const version = JSON.parse(curl(`/v${v}/version`).body);
    expect([version.ApiVersion, version.MinAPIVersion]).toEqual(['1.45', '1.24']);
    const info = JSON.parse(curl(`/v${v}/info`).body);
    expect([info.CDISpecDirs, 'KernelMemory' in info]).toEqual([[], false]);
    const images = JSON.parse(curl(`/v${v}/images/json`).body);
    expect(images.length).toBeGreaterThan(0);
    expect(images.some((i: object) => 'VirtualSize' in i)).toBe(false);
    const until = (t: string) =>
      curl(`/v${v}/images/json?filters=${encodeURIComponent(JSON.stringify({ until: [t] }))}`);
    expect(JSON.parse(until('2000-01-01').body)).toEqual([]);
    expect(JSON.parse(until('2999-01-01').body).length).toBe(images.length);
    const df = JSON.parse(curl(`/v${v}/system/df?type=volume`).body);
    expect([df.Images, df.Containers, 'BuilderSize' in df]).toEqual([null, null, false]);
    expect(Array.isArray(JSON.parse(curl(`/v${v}/containers/json?all=1`).body))).toBe(true);
    expect(Array.isArray(JSON.parse(curl(`/v${v}/networks`).body))).toBe(true);
  });
});

test('a version above 1.45 or below 1.24 is refused in dockerd 26 words; unversioned requests are served as 1.45', () => {
  const r = curl('/v1.46/version');
  expect([r.status, JSON.parse(r.body).message]).toEqual([
    400,
    'client version 1.46 is too new. Maximum supported API version is 1.45',
  ]);
  const old = curl('/v1.23/version');
  expect([old.status, JSON.parse(old.body).message]).toEqual([
    400,
    'client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version',
  ]);
  const ping = curl('/_ping');
  expect([ping.status, /^Swarm: inactive$/im.test(ping.headers), /^Api-Version: 1.45$/im.test(ping.headers)]).toEqual([
    200,
    true,
    true,
  ]);
  const images = JSON.parse(curl('/images/json').body);
  expect(images.some((i: object) => 'VirtualSize' in i)).toBe(false);
  const until = curl(`/images/json?filters=${encodeURIComponent('{"until":["2999-01-01"]}')}`);
  expect([until.status, JSON.parse(until.body).length]).toEqual([200, images.length]);
});

test('the CLI unpinned negotiates 1.45; pinned at 1.41 it gets dockerd 20.10 answers', () => {
  const unpinned = dockerSync(d, ['version', '--format', '{{.Client.APIVersion}} {{.Server.APIVersion}}']);
  expect(unpinned.out.split(' ')).toEqual([expect.stringMatching(/^1\.\d+$/), '1.45']);
  expect(Number(unpinned.out.split(' ')[0].split('.')[1])).toBeGreaterThanOrEqual(45);
  expect(pinnedOk('1.41', ['version', '--format', '{{.Client.APIVersion}} {{.Server.APIVersion}}'])).toBe('1.41 1.45');
  const ping = curl('/v1.41/_ping');
  expect([ping.status, /^Swarm:/im.test(ping.headers)]).toEqual([200, false]);
  const images = JSON.parse(curl('/v1.41/images/json').body);
  expect(images.every((i: object) => 'VirtualSize' in i)).toBe(true);
  const until = curl(`/v1.41/images/json?filters=${encodeURIComponent('{"until":["1h"]}')}`);
  expect([until.status, JSON.parse(until.body).message]).toEqual([400, "Invalid filter 'until'"]);
  const img = JSON.parse(pinnedOk('1.41', ['image', 'inspect', BUSYBOX]))[0];
  expect(['VirtualSize' in img, 'ContainerConfig' in img]).toEqual([true, true]);
});
