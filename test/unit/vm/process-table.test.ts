/**
 * PROCESS_TABLE through the host's AgentClient against a scripted guest: the records decoded,
 * an agent built before the request never sent it, and a hostile answer (too many records,
 * oversized arguments, impossible numbers) failing cleanly as a protocol error.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NotImplementedError, UnavailableError } from '../../../src/errors';
import { AgentClient } from '../../../src/vm/agent/client';
import { Limits, Op, Tag } from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';
import { setLogSink } from '../../../src/util/log';
import { FakeAgent } from '../../helpers/fake-agent';

let dir: string;
let fake: FakeAgent;
let client: AgentClient | undefined;

beforeAll(() => setLogSink(() => undefined));

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-proctable-'));
  fake = new FakeAgent(path.join(dir, 'ctl'), path.join(dir, 'io'));
  await fake.listen();
});

afterEach(async () => {
  client?.close();
  client = undefined;
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const connect = async () =>
  (client = await AgentClient.connect({ ctlPath: fake.ctlPath, ioPath: fake.ioPath, timeoutMs: 2000 }));

interface Rec {
  pid?: number;
  nice?: number;
  comm?: Buffer;
  cmdline?: Buffer;
}

function record(r: Rec): TlvWriter {
  return new TlvWriter()
    .u32(Tag.PID, r.pid ?? 7)
    .u32(Tag.PPID, 1)
    .u32(Tag.PGID, 7)
    .u32(Tag.SID, 7)
    .u32(Tag.TPGID, 0)
    .u32(Tag.UID, 33)
    .u32(Tag.GID, 33)
    .str(Tag.STATE, 'S')
    .u64(Tag.START_TICKS, 250)
    .u64(Tag.UTIME, 3)
    .u64(Tag.STIME, 4)
    .u64(Tag.VSZ, 1000)
    .u64(Tag.RSS, 200)
    .u32(Tag.TTY, 0)
    .u32(Tag.THREADS, 1)
    .u32(Tag.NICE, r.nice ?? 20)
    .bytes(Tag.COMM, r.comm ?? Buffer.from('sleep'))
    .bytes(Tag.CMDLINE, r.cmdline ?? Buffer.from('sleep\x00100\x00'));
}

/** The guest answers PROCESS_TABLE with these records; returns the container ids asked for. */
function answer(records: Rec[]): string[] {
  const asked: string[] = [];
  fake.onCtl = (f, a) => {
    if (f.type === Op.PING) return a.ack(f.id);
    if (f.type !== Op.PROCESS_TABLE) return;
    asked.push(TlvReader.parse(f.payload).needStr(Tag.CONTAINER_ID));
    const w = new TlvWriter().u32(Tag.CLOCK_TICKS, 100).u64(Tag.UPTIME, 5000).u64(Tag.MEM_TOTAL, 4096);
    for (const r of records) w.nested(Tag.TASK, record(r));
    a.ack(f.id, w);
  };
  return asked;
}

test('decodes the records: arguments split at NUL, a name that is not UTF-8 kept leniently', async () => {
  const asked = answer([
    { pid: 7 },
    { pid: 9, comm: Buffer.from([0x66, 0xff]), cmdline: Buffer.from('sh\x00-c\x00a b\x00') },
  ]);
  const c = await connect();
  const t = await c.processTable('c1');
  expect(asked).toEqual(['c1']);
  expect(t).toMatchObject({ clockTicks: 100, uptimeMs: 5000, memTotalKiB: 4096, truncated: false });
  expect(t.tasks.map((x) => [x.pid, x.comm, x.args, x.nice, x.uid])).toEqual([
    [7, 'sleep', ['sleep', '100'], 0, 33],
    [9, 'f\ufffd', ['sh', '-c', 'a b'], 0, 33],
  ]);
});

test('an agent built before PROCESS_TABLE (no LAST_OP) is never sent it', async () => {
  fake.lastOp = undefined;
  const asked = answer([{}]);
  const c = await connect();
  await expect(c.processTable('c1')).rejects.toBeInstanceOf(NotImplementedError);
  await c.ping();
  expect(asked).toEqual([]);
});

test.each([
  [
    'more records than the limit',
    Array.from({ length: Limits.MAX_TOP_PROCESSES + 1 }, (_, i) => ({ pid: i + 1, cmdline: Buffer.alloc(0) })),
  ],
  ['arguments over the limit', [{ cmdline: Buffer.alloc(Limits.MAX_CMDLINE + 1, 0x61) }]],
  ['pid 0', [{ pid: 0 }]],
  ['pids out of order', [{ pid: 9 }, { pid: 7 }]],
  ['a nice value out of range', [{ nice: 40 }]],
  ['a command name over 64 bytes', [{ comm: Buffer.alloc(65, 0x61) }]],
])('a hostile answer (%s) is a protocol error that closes the channel', async (_what, records) => {
  answer(records);
  const c = await connect();
  await expect(c.processTable('c1')).rejects.toBeInstanceOf(UnavailableError);
  expect(c.closed).toBe(true);
});
