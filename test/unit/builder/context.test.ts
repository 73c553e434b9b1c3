/**
 * The build context as the docker CLI sends it: with `-f` naming a Dockerfile outside the
 * context, the CLI appends the Dockerfile and a `.dockerignore` that names it, and its tar
 * stops right after the last file's bytes (no padding, no end blocks); dockerd reads it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { openContext } from '../../../src/builder/context';

let dir: string;
beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-context-'))));
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

async function tarOf(files: Array<[string, string]>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, text] of files) pack.entry({ name, mode: 0o644 }, text);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('a context tar that ends right after its last file is read whole; the Dockerfile .dockerignore names is read, then leaves the context', async () => {
  const ignore = '\n.dockerfile.0123456789abcdef0123';
  const whole = await tarOf([
    ['data.txt', 'data\n'],
    ['.dockerfile.0123456789abcdef0123', 'FROM x\nCOPY data.txt /\n'],
    ['.dockerignore', ignore],
  ]);
  // Cut at the end of the last file's bytes: three headers, two padded files, then 33 bytes.
  const cut = whole.subarray(0, 512 + 512 + 512 + 512 + 512 + ignore.length);
  const ctx = await openContext(Readable.from([cut]), dir, '.dockerfile.0123456789abcdef0123');
  try {
    expect(ctx.dockerfile).toBe('FROM x\nCOPY data.txt /\n');
    expect(fs.readFileSync(path.join(ctx.dir, 'data.txt'), 'utf8')).toBe('data\n');
    expect(fs.readFileSync(path.join(ctx.dir, '.dockerignore'), 'utf8')).toBe(ignore);
    expect(fs.existsSync(path.join(ctx.dir, '.dockerfile.0123456789abcdef0123'))).toBe(false);
  } finally {
    await ctx.dispose();
  }
  // A whole tar reads the same.
  const again = await openContext(Readable.from([whole]), dir, '.dockerfile.0123456789abcdef0123');
  expect(again.dockerfile).toBe('FROM x\nCOPY data.txt /\n');
  await again.dispose();
});

test('docker-py sends the Dockerfile and .dockerignore even when .dockerignore names them: both leave the context once read', async () => {
  const ignore = 'ignored\nDockerfile\n.dockerignore\n!ignored/keep\n';
  const body = await tarOf([
    ['Dockerfile', 'FROM x\nADD . /test\n'],
    ['.dockerignore', ignore],
    ['not-ignored', 'a'],
    ['#file.txt', 'b'],
    ['ignored/keep', 'c'],
  ]);
  const ctx = await openContext(Readable.from([body]), dir, '');
  try {
    expect(ctx.dockerfile).toBe('FROM x\nADD . /test\n');
    const left = fs.readdirSync(ctx.dir, { recursive: true }).map(String).sort();
    expect(left).toEqual(['#file.txt', 'ignored', 'ignored/keep', 'not-ignored']);
  } finally {
    await ctx.dispose();
  }
});
