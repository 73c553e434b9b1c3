/**
 * A copy-on-write disk (src/util/disk-chain.ts) through the QMP steps a VM's upper disk takes
 * (src/vm/devices/upper-disk/upper-disk.ts attachCommands, detachCommands), in the QEMUs this
 * project runs (the unpacked QEMU 10 of clones, Debian 12's 7.2 when it is missing), with no
 * guest: QEMU's own `qemu-io` reads and writes the disk's node. The overlay the host writes
 * opens, reads what the file under it holds, takes the writes, leaves that file as it was,
 * and never opens a backing file its header names. A chain of overlays is flattened by the
 * QEMU that holds it (upper-disk-qmp.ts flattenUpperDisk) into its top one, which then reads
 * the same over the raw file at the bottom alone, the files merged left as they were.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { attachCommands, detachCommands } from '../../../src/vm/devices/upper-disk/upper-disk';
import { flattenUpperDisk } from '../../../src/vm/devices/upper-disk/upper-disk-qmp';
import { backingOf, dropMergedFiles, makeOverlay } from '../../../src/util/disk-chain';
import { connectWhenListening } from '../../../src/vm/qemu/qmp';
import { emptyQcow2 } from '../../../src/util/qcow2-overlay';
import { unpackedQemu } from '../../../src/vm/qemu/binaries';
import { describeIf } from '../../helpers/skip';

const BYTES = 16 * 1024 ** 3;
const MiB = 1024 * 1024;

/** The QEMUs this project runs, each with what is missing when it is not on this host. */
const unpacked = unpackedQemu();
const qemus = [
  {
    name: 'the unpacked QEMU',
    program: unpacked,
    missing: 'the unpacked QEMU (guest/out/qemu, scripts/qemu-9p.sh) is not there',
  },
  {
    name: "Debian's QEMU",
    program: fs.existsSync('/usr/bin/qemu-system-x86_64')
      ? { bin: '/usr/bin/qemu-system-x86_64', args: [] as string[] }
      : undefined,
    missing: "Debian's QEMU (/usr/bin/qemu-system-x86_64) is not installed",
  },
];
type Program = NonNullable<(typeof qemus)[number]['program']>;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cow-disk-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A raw disk of BYTES whose MiB at `at` is `byte` (the rest holes). */
function rawDisk(name: string, at: number, byte: number): string {
  const f = path.join(dir, name);
  const fd = fs.openSync(f, 'w');
  fs.ftruncateSync(fd, BYTES);
  fs.writeSync(fd, Buffer.alloc(MiB, byte), 0, MiB, at);
  fs.closeSync(fd);
  return f;
}

/**
 * The answers of `program` (a QEMU with the upper disk's placeholder and raw node, no machine)
 * to QMP `commands`, one per command, in order, and what `qemu-io` printed meanwhile.
 */
function qmp(
  program: Program,
  commands: Array<[string, Record<string, unknown>?]>,
): { answers: string[]; printed: string } {
  const input = [['qmp_capabilities'], ...commands, ['quit']]
    .map(([execute, args]) => JSON.stringify({ execute, ...(args ? { arguments: args } : {}) }))
    .join('\n');
  const r = spawnSync(program.bin, [...program.args, ...upperDiskArgs, '-qmp', 'stdio'], {
    input: `${input}\n`,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, ...program.env },
  });
  if (r.status !== 0) throw new Error(`${program.bin}: ${r.stderr || r.error?.message}`);
  const lines = r.stdout.split('\n').map((l) => l.trim());
  const answers = lines.filter((l) => l.startsWith('{"return"') || l.startsWith('{"error"'));
  return {
    answers: answers.slice(1, 1 + commands.length),
    printed: lines.filter((l) => !l.startsWith('{')).join('\n'),
  };
}

/** The upper disk's QEMU arguments of a `qmp` run, no machine. */
const upperDiskArgs = [
  ...['-machine', 'none', '-nodefaults', '-display', 'none'],
  ...['-blockdev', `driver=null-co,node-name=updisk-none,size=${BYTES},read-zeroes=on`],
  ...['-blockdev', 'driver=raw,node-name=updisk,file=updisk-none'],
];

const io = (command: string): [string, Record<string, unknown>] => [
  'human-monitor-command',
  { 'command-line': `qemu-io updisk "${command}"` },
];

