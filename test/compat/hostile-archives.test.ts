/**
 * Hostile input that a fuzzer found beside dockerd 20.10, through dockerode against the real
 * daemon (no VM boots: the containers are only created):
 *  - `POST /volumes/create` (and a create's `--mount volume-opt=`) with the local driver's
 *    options checked as dockerd checks them (its 400s and words), not a blanket 501;
 *  - `docker cp` (PUT /containers/{id}/archive) of tars with names too long for Linux, a tar cut
 *    short (in an entry's data, streamed as a slow client sends it), garbage, and a client that
 *    hangs up mid-upload: a clean 400 (dockerd: 500 "Error processing tar file(exit status
 *    1): ..."), the entries before the bad one kept as dockerd keeps them, no half-written
 *    file, no mount left, the container still removable;
 *  - `docker import` and `docker load` of the same: a 400 (dockerd: 500) or the load's
 *    errorDetail, nothing stored, and a daemon that still starts afterwards (a layer path that
 *    fits PATH_MAX alone but not below the daemon's own directory used to leave a directory
 *    no one could remove, and the next start failed on it).
 * The daemon keeps writable layers on the host (`--rootfs-disk=false`): the cp cases are the
 * host's extractor, which volumes, bind mounts and layers over 9p use. A block-mode
 * container's root (once it has started) is written by the guest's tar reader, whose answers
 * differ (docs/limitations.md); test/compat/rootfs-disk.test.ts checks those.
 */
import * as http from 'node:http';
import { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { mountsUnder } from '../helpers/leaks';
import { fixtureRegistry } from '../fixtures/registry';
import { packTar, type LayerEntry } from '../fixtures/image-builder';

jest.setTimeout(180_000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
let docker: Dockerode;

interface ApiError {
  statusCode?: number;
  json?: { message?: string };
  message: string;
}

/** The status and message dockerode saw for a failed call ([200, ''] when it succeeded). */
async function failure(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
    return [200, ''];
  } catch (e) {
    const err = e as ApiError;
    // dockerode words a status its call does not list as `(HTTP code 400) unexpected - <message>`.
    return [err.statusCode ?? 0, err.json?.message ?? err.message.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim()];
  }
}

/** The entries under /tmp of a container, as `docker export` shows them (name: size). */
async function tmpEntries(id: string): Promise<Record<string, number>> {
  const tar = await docker.getContainer(id).export();
  const { extract } = await import('tar-stream');
  const x = extract();
  (tar as NodeJS.ReadableStream).pipe(x as unknown as NodeJS.WritableStream);
  const out: Record<string, number> = {};
  for await (const e of x) {
    if (/^tmp\/./.test(e.header.name)) out[e.header.name] = e.header.size ?? 0;
    e.resume();
  }
  return out;
}

/** A stream of `parts`, each a while after the last, as a client on a slow link sends them. */
function slowly(parts: Buffer[]): Readable {
  return Readable.from(
    (async function* () {
      for (const p of parts) {
        yield p;
        await new Promise((r) => setTimeout(r, 100));
      }
    })(),
  );
}

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 0, args: ['--rootfs-disk=false'] });
  docker = new Dockerode({ socketPath: d.socketPath });
  await new Promise<void>((resolve, reject) => {
    docker.pull(IMAGE, (err: Error | null, s: NodeJS.ReadableStream) => {
      if (err) return reject(err);
      docker.modem.followProgress(s, (e: Error | null) => (e ? reject(e) : resolve()));
    });
  });
});
afterAll(async () => {
  if (!d) return;
  for (const c of await docker.listContainers({ all: true }).catch(() => []))
    await docker
      .getContainer(c.Id)
      .remove({ force: true })
      .catch(() => undefined);
  await stopDaemonLeavingNothing(d);
});

