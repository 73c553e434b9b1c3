/**
 * docker cp (both ways, files and directories), docker diff and docker export through the
 * stock docker CLI against the real daemon, on a created, a running and a stopped container;
 * and a container's symlink leading out of its root never lets cp touch the host. Each in
 * both of the daemon's modes: block mode (the default: done in the guest,
 * src/storage/archive/guest.ts) and the host layer over 9p (--rootfs-disk=false: done on
 * the host, src/storage/archive/service.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { packTar } from '../fixtures/image-builder';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;

function docker(
  d: TestDaemon,
  args: string[],
  input?: Buffer,
): Promise<{ out: string; outBuf: Buffer; err: string; code: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn('docker', args, { env: d.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 90000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      const outBuf = Buffer.concat(out);
      resolve({ out: outBuf.toString(), outBuf, err, code: code ?? -1 });
    });
    p.stdin.end(input ?? Buffer.alloc(0));
  });
}

let d: TestDaemon;
let tmp: string;

describe.each([
  ['block mode (--rootfs-disk)', ['--rootfs-disk']],
  ['the host layer over 9p (--rootfs-disk=false)', ['--rootfs-disk=false']],
])('%s', (_mode, args: string[]) => {
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-cp-'));
    d = await startDaemon({ vmPoolSize: 0, args });
    expect((await docker(d, ['pull', '-q', IMAGE])).code).toBe(0);
  });
  afterAll(async () => {
    // Containers a failed test left behind go first: their VMs would outlive the daemon.
    if (d) await docker(d, ['rm', '-f', 'cpc', 'evil', 'wire']);
    if (d) await stopDaemonLeavingNothing(d);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('cp both ways, diff and export on a created, running and stopped container', async () => {
    const host = path.join(tmp, 'in');
    fs.mkdirSync(path.join(host, 'dir', 'sub'), { recursive: true });
    fs.writeFileSync(path.join(host, 'file.txt'), 'hello from the host\n');
    fs.writeFileSync(path.join(host, 'dir', 'sub', 'deep.txt'), 'deep\n');
    fs.chmodSync(path.join(host, 'dir', 'sub', 'deep.txt'), 0o640);

    expect((await docker(d, ['create', '--name', 'cpc', IMAGE, 'sleep', '600'])).code).toBe(0);
    // Created: in, then back out.
    let r = await docker(d, ['cp', path.join(host, 'file.txt'), 'cpc:/tmp/']);
    expect(r).toMatchObject({ code: 0 });
    r = await docker(d, ['cp', path.join(host, 'dir'), 'cpc:/srv']);
    expect(r.code).toBe(0);
    r = await docker(d, ['cp', 'cpc:/tmp/file.txt', path.join(tmp, 'back.txt')]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, 'back.txt'), 'utf8')).toBe('hello from the host\n');
    r = await docker(d, ['cp', 'cpc:/srv', path.join(tmp, 'srvback')]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, 'srvback', 'sub', 'deep.txt'), 'utf8')).toBe('deep\n');
    expect(fs.statSync(path.join(tmp, 'srvback', 'sub', 'deep.txt')).mode & 0o777).toBe(0o640);
    // A file of the image, to stdout as a tar; a symlink of the image is copied as a symlink.
    r = await docker(d, ['cp', 'cpc:/etc/passwd', '-']);
    expect(r.code).toBe(0);
    const listed = spawnSync('tar', ['-tv'], { input: r.outBuf }).stdout.toString();
    expect(listed).toMatch(/ passwd\n$/);
    // Missing path: dockerd's message.
    r = await docker(d, ['cp', 'cpc:/nope', tmp]);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/Could not find the file \/nope in container cpc/);

    // diff shows the additions; export has the image and them.
    r = await docker(d, ['diff', 'cpc']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toEqual(
      expect.arrayContaining(['C /tmp', 'A /tmp/file.txt', 'A /srv', 'A /srv/sub/deep.txt']),
    );
    r = await docker(d, ['export', 'cpc']);
    expect(r.code).toBe(0);
    const names = spawnSync('tar', ['-t'], { input: r.outBuf, maxBuffer: 1 << 28 })
      .stdout.toString()
      .split('\n');
    expect(names).toEqual(expect.arrayContaining(['bin/busybox', 'tmp/file.txt', 'srv/sub/deep.txt']));

    // Running: what cp puts in, the guest sees at once; what the guest writes, cp takes out.
    expect((await docker(d, ['start', 'cpc'])).code).toBe(0);
    expect((await docker(d, ['exec', 'cpc', 'cat', '/tmp/file.txt'])).out).toBe('hello from the host\n');
    // New names are seen by the guest at once (a file the guest has read already may be
    // served from its cache: docs/limitations.md).
    fs.writeFileSync(path.join(host, 'file.txt'), 'second version, longer than the first\n');
    expect((await docker(d, ['cp', path.join(host, 'file.txt'), 'cpc:/tmp/new.txt'])).code).toBe(0);
    expect((await docker(d, ['exec', 'cpc', 'cat', '/tmp/new.txt'])).out).toBe(
      'second version, longer than the first\n',
    );
    expect((await docker(d, ['cp', path.join(host, 'dir'), 'cpc:/tmp/'])).code).toBe(0);
    expect((await docker(d, ['exec', 'cpc', 'cat', '/tmp/dir/sub/deep.txt'])).out).toBe('deep\n');
    expect((await docker(d, ['exec', 'cpc', 'sh', '-c', 'echo from guest > /tmp/guest.txt; rm /bin/ls'])).code).toBe(0);
    expect((await docker(d, ['cp', 'cpc:/tmp/guest.txt', path.join(tmp, 'guest.txt')])).code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, 'guest.txt'), 'utf8')).toBe('from guest\n');
    r = await docker(d, ['diff', 'cpc']);
    expect(r.out.split('\n')).toEqual(expect.arrayContaining(['D /bin/ls', 'A /tmp/guest.txt']));

    // Stopped: the writable layer is still there.
    expect((await docker(d, ['stop', '-t', '0', 'cpc'])).code).toBe(0);
    const out = await docker(d, ['cp', 'cpc:/tmp/guest.txt', path.join(tmp, 'guest2.txt')]);
    expect({ code: out.code, err: out.err }).toEqual({ code: 0, err: '' });
    expect(fs.readFileSync(path.join(tmp, 'guest2.txt'), 'utf8')).toBe('from guest\n');
    expect((await docker(d, ['rm', 'cpc'])).code).toBe(0);
  });

  test("a container's symlinks leading out never make cp touch the host", async () => {
    const victim = path.join(tmp, 'victim');
    fs.mkdirSync(victim);
    fs.writeFileSync(path.join(victim, 'secret'), 'host secret\n');
    const src = path.join(tmp, 'payload');
    fs.writeFileSync(src, 'payload\n');
    expect(
      (
        await docker(d, [
          'run',
          '-d',
          '--name',
          'evil',
          IMAGE,
          'sh',
          '-c',
          `mkdir -p ${victim} && ln -s ${victim} /out && ln -s ${victim}/secret /secretlink && sleep 600`,
        ])
      ).code,
    ).toBe(0);
    for (let i = 0; i < 50 && (await docker(d, ['exec', 'evil', 'test', '-L', '/secretlink'])).code !== 0; i++)
      await new Promise((res) => setTimeout(res, 200));
    // Into the container through its symlink: lands in the container's own copy of that path.
    expect((await docker(d, ['cp', src, 'evil:/out/'])).code).toBe(0);
    expect((await docker(d, ['exec', 'evil', 'cat', `${victim}/payload`])).out).toBe('payload\n');
    // Out of the container through -L: the container's file (missing there), not the host's.
    const r = await docker(d, ['cp', '-L', 'evil:/secretlink', path.join(tmp, 'stolen')]);
    expect(r.code).not.toBe(0);
    expect(fs.existsSync(path.join(tmp, 'stolen'))).toBe(false);
    expect(fs.readdirSync(victim)).toEqual(['secret']);
    expect(fs.readFileSync(path.join(victim, 'secret'), 'utf8')).toBe('host secret\n');
    expect((await docker(d, ['rm', '-f', 'evil'])).code).toBe(0);
  });

  function api(
    method: string,
    p: string,
    body?: Buffer,
  ): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: d.socketPath, method, path: `/v1.41${p}` }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  test("the archive API's wire shapes are dockerd's, and a hostile tar is refused", async () => {
    expect((await docker(d, ['create', '--name', 'wire', IMAGE, 'true'])).code).toBe(0);
    try {
      // Values as dockerd 20.10 answers them for the same busybox image.
      const head = await api('HEAD', '/containers/wire/archive?path=/bin/sh');
      expect(head.status).toBe(200);
      const stat = JSON.parse(Buffer.from(String(head.headers['x-docker-container-path-stat']), 'base64').toString());
      expect(stat).toEqual({
        name: 'sh',
        size: 12,
        mode: 134218239,
        mtime: expect.stringMatching(/^\d{4}-.*Z$/),
        linkTarget: '/bin/busybox',
      });
      expect(await api('GET', '/containers/wire/changes')).toMatchObject({
        status: 200,
        body: expect.stringMatching(/^(null|\[.*\])\n?$/),
      });
      expect(await api('HEAD', '/containers/wire/archive?path=/nope')).toMatchObject({ status: 404 });
      expect(await api('PUT', '/containers/wire/archive?path=/bin/sh', Buffer.alloc(1024))).toMatchObject({
        status: 500,
        body: expect.stringContaining('extraction point is not a directory'),
      });
      expect(await api('GET', '/containers/wire/archive')).toMatchObject({
        status: 400,
        body: expect.stringContaining('bad parameter: pathcannot be empty'),
      });
      // A `..` entry climbing out of the root: refused, nothing written on the host.
      const victim = path.join(tmp, 'wire-victim');
      const evil = await packTar([{ name: `../../../../../../../..${victim}`, content: 'pwned' }]);
      const put = await api('PUT', '/containers/wire/archive?path=/tmp', evil);
      expect(put.status).toBe(400);
      expect(fs.existsSync(victim)).toBe(false);
    } finally {
      await docker(d, ['rm', '-f', 'wire']);
    }
  });
});
