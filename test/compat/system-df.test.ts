/**
 * `docker system df` (GET /system/df) with the stock docker CLI against the real daemon (one
 * real VM): an image and one committed from a container of it share the base layer, and each
 * counts it in SharedSize while LayersSize counts it once; the container shows its writable
 * layer's size; a volume carries UsageData (its bytes, a hard link counted once, and the
 * containers that mount it); there is no BuildKit cache. The fields are dockerd 20.10's.
 */
import * as http from 'node:http';
import { spawnSync } from 'node:child_process';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox:latest`;

let d: TestDaemon;

function ok(args: string[]): string {
  const r = spawnSync('docker', args, { env: d.env, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
  return (r.stdout ?? '').trim();
}

function getJson(p: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    http
      // A connection of its own: the test's spawnSync calls block this process's event loop, so
      // a kept-alive one from startDaemon's ping may have been closed by the daemon unseen (EPIPE).
      .get({ socketPath: d.socketPath, path: p, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  d = await startDaemon();
  ok(['pull', '-q', IMAGE]);
});

afterAll(async () => {
  const left = spawnSync('docker', ['ps', '-aq'], { env: d.env, encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  if (left.length) spawnSync('docker', ['rm', '-fv', ...left], { env: d.env });
  await stopDaemonLeavingNothing(d);
});

test('system df: shared layers, container sizes, volume usage, and no build cache', async () => {
  ok(['volume', 'create', 'dfvol']);
  ok(['volume', 'create', 'unused']);
  // 100,000 bytes in the volume under two names (one file, two hard links), 5,000 in the
  // container's own layer.
  const links = ok([
    'run',
    '--name',
    'dfc',
    '-v',
    'dfvol:/d',
    IMAGE,
    'sh',
    '-c',
    'head -c 5000 /dev/zero > /f; head -c 100000 /dev/zero > /d/f; ln /d/f /d/g; stat -c %h /d/g',
  ]);
  expect(links).toBe('2');
  expect(ok(['diff', 'dfc']).split('\n')).toContain('A /f');
  const committed = ok(['commit', 'dfc', 'dfimg:1']);
  expect(ok(['history', '--format', '{{.Size}}', committed]).split('\n')[0]).toBe('5kB');
  const baseId = ok(['image', 'inspect', '-f', '{{.Id}}', IMAGE]);
  const baseSize = Number(ok(['image', 'inspect', '-f', '{{.Size}}', IMAGE]));
  const fullSize = Number(ok(['image', 'inspect', '-f', '{{.Size}}', committed]));
  expect(fullSize).toBe(baseSize + 5000);

  const df = await getJson('/v1.41/system/df');
  expect(Object.keys(df).sort()).toEqual([
    'BuildCache',
    'BuilderSize',
    'Containers',
    'Images',
    'LayersSize',
    'Volumes',
  ]);
  expect(df.BuildCache).toBeNull();
  expect(df.BuilderSize).toBe(0);
  expect(df.LayersSize).toBe(fullSize);

  const images = df.Images as Array<Record<string, unknown>>;
  const base = images.find((i) => i.Id === baseId)!;
  const mine = images.find((i) => i.Id === committed)!;
  expect(Object.keys(mine).sort()).toEqual([
    'Containers',
    'Created',
    'Id',
    'Labels',
    'ParentId',
    'RepoDigests',
    'RepoTags',
    'SharedSize',
    'Size',
    'VirtualSize',
  ]);
  expect([base.Containers, base.SharedSize, base.Size, base.VirtualSize]).toEqual([1, baseSize, baseSize, baseSize]);
  expect([mine.Containers, mine.SharedSize, mine.Size, mine.VirtualSize, mine.RepoTags]).toEqual([
    0,
    baseSize,
    fullSize,
    fullSize,
    ['dfimg:1'],
  ]);

  const [c] = df.Containers as Array<Record<string, unknown>>;
  expect(Object.keys(c).sort()).toEqual([
    'Command',
    'Created',
    'HostConfig',
    'Id',
    'Image',
    'ImageID',
    'Labels',
    'Mounts',
    'Names',
    'NetworkSettings',
    'Ports',
    'SizeRootFs',
    'SizeRw',
    'State',
    'Status',
  ]);
  expect(c.Names).toEqual(['/dfc']);
  expect(c.SizeRw).toBeGreaterThanOrEqual(5000);
  expect(c.SizeRootFs).toBe((c.SizeRw as number) + baseSize);

  const volumes = new Map((df.Volumes as Array<Record<string, unknown>>).map((v) => [v.Name, v]));
  const inspected = JSON.parse(ok(['volume', 'inspect', 'dfvol']))[0] as Record<string, unknown>;
  expect(volumes.get('dfvol')).toEqual({ ...inspected, UsageData: { RefCount: 1, Size: 100000 } });
  expect(volumes.get('unused')).toMatchObject({ Name: 'unused', UsageData: { RefCount: 0, Size: 0 } });

  // What the CLI prints from it.
  const rows = ok([
    'system',
    'df',
    '--format',
    '{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Size}}|{{.Reclaimable}}',
  ]).split('\n');
  expect(rows).toContain('Local Volumes|2|1|100kB|0B (0%)');
  expect(rows).toContain('Build Cache|0|0|0B|0B');
  expect(
    ok(['system', 'df', '-v', '--format', '{{range .Volumes}}{{.Name}} {{.Links}} {{.Size}}\n{{end}}']).split('\n'),
  ).toEqual(expect.arrayContaining(['dfvol 1 100kB', 'unused 0 0B']));

  ok(['rm', 'dfc']);
  ok(['volume', 'rm', 'dfvol', 'unused']);
  ok(['rmi', 'dfimg:1']);
});