test('volume create: the local driver options dockerd refuses get its 400 and words, and create nothing', async () => {
  const cases: Array<[Record<string, string>, number, string]> = [
    [{ foo: 'bar' }, 400, 'create hv: invalid option: "foo"'],
    [{ type: 'tmpfs' }, 400, 'create hv: missing required option: "device"'],
    [{ device: 'tmpfs' }, 400, 'create hv: missing required option: "type"'],
    [{ o: 'size=1m' }, 400, 'create hv: missing required option: "device"'],
    [{ o: 'bind', device: '/srv' }, 400, 'create hv: missing required option: "type"'],
    [{ size: '1m' }, 400, 'create hv: quota size requested but no quota support'],
    // dockerd checks the options others need before the size.
    [{ size: 'abc', type: 'tmpfs' }, 400, 'create hv: missing required option: "device"'],
    // dockerd answers this one with a 500 and the same words.
    [{ size: 'abc' }, 400, "create hv: invalid size: 'abc'"],
    // Valid for dockerd, which mounts them at the volume's first use: a VM would not see that mount.
    [
      { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' },
      501,
      "podvisor's local volumes cannot mount a filesystem or device as the volume (driver options type and device)",
    ],
  ];
  for (const [opts, status, message] of cases) {
    expect([opts, ...(await failure(docker.createVolume({ Name: 'hv', DriverOpts: opts })))]).toEqual([
      opts,
      status,
      message,
    ]);
  }
  expect((await docker.listVolumes()).Volumes ?? []).toEqual([]);

  // What dockerd creates as a plain volume, podvisor too, its options shown as given.
  for (const [name, opts] of [
    ['hv0', {}],
    ['hv1', { size: '0' }],
    ['hv2', { type: '', device: '' }],
  ] as Array<[string, Record<string, string>]>) {
    await docker.createVolume({ Name: name, DriverOpts: opts });
    expect((await docker.getVolume(name).inspect()).Options).toEqual(opts);
  }
  for (const name of ['hv0', 'hv1', 'hv2']) await docker.getVolume(name).remove();

  // The same checks for a volume that `--mount type=volume,volume-opt=...` makes at create.
  const withOpts = (opts: Record<string, string>): Promise<Dockerode.Container> =>
    docker.createContainer({
      Image: IMAGE,
      Cmd: ['true'],
      HostConfig: {
        Mounts: [
          {
            Type: 'volume',
            Source: 'mv',
            Target: '/d',
            VolumeOptions: { NoCopy: false, Labels: {}, DriverConfig: { Name: 'local', Options: opts } },
          },
        ],
      },
    });
  expect(await failure(withOpts({ type: 'tmpfs' }))).toEqual([400, 'create mv: missing required option: "device"']);
  expect(await failure(withOpts({ type: 'tmpfs', device: 'tmpfs' }))).toEqual([
    501,
    "podvisor's local volumes cannot mount a filesystem or device as the volume (driver options type and device)",
  ]);
  expect([(await docker.listVolumes()).Volumes ?? [], await docker.listContainers({ all: true })]).toEqual([[], []]);
  const c = await withOpts({ size: '0' });
  expect((await docker.getVolume('mv').inspect()).Options).toEqual({ size: '0' });
  await c.remove();
  await docker.getVolume('mv').remove();
});

describe('docker cp of hostile tars', () => {
  const long = 'x'.repeat(30_000);
  const deep = Array.from({ length: 50 }, () => 'z'.repeat(99)).join('/');
  const cases: Array<[string, LayerEntry[], RegExp]> = [
    [
      'a 30,000-character name',
      [{ name: long, content: 'data' }],
      /^invalid path: open \/tmp\/x+\.\.\.: file name too long$/,
    ],
    [
      'a 256-byte component',
      [{ name: `d/${'y'.repeat(256)}`, content: 'data' }],
      /^invalid path: open \/tmp\/d\/y+: file name too long$/,
    ],
    ['a path past PATH_MAX', [{ name: `${deep}/f`, content: 'data' }], /file name too long$/],
    [
      'a symlink target past PATH_MAX',
      [{ name: 's', type: 'symlink', linkname: long }],
      /^invalid path: open \/tmp\/s: file name too long$/,
    ],
    ['a hardlink target too long', [{ name: 'h', type: 'link', linkname: long }], /file name too long$/],
  ];

  test.each(cases)('%s: 400, the entries before it kept', async (_what, entries, message) => {
    const c = await docker.createContainer({ Image: IMAGE, Cmd: ['true'] });
    const tar = await packTar([{ name: 'ok.txt', content: 'hi' }, ...entries]);
    const [status, msg] = await failure(c.putArchive(tar, { path: '/tmp' }));
    expect(status).toBe(400);
    expect(msg).toMatch(message);
    expect(await tmpEntries(c.id)).toEqual({ 'tmp/ok.txt': 2 });
    await c.remove();
  });

  test('a tar cut short in a file\'s data: 400 "unexpected EOF", the complete files kept, no half file', async () => {
    const c = await docker.createContainer({ Image: IMAGE, Cmd: ['true'] });
    const full = await packTar([
      { name: 't1.txt', content: 'a'.repeat(100) },
      { name: 't2.txt', content: Buffer.alloc(100_000, 0x62) },
      { name: 't3.txt', content: 'c' },
    ]);
    // Cut 50,000 bytes into t2's data (t1: header + 1 block; t2's header: 1 block), sent in pieces.
    const cut = full.subarray(0, 512 * 3 + 50_000);
    const [status, msg] = await failure(
      c.putArchive(slowly([cut.subarray(0, 20_000), cut.subarray(20_000, 40_000), cut.subarray(40_000)]), {
        path: '/tmp',
      }),
    );
    expect([status, msg]).toEqual([400, 'invalid tar archive: unexpected EOF']);
    expect(await tmpEntries(c.id)).toEqual({ 'tmp/t1.txt': 100 });

    const [s2, m2] = await failure(c.putArchive(Buffer.alloc(2048, 0x41), { path: '/tmp' }));
    expect([s2, m2]).toEqual([400, 'invalid tar archive: archive/tar: invalid tar header']);
    await c.remove();
  });

  test('a client that hangs up mid-upload leaves no mount and no half file behind', async () => {
    const c = await docker.createContainer({ Image: IMAGE, Cmd: ['true'] });
    const full = await packTar([
      { name: 'u1.txt', content: 'a'.repeat(100) },
      { name: 'u2.txt', content: Buffer.alloc(100_000, 0x62) },
    ]);
    const req = http.request({
      socketPath: d.socketPath,
      method: 'PUT',
      path: `/v1.41/containers/${c.id}/archive?path=/tmp`,
      headers: { 'Content-Type': 'application/x-tar', 'Content-Length': full.length },
    });
    req.on('error', () => undefined);
    req.write(full.subarray(0, 512 * 3 + 20_000));
    await new Promise((r) => setTimeout(r, 1000));
    req.destroy();
    // The created container's root was mounted for the request: it goes once the request ends.
    for (let i = 0; i < 50 && mountsUnder(d.dataRoot).length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(mountsUnder(d.dataRoot)).toEqual([]);
    expect(await tmpEntries(c.id)).toEqual({ 'tmp/u1.txt': 100 });
    await c.remove();
  });
});

describe('docker import and load of hostile tars', () => {
  /** Import `tar` (dockerode's importImage: POST /images/create?fromSrc=-). */
  const importTar = (tar: Buffer | Readable) =>
    docker.importImage(tar as unknown as string, { repo: 'hostile', tag: 'x' });

  test('import: a tar cut short, garbage and names too long are 400s and store nothing; the daemon restarts', async () => {
    const full = await packTar([
      { name: 'f1', content: 'a'.repeat(100) },
      { name: 'f2', content: Buffer.alloc(100_000, 0x62) },
    ]);
    // 2,040 levels of `a/`: 4,082 bytes, under PATH_MAX as a path of its own, but not below the
    // daemon's layer directory.
    const deepish = `${Array.from({ length: 2040 }, () => 'a').join('/')}/f`;
    const cases: Array<[Buffer | Readable, string | RegExp]> = [
      [
        slowly([full.subarray(0, 20_000), full.subarray(20_000, 512 * 3 + 50_000)]),
        'invalid tar archive: unexpected EOF',
      ],
      [Buffer.alloc(2048, 0x41), 'invalid tar archive: archive/tar: invalid tar header'],
      [
        await packTar([{ name: 'x'.repeat(30_000), content: 'd' }]),
        /^invalid layer: entry "x{300}\.\.\." has a path component longer than 255 bytes$/,
      ],
      [
        await packTar([{ name: deepish, content: 'd' }]),
        /^invalid layer: entry "a\/a\/.*\.\.\." is too long: file name too long$/,
      ],
    ];
    const before = (await docker.listImages()).length;
    for (const [tar, message] of cases) {
      const [status, msg] = await failure(importTar(tar));
      expect(status).toBe(400);
      expect(msg).toMatch(message);
    }
    expect((await docker.listImages()).length).toBe(before);
    await d.restart();
    expect((await docker.listImages()).length).toBe(before);
  });

  test('load: a layer cut short or with a name too long fails in the stream, as dockerd, and stores nothing', async () => {
    const cut = (
      await packTar([
        { name: 'f1', content: 'a'.repeat(100) },
        { name: 'f2', content: Buffer.alloc(100_000, 0x62) },
      ])
    ).subarray(0, 512 * 3 + 50_000);
    const archive = async (layer: Buffer) =>
      packTar([
        {
          name: 'c.json',
          content: JSON.stringify({
            architecture: 'amd64',
            os: 'linux',
            config: {},
            rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] },
          }),
        },
        { name: 'l1/layer.tar', content: layer },
        {
          name: 'manifest.json',
          content: JSON.stringify([{ Config: 'c.json', RepoTags: ['hostile:load'], Layers: ['l1/layer.tar'] }]),
        },
      ]);
    const before = (await docker.listImages()).length;
    for (const [layer, message] of [
      [cut, 'invalid tar archive: unexpected EOF'],
      [await packTar([{ name: `d/${'y'.repeat(300)}`, content: 'd' }]), 'has a path component longer than 255 bytes'],
    ] as Array<[Buffer, string]>) {
      const res = await docker.loadImage(Readable.from([await archive(layer)]), { quiet: true });
      const chunks: Buffer[] = [];
      for await (const ch of res) chunks.push(ch as Buffer);
      const lines = Buffer.concat(chunks)
        .toString()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { errorDetail?: { message: string } });
      expect(lines.at(-1)?.errorDetail?.message).toContain(message);
    }
    expect((await docker.listImages()).length).toBe(before);
  });
});
