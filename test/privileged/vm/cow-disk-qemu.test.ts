/**
 * A copy-on-write disk (src/util/disk-chain.ts) through the QMP steps a VM's upper disk takes
 * (src/vm/devices/upper-disk/upper-disk.ts attachCommands, detachCommands), in the QEMUs this
 * project runs (the unpacked QEMU 10 of clones, Debian 12's 7.2 when it is missing), with no
 * guest: QEMU's own `qemu-io` reads and writes the disk's node. The overlay the host writes
 * opens, reads what the file under it holds, takes the writes, leaves that file as it was,
 * and never opens a backing file its header names.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { attachCommands, detachCommands } from '../../../src/vm/devices/upper-disk/upper-disk';
import { backingOf, makeOverlay } from '../../../src/util/disk-chain';
import { emptyQcow2 } from '../../../src/util/qcow2-overlay';
import { unpackedQemu } from '../../../src/vm/qemu/binaries';

const BYTES = 16 * 1024 ** 3;
const MiB = 1024 * 1024;

const qemus = [
  ...(unpackedQemu() ? [{ name: 'the unpacked QEMU', program: unpackedQemu()! }] : []),
  ...(fs.existsSync('/usr/bin/qemu-system-x86_64')
    ? [{ name: "Debian's QEMU", program: { bin: '/usr/bin/qemu-system-x86_64', args: [] as string[] } }]
    : []),
];

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
  program: (typeof qemus)[number]['program'],
  commands: Array<[string, Record<string, unknown>?]>,
): { answers: string[]; printed: string } {
  const input = [['qmp_capabilities'], ...commands, ['quit']]
    .map(([execute, args]) => JSON.stringify({ execute, ...(args ? { arguments: args } : {}) }))
    .join('\n');
  const r = spawnSync(
    program.bin,
    [
      ...program.args,
      ...['-machine', 'none', '-nodefaults', '-display', 'none', '-qmp', 'stdio'],
      ...['-blockdev', `driver=null-co,node-name=updisk-none,size=${BYTES},read-zeroes=on`],
      ...['-blockdev', 'driver=raw,node-name=updisk,file=updisk-none'],
    ],
    { input: `${input}\n`, encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...program.env } },
  );
  if (r.status !== 0) throw new Error(`${program.bin}: ${r.stderr || r.error?.message}`);
  const lines = r.stdout.split('\n').map((l) => l.trim());
  const answers = lines.filter((l) => l.startsWith('{"return"') || l.startsWith('{"error"'));
  return {
    answers: answers.slice(1, 1 + commands.length),
    printed: lines.filter((l) => !l.startsWith('{')).join('\n'),
  };
}

const io = (command: string): [string, Record<string, unknown>] => [
  'human-monitor-command',
  { 'command-line': `qemu-io updisk "${command}"` },
];

describe.each(qemus)('a copy-on-write disk in $name', ({ program }) => {
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

test('a QEMU is there to try', () => {
  expect(qemus.length).toBeGreaterThan(0);
});
