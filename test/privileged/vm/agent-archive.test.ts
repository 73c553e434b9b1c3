/**
 * The agent's ARCHIVE request in host test mode (real agent, real namespaces, no VM): stat,
 * tar out, tar in and export of a container's root, read back with tar-stream and the host's
 * own tar. LAYER needs an upper disk, which only a VM has (test/compat/rootfs-disk.test.ts).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { AgentClient } from '../../../src/vm/agent/client';
import type { ArchiveRequest } from '../../../src/vm/types';
import { buildAgent, collect, makeBusyboxRootfs } from '../../helpers/agent-fixtures';

jest.setTimeout(60_000);

let tmp: string;
let share: string;
let proc: ChildProcess;
let client: AgentClient;
let seq = 0;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-agent-archive-'));
  const bin = buildAgent(path.join(tmp, 'bin'));
  share = path.join(tmp, 'share');
  makeBusyboxRootfs(path.join(share, 'containers/c1/rootfs'));
  const ctl = path.join(tmp, 'a.ctl');
  const io = path.join(tmp, 'a.io');
  proc = spawn(bin, ['--ctl', ctl, '--io', io, '--share', share], { stdio: ['ignore', 'ignore', 'inherit'] });
  client = await AgentClient.connect({ ctlPath: ctl, ioPath: io, timeoutMs: 5000 });
  await client.createContainer({ id: 'c1', rootfs: 'containers/c1/rootfs' });
});

afterAll(async () => {
  await client?.shutdown().catch(() => undefined);
  client?.close();
  if (proc && proc.exitCode === null) await new Promise((r) => proc.once('exit', r));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const root = () => path.join(share, 'containers/c1/rootfs');

type Req = ArchiveRequest extends infer R ? (R extends unknown ? Omit<R, 'containerId' | 'processId'> : never) : never;

async function archive(req: Req, input?: Buffer): Promise<{ out: Buffer; err: string; code: number }> {
  const p = await client.archive({ ...req, containerId: 'c1', processId: `ar${++seq}` } as ArchiveRequest);
  if (input) p.stdin!.end(input);
  const [out, err, st] = await Promise.all([collect(p.stdout), collect(p.stderr), p.exited]);
  return { out, err: err.toString(), code: st.exitCode };
}

async function entries(t: Buffer): Promise<Array<{ name: string; type: string; size: number; linkname?: string }>> {
  const x = tar.extract();
  const out: Array<{ name: string; type: string; size: number; linkname?: string }> = [];
  x.on('entry', (h, s, next) => {
    out.push({
      name: h.name,
      type: h.type as string,
      size: h.size ?? 0,
      ...(h.linkname ? { linkname: h.linkname } : {}),
    });
    s.on('end', next);
    s.resume();
  });
  await new Promise((resolve, reject) => {
    x.on('finish', () => resolve(undefined));
    x.on('error', reject);
    Readable.from([t]).pipe(x);
  });
  return out;
}

describe('ARCHIVE in host test mode', () => {
  it('stats a path, following the last symlink only when asked', async () => {
    fs.symlinkSync('/etc', path.join(root(), 'etclink'));
    const l = await archive({ kind: 'stat', path: '/etclink', follow: false });
    expect(l.code).toBe(0);
    const [head, target] = l.out.toString().split('\n');
    expect(Number(head.split(' ')[0]) & 0o170000).toBe(0o120000);
    expect(target).toBe('/etc');
    const d = await archive({ kind: 'stat', path: '/etclink/', follow: true });
    expect(Number(d.out.toString().split(' ')[0]) & 0o170000).toBe(0o040000);
    const missing = await archive({ kind: 'stat', path: '/nope', follow: false });
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/No such file/);
  });

  it('tars a directory with long names and a large file, which the host tar reads back', async () => {
    const dir = path.join(root(), 'data');
    fs.mkdirSync(dir);
    const long = 'n'.repeat(150);
    fs.writeFileSync(path.join(dir, long), 'long\n');
    const big = Buffer.alloc(5 * 1024 * 1024 + 7, 'x');
    fs.writeFileSync(path.join(dir, 'big'), big);
    fs.linkSync(path.join(dir, 'big'), path.join(dir, 'big2'));
    const r = await archive({ kind: 'get', path: '/data', follow: false, name: 'data' });
    expect(r.code).toBe(0);
    const list = await entries(r.out);
    expect(list.map((e) => e.name)).toEqual(['data/', 'data/big', 'data/big2', `data/${long}`]);
    expect(list[1].size).toBe(big.length);
    expect(list[2]).toMatchObject({ type: 'link', linkname: 'data/big' });
    const out = path.join(tmp, 'x');
    fs.mkdirSync(out);
    execFileSync('tar', ['-x', '-C', out], { input: r.out });
    expect(fs.readFileSync(path.join(out, 'data', long), 'utf8')).toBe('long\n');
    expect(fs.statSync(path.join(out, 'data/big')).size).toBe(big.length);
  });

  it('extracts a tar into the container, keeping a symlinked path inside the container root', async () => {
    fs.symlinkSync('/etc', path.join(root(), 'escape'));
    const src = path.join(tmp, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'sub', 'f'), 'in\n');
    const t = execFileSync('tar', ['-c', '-C', src, 'sub']);
    const r = await archive({ kind: 'put', path: '/escape', noOverwriteDirNonDir: true }, t);
    expect(r).toMatchObject({ code: 0 });
    expect(fs.readFileSync(path.join(root(), 'etc/sub/f'), 'utf8')).toBe('in\n');
    expect(fs.existsSync('/etc/sub/f')).toBe(false);
  });

  it('refuses names that climb out and a directory replaced by a file with noOverwriteDirNonDir', async () => {
    const p = tar.pack();
    p.entry({ name: '../../evil', size: 1 }, 'x');
    p.finalize();
    const bad = await archive(
      { kind: 'put', path: '/tmp', noOverwriteDirNonDir: false },
      await collect(Readable.from(p)),
    );
    expect(bad.code).toBe(4);
    expect(bad.err).toMatch(/outside of the destination/);
    const q = tar.pack();
    q.entry({ name: 'etc', size: 1 }, 'x');
    q.finalize();
    const dir = await archive({ kind: 'put', path: '/', noOverwriteDirNonDir: true }, await collect(Readable.from(q)));
    expect(dir.code).toBe(4);
    expect(dir.err).toMatch(/cannot overwrite directory "\/etc" with non-directory "etc"/);
    expect(fs.statSync(path.join(root(), 'etc')).isDirectory()).toBe(true);
  });

  it('owns extracted entries by the given uid and gid', async () => {
    const p = tar.pack();
    p.entry({ name: 'owned', size: 2, uid: 5, gid: 6 }, 'hi');
    p.finalize();
    const r = await archive(
      { kind: 'put', path: '/tmp', noOverwriteDirNonDir: false, owner: { uid: 7, gid: 8 } },
      await collect(Readable.from(p)),
    );
    expect(r.code).toBe(0);
    const st = fs.statSync(path.join(root(), 'tmp/owned'));
    expect([st.uid, st.gid]).toEqual([7, 8]);
  });

  it('exports the root without what is mounted below it', async () => {
    const r = await archive({ kind: 'export' });
    expect(r.code).toBe(0);
    const names = (await entries(r.out)).map((e) => e.name);
    expect(names).toContain('bin/busybox');
    expect(names).toContain('etc/passwd');
    // /sys and /dev are mounts in the container's namespace (sysfs, a tmpfs): only their
    // mount points are part of the root.
    expect(names).toContain('sys/');
    expect(names).toContain('dev/');
    expect(names.filter((n) => /^(sys|dev)\/./.test(n))).toEqual([]);
  });
});
