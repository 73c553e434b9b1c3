/**
 * `docker import` with the stock docker CLI: a root filesystem tar (a busybox binary and a
 * file) from a file, from stdin (gzipped, or compressed with bzip2, xz or zstd) and from a URL
 * the daemon fetches, with every kind
 * of `--change` dockerd takes in an import and a message. The imported image runs in a VM
 * with the config the changes made; a change dockerd refuses is refused with its words and
 * makes no image.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { BUSYBOX_BINARY } from '../fixtures/images';

jest.setTimeout(240000);

let d: TestDaemon;
let dir: string;
let rootfsTar: string;

beforeAll(async () => {
  d = await startDaemon();
  dir = fs.mkdtempSync(path.join(path.dirname(d.socketPath), 'import-'));
  const root = path.join(dir, 'rootfs');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'etc'));
  fs.copyFileSync(BUSYBOX_BINARY, path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  fs.symlinkSync('busybox', path.join(root, 'bin/sh'));
  fs.writeFileSync(path.join(root, 'etc/greeting'), 'imported\n');
  rootfsTar = path.join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', root, '-cf', rootfsTar, '.']);
});
afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
});

const docker = async (args: string[], input?: Buffer) => {
  const r = await dockerCli(d, args, input);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.err.trim()}`);
  return r.out.trim();
};

test('docker import from a file with changes and a message: the config is what the changes say, and the image runs with it', async () => {
  const changes = [
    'ENV GREETING=hello WHO="the importer"',
    'ENV FULL $GREETING-$WHO',
    'WORKDIR /srv',
    'WORKDIR data',
    'USER 1000',
    'EXPOSE 8080 53/udp',
    'LABEL org.example.kind=imported "with space"=yes',
    'ENTRYPOINT ["/bin/busybox"]',
    'CMD ["sh", "-c", "echo $FULL in $PWD as $(/bin/busybox id -u); /bin/busybox cat /etc/greeting"]',
  ];
  const id = await docker([
    'import',
    ...changes.flatMap((c) => ['--change', c]),
    '--message',
    'from a test',
    rootfsTar,
    'imported/one:1',
  ]);
  expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
  const cfg = JSON.parse(await docker(['image', 'inspect', '-f', '{{json .Config}}', 'imported/one:1'])) as Record<
    string,
    unknown
  >;
  expect(cfg.Env).toEqual(['GREETING=hello', 'WHO=the importer', 'FULL=hello-the importer']);
  expect(cfg.WorkingDir).toBe('/srv/data');
  expect(cfg.User).toBe('1000');
  expect(cfg.ExposedPorts).toEqual({ '8080/tcp': {}, '53/udp': {} });
  expect(cfg.Labels).toEqual({ 'org.example.kind': 'imported', 'with space': 'yes' });
  expect(cfg.Entrypoint).toEqual(['/bin/busybox']);
  expect(cfg.Cmd).toEqual(['sh', '-c', 'echo $FULL in $PWD as $(/bin/busybox id -u); /bin/busybox cat /etc/greeting']);
  expect(
    await docker([
      'image',
      'inspect',
      '-f',
      '{{.Id}} {{.Comment}} {{.Os}}/{{.Architecture}} {{len .RootFS.Layers}}',
      'imported/one:1',
    ]),
  ).toBe(`${id} from a test linux/amd64 1`);
  expect(await docker(['history', '--format', '{{.Comment}}', 'imported/one:1'])).toBe('from a test');

  expect(await docker(['run', '--rm', 'imported/one:1'])).toBe('hello-the importer in /srv/data as 1000\nimported');
});

test('docker import from stdin (gzipped) and from a URL; shell and exec forms', async () => {
  const gz = zlib.gzipSync(fs.readFileSync(rootfsTar));
  const fromStdin = await docker(
    [
      'import',
      '--change',
      'CMD ["/bin/busybox", "true"]',
      '--change',
      'ENTRYPOINT /bin/busybox echo',
      '-',
      'imported/two',
    ],
    gz,
  );
  expect(
    await docker([
      'image',
      'inspect',
      '-f',
      '{{.Id}} {{json .Config.Cmd}} {{json .Config.Entrypoint}} {{.Comment}} {{index .RepoTags 0}}',
      'imported/two',
    ]),
  ).toBe(
    `${fromStdin} ["/bin/busybox","true"] ["/bin/sh","-c","/bin/busybox echo"] Imported from - imported/two:latest`,
  );
  await docker(
    ['import', '--change', 'VOLUME /cache /tmp/x', '--change', 'VOLUME ["/a", "/b"]', '-', 'imported/three'],
    gz,
  );
  expect(
    await docker(['image', 'inspect', '-f', '{{json .Config.Volumes}} {{json .Config.Cmd}}', 'imported/three']),
  ).toBe('{"/a":{},"/b":{},"/cache":{},"/tmp/x":{}} null');

  const server = http.createServer((req, res) => {
    if (req.url !== '/rootfs.tar.gz') {
      res.statusCode = 404;
      res.end('no');
      return;
    }
    res.setHeader('Content-Length', gz.length);
    res.end(gz);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (server.address() as { port: number }).port;
    const out = await docker(['import', `http://127.0.0.1:${port}/rootfs.tar.gz`, 'imported/url:1']);
    expect(out).toMatch(/sha256:[0-9a-f]{64}$/);
    expect(await docker(['image', 'inspect', '-f', '{{.Comment}} {{.Size}}', 'imported/url:1'])).toBe(
      `Imported from http://127.0.0.1:${port}/rootfs.tar.gz ${await docker(['image', 'inspect', '-f', '{{.Size}}', 'imported/two'])}`,
    );
    const missing = await dockerCli(d, ['import', `http://127.0.0.1:${port}/missing`, 'imported/none']);
    expect(missing.code).not.toBe(0);
    expect(missing.err).toMatch(/Got HTTP status code >= 400: 404/);
  } finally {
    server.close();
  }
});

test('docker import of bzip2-, xz- and zstd-compressed tars, from stdin and from a URL, gives the layer of the plain tar', async () => {
  const plainId = await docker(['import', rootfsTar, 'imported/plain']);
  const layers = await docker(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', plainId]);
  const packed = new Map(
    ['bzip2', 'xz', 'zstd'].map((tool) => [tool, execFileSync(tool, ['-c', rootfsTar], { maxBuffer: 64 << 20 })]),
  );
  const server = http.createServer((req, res) => {
    const body = packed.get((req.url ?? '').slice(1));
    res.statusCode = body ? 200 : 404;
    res.end(body ?? 'no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (server.address() as { port: number }).port;
    for (const [tool, bytes] of packed) {
      const fromStdin = await docker(
        ['import', '--change', 'CMD ["/bin/busybox", "cat", "/etc/greeting"]', '-', `imported/${tool}:stdin`],
        bytes,
      );
      expect(await docker(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', fromStdin])).toBe(layers);
      await docker(['import', `http://127.0.0.1:${port}/${tool}`, `imported/${tool}:url`]);
      expect(
        await docker(['image', 'inspect', '-f', '{{json .RootFS.Layers}} {{.Comment}}', `imported/${tool}:url`]),
      ).toBe(`${layers} Imported from http://127.0.0.1:${port}/${tool}`);
    }
  } finally {
    server.close();
  }
  expect(await docker(['run', '--rm', 'imported/xz:stdin'])).toBe('imported');

  // A corrupt compressed tar is refused and makes no image.
  const before = await docker(['images', '-q', '--no-trunc']);
  const cut = packed.get('xz')!.subarray(0, 300);
  const r = await dockerCli(d, ['import', '-', 'imported/cut'], cut);
  expect(r.code).not.toBe(0);
  expect(await docker(['images', '-q', '--no-trunc'])).toBe(before);
});

test('a change dockerd refuses is refused with its words and makes no image', async () => {
  const before = await docker(['images', '-q', '--no-trunc']);
  for (const [change, message] of [
    ['RUN true', 'run is not a valid change command'],
    ['FROM scratch', 'from is not a valid change command'],
    ['EXPOSE nope', 'Invalid containerPort: nope'],
  ]) {
    const r = await dockerCli(d, ['import', '--change', change, rootfsTar, 'imported/refused']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(message);
  }
  expect(await docker(['images', '-q', '--no-trunc'])).toBe(before);
});

test("docker import --platform: from API 1.42 the image takes its architecture and variant (as dockerd 26); at 1.41 the host's (as dockerd 20.10); another OS or a bad platform is refused", async () => {
  const tar = fs.readFileSync(rootfsTar);
  const arch = (ref: string) => docker(['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}}/{{.Variant}}', ref]);
  await docker(['import', '--platform', 'linux/arm64', '-', 'pv-import-arm:1'], tar);
  expect(await arch('pv-import-arm:1')).toBe('linux/arm64/v8');
  await docker(['import', '-', 'pv-import-host:1'], tar);
  expect(await arch('pv-import-host:1')).toBe('linux/amd64/');
  const at141 = await dockerCli(
    { env: { ...d.env, DOCKER_API_VERSION: '1.41' } },
    ['import', '--platform', 'linux/arm64', '-', 'pv-import-141:1'],
    tar,
  );
  expect(at141.code).toBe(0);
  expect(await arch('pv-import-141:1')).toBe('linux/amd64/');
  const windows = await dockerCli(d, ['import', '--platform', 'windows/amd64', '-', 'pv-import-win:1'], tar);
  expect([windows.code, windows.err]).toEqual([1, expect.stringContaining('operating system is not supported')]);
  const bad = await dockerCli(d, ['import', '--platform', 'bogus', '-', 'pv-import-bad:1'], tar);
  expect([bad.code, bad.err]).toEqual([
    1,
    expect.stringContaining('"bogus": unknown operating system or architecture'),
  ]);
  expect(
    (await dockerCli(d, ['image', 'ls', '-q', 'pv-import-win'])).out +
      (await dockerCli(d, ['image', 'ls', '-q', 'pv-import-bad'])).out,
  ).toBe('');
  await docker(['rmi', 'pv-import-arm:1', 'pv-import-host:1', 'pv-import-141:1']);
});
