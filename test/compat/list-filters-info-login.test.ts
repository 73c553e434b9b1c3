/**
 * Issue 27's Docker API items that need no running container, through the stock docker CLI
 * against the real daemon (no VM is booted: containers are only created):
 *  - the `name` filter of `network ls`, `volume ls` and `ps` is a regular expression, as in
 *    dockerd (`--filter name=^proj_default$` found nothing); a container's `id` filter is an
 *    unambiguous prefix; `ps --filter network=` names a network exactly or by an id prefix;
 *  - `docker info` lists the network drivers served (bridge and null), the log driver
 *    (json-file) and the volume driver (local);
 *  - `docker login` against a daemon started with --registry-mirror (a mirror that accepts any
 *    credentials) is checked at Docker Hub, never at the mirror: offline, dockerd's error
 *    naming registry-1.docker.io, and the mirror sees no request.
 * The expected answers were seen from dockerd 20.10.24 given the same commands.
 */
import * as http from 'node:http';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerSync, dockerOk, type CliResult } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(180000);

const REG = fixtureRegistry();
const BUSYBOX = `${REG}/busybox`;

let d: TestDaemon;
const docker = (args: string[]): CliResult => dockerSync(d, args);
const ok = (args: string[]): string => dockerOk(d, args);
const lines = (s: string): string[] => s.split('\n').filter(Boolean).sort();

describe('one daemon', () => {
  beforeAll(async () => {
    d = await startDaemon();
    ok(['pull', '-q', BUSYBOX]);
  });

  afterAll(async () => {
    if (d) await stopDaemonLeavingNothing(d);
  });

  test('network ls --filter name=^proj_default$ finds that network alone; name and id are expressions', () => {
    const id = ok(['network', 'create', 'proj_default']);
    ok(['network', 'create', 'proj_default_2']);
    ok(['network', 'create', 'myproj_default']);
    expect(ok(['network', 'ls', '--format', '{{.Name}}', '--filter', 'name=^proj_default$'])).toBe('proj_default');
    expect(lines(ok(['network', 'ls', '--format', '{{.Name}}', '--filter', 'name=^proj_']))).toEqual([
      'proj_default',
      'proj_default_2',
    ]);
    expect(lines(ok(['network', 'ls', '--format', '{{.Name}}', '--filter', 'name=proj_default']))).toEqual([
      'myproj_default',
      'proj_default',
      'proj_default_2',
    ]);
    expect(ok(['network', 'ls', '--format', '{{.Name}}', '--filter', `id=^${id.slice(0, 10)}`])).toBe('proj_default');
    expect(ok(['network', 'ls', '--format', '{{.Name}}', '--filter', 'name=^default$'])).toBe('');
  });

  test('volume ls --filter name= is an expression too', () => {
    for (const v of ['data', 'olddata', 'data2']) ok(['volume', 'create', v]);
    expect(ok(['volume', 'ls', '-q', '--filter', 'name=^data$'])).toBe('data');
    expect(lines(ok(['volume', 'ls', '-q', '--filter', 'name=data']))).toEqual(['data', 'data2', 'olddata']);
    expect(lines(ok(['volume', 'ls', '-q', '--filter', 'name=^data']))).toEqual(['data', 'data2']);
  });

  test('ps: name an expression, id an unambiguous prefix, network a name or an id prefix', () => {
    const web = ok(['create', '--name', 'web', '--network', 'proj_default', BUSYBOX, 'true']);
    const myweb = ok(['create', '--name', 'myweb_1', BUSYBOX, 'true']);
    const names = (filter: string) => lines(ok(['ps', '-a', '--format', '{{.Names}}', '--filter', filter]));
    expect(names('name=^web$')).toEqual(['web']);
    expect(names('name=^/web$')).toEqual(['web']);
    expect(names('name=web')).toEqual(['myweb_1', 'web']);
    expect(names(`id=${web.slice(0, 8)}`)).toEqual(['web']);
    expect(names(`id=${myweb.slice(0, 12)}`)).toEqual(['myweb_1']);
    // Not a prefix: no container, though the text is in its id.
    expect(names(`id=${web.slice(1, 9)}`)).toEqual([]);
    expect(names('network=proj_default')).toEqual(['web']);
    expect(names('network=proj_def')).toEqual([]);
    const netId = ok(['network', 'inspect', '-f', '{{.Id}}', 'proj_default']);
    // A created container has no endpoint yet, so no NetworkID to match a prefix (dockerd alike).
    expect(names(`network=${netId.slice(0, 6)}`)).toEqual([]);
    expect(JSON.parse(ok(['ps', '-a', '--format', '{{json .Networks}}', '--filter', 'name=^web$']))).toBe(
      'proj_default',
    );
    expect(names('is-task=true')).toEqual([]);
    expect(names('is-task=false')).toEqual(['myweb_1', 'web']);
    const bad = docker(['ps', '-a', '--filter', 'publish=8080:80']);
    expect([bad.code, bad.err]).toEqual([
      1,
      "Error response from daemon: filter for 'publish' should not contain ':': 8080:80",
    ]);
    ok(['rm', 'web', 'myweb_1']);
  });

  test('docker info lists the drivers served: network bridge and null, log json-file, volume local', () => {
    expect(JSON.parse(ok(['info', '--format', '{{json .Plugins}}']))).toEqual({
      Volume: ['local'],
      Network: ['bridge', 'null'],
      Authorization: null,
      Log: ['json-file'],
    });
    // Each listed network driver works: a bridge network (the tests above) and --network none.
    ok(['create', '--name', 'alone', '--network', 'none', BUSYBOX, 'true']);
    ok(['rm', 'alone']);
  });
});

describe('a daemon started with --registry-mirror', () => {
  const seen: string[] = [];
  let mirror: http.Server;
  let md: TestDaemon | undefined;

  beforeAll(async () => {
    // A mirror that accepts anything: had the login gone there, it would have "succeeded".
    mirror = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
    await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', r));
    md = await startDaemon({
      args: ['--registry-mirror', `http://127.0.0.1:${(mirror.address() as { port: number }).port}`],
    });
  });

  afterAll(async () => {
    if (md) await stopDaemonLeavingNothing(md);
    mirror.close();
  });

  test('docker login for Docker Hub is checked at Docker Hub, never at the mirror', () => {
    for (const server of [[], ['https://index.docker.io/v1/'], ['docker.io']]) {
      const r = dockerSync(md!, ['login', '-u', 'someone', '-p', 'never-checked', ...server], 60000);
      expect(r.out).not.toContain('Login Succeeded');
      expect(r.code).toBe(1);
      // Offline (as here), dockerd's 500 names the failed lookup; online, Docker Hub refuses the password.
      expect(r.err).toMatch(
        /Error response from daemon: (Get "https:\/\/registry-1\.docker\.io\/v2\/": dial tcp: lookup registry-1\.docker\.io.*|.*unauthorized.*)/,
      );
    }
    expect(seen).toEqual([]);
  });
});