for (const q of qemus) {
  describeIf(q.program !== undefined, q.missing, `a copy-on-write disk in ${q.name}`, () => {
    const program = q.program!;
    it('reads the file under it, takes the writes itself, and comes off the disk whole', async () => {
      const base = rawDisk('base.ext4', MiB, 0xaa);
      const disk = path.join(dir, 'upper.ext4');
      await makeOverlay(base, disk);
      const { answers, printed } = qmp(program, [
        ...attachCommands(disk, backingOf(disk)),
        io('read -P 0xaa 1M 1M'),
        io('write -P 0xbb 1M 4k'),
        io('read -P 0xbb 1M 4k'),
        io('read -P 0xaa 1052672 1044480'),
        io('read -P 0 3M 1M'),
        ...detachCommands(),
      ]);
      expect(answers.slice(0, 7)).toEqual([...Array(2).fill('{"return": {}}'), ...Array(5).fill('{"return": ""}')]);
      expect(printed).not.toMatch(/Pattern verification failed|error|fail/i);
      expect(printed.match(/^(read|wrote) .*/gm)).toEqual([
        'read 1048576/1048576 bytes at offset 1048576',
        'wrote 4096/4096 bytes at offset 1048576',
        'read 4096/4096 bytes at offset 1048576',
        'read 1044480/1044480 bytes at offset 1052672',
        'read 1048576/1048576 bytes at offset 3145728',
      ]);
      // The reopen back to the placeholder, then the copy-on-write node removed (no raw file's node there).
      expect(answers[7]).toBe('{"return": {}}');
      expect(answers[8]).toMatch(/Failed to find node with node-name='updisk-file'/);
      expect(answers[9]).toBe('{"return": {}}');
      // The write is the overlay's: the base is as it was, and the overlay grew by a cluster or so.
      const fd = fs.openSync(base, 'r');
      const head = Buffer.alloc(4096);
      fs.readSync(fd, head, 0, 4096, MiB);
      fs.closeSync(fd);
      expect(head.every((b) => b === 0xaa)).toBe(true);
      expect(fs.statSync(disk).size).toBeGreaterThan(256 * 1024);
      expect(fs.statSync(disk).size).toBeLessThanOrEqual(1024 * 1024);
    });

    it('flattens a chain into its overlay: it reads the same over the raw file alone, and the files merged are as they were', async () => {
      // The raw file, then three generations of overlays, each written where the others are not
      // (and the last one over what the one under it wrote).
      const base = rawDisk('base.ext4', MiB, 0xaa);
      let under = base;
      const writes = [
        ['o1', 'write -P 0x11 4M 1M'],
        ['o2', 'write -P 0x22 8M 64k'],
        ['o3', 'write -P 0x33 4M 4k'],
      ];
      for (const [name, write] of writes) {
        const disk = path.join(dir, name);
        await makeOverlay(under, disk);
        const { printed } = qmp(program, [...attachCommands(disk, backingOf(disk)), io(write), ...detachCommands()]);
        expect(printed).toMatch(/^wrote /m);
        under = disk;
      }
      const top = path.join(dir, 'top');
      await makeOverlay(under, top);
      expect(backingOf(top)).toHaveLength(4);
      const before = ['o1', 'o2', 'o3'].map((n) => fs.readFileSync(path.join(dir, n)));
      const reads = [
        io('read -P 0xaa 1M 1M'),
        io('read -P 0x33 4M 4k'),
        io('read -P 0x11 4198400 1044480'),
        io('read -P 0x22 8M 64k'),
        io('read -P 0 12M 1M'),
      ];

      // The QEMU that holds the chain merges it (the steps a save takes: src/vm/qemu/snapshots/checkpoint.ts).
      const sock = path.join(dir, 'qmp.sock');
      const qemu = spawn(program.bin, [...program.args, ...upperDiskArgs, '-qmp', `unix:${sock},server=on,wait=off`], {
        env: { ...process.env, ...program.env },
        stdio: 'ignore',
      });
      try {
        const q = await connectWhenListening(sock).catch(async () => {
          await new Promise((r) => setTimeout(r, 1000));
          return connectWhenListening(sock);
        });
        try {
          for (const [command, args] of attachCommands(top, backingOf(top))) await q.execute(command, args);
          await flattenUpperDisk(q, 30_000);
          // Nothing to merge any more: a job that ends at once.
          await flattenUpperDisk(q, 30_000);
          const files = ((await q.execute('query-named-block-nodes')) as Array<{ file: string }>).map((n) => n.file);
          // QEMU holds the bottom one alone now.
          const chain = backingOf(top);
          expect(files).toContain(chain[3]);
          for (const merged of chain.slice(0, 3)) expect(files).not.toContain(merged);
          for (const [command, args] of detachCommands()) await q.execute(command, args).catch(() => undefined);
        } finally {
          q.close();
        }
      } finally {
        qemu.kill('SIGKILL');
        await new Promise((r) => qemu.once('exit', r));
      }
      // The host drops the merged links: the overlay over the raw file alone reads as before.
      expect(await dropMergedFiles(top)).toBe(3);
      expect(backingOf(top)).toHaveLength(1);
      const { answers, printed } = qmp(program, [...attachCommands(top, backingOf(top)), ...reads]);
      expect(answers).toEqual([...Array(2).fill('{"return": {}}'), ...Array(reads.length).fill('{"return": ""}')]);
      expect(printed).not.toMatch(/Pattern verification failed|error|fail/i);
      expect(printed.match(/^read .*/gm)).toHaveLength(reads.length);
      // What it merged is in its own file now; the merged files are as they were.
      expect(fs.statSync(top).size).toBeGreaterThan(MiB + 256 * 1024);
      for (const [i, n] of ['o1', 'o2', 'o3'].entries())
        expect(fs.readFileSync(path.join(dir, n)).equals(before[i])).toBe(true);
    });

    it('never opens a backing file its header names: the one given is read', async () => {
      const base = rawDisk('base.ext4', MiB, 0xaa);
      const named = rawDisk('named.raw', MiB, 0xee);
      const disk = path.join(dir, 'upper.ext4');
      await makeOverlay(base, disk);
      // The header rewritten as a QEMU a guest took over could: a backing file named at byte 512.
      const img = emptyQcow2(BYTES);
      img.write(named, 512, 'latin1');
      img.writeBigUInt64BE(512n, 8);
      img.writeUInt32BE(Buffer.byteLength(named), 16);
      fs.writeFileSync(disk, img);
      const { answers, printed } = qmp(program, [...attachCommands(disk, backingOf(disk)), io('read -P 0xaa 1M 1M')]);
      expect(answers).toEqual(['{"return": {}}', '{"return": {}}', '{"return": ""}']);
      expect(printed).not.toMatch(/Pattern verification failed/);
      expect(printed).toMatch(/^read 1048576\/1048576 bytes at offset 1048576/m);
    });
  });
}

test('a QEMU is there to try', () => {
  expect(qemus.filter((q) => q.program)).not.toEqual([]);
});
