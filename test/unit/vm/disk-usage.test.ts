/**
 * DISK_USAGE through the host's AgentClient against a scripted guest: the answer decoded, and
 * an agent whose LAST_OP predates it never sent it (it would take the opcode for garbage).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NotImplementedError } from '../../../src/errors';
import { AgentClient } from '../../../src/vm/agent/client';
import { Op, Tag } from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';
import { setLogSink } from '../../../src/util/log';
import { FakeAgent } from '../../helpers/fake-agent';

let dir: string;
let fake: FakeAgent;
let client: AgentClient | undefined;

beforeAll(() => setLogSink(() => undefined));

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-diskusage-'));
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

/** The guest answers DISK_USAGE with `used` and `total`; returns the container ids asked for. */
function answer(used: number, total: number): string[] {
  const asked: string[] = [];
  fake.onCtl = (f, a) => {
    if (f.type === Op.PING) return a.ack(f.id);
    if (f.type !== Op.DISK_USAGE) return;
    asked.push(TlvReader.parse(f.payload).needStr(Tag.CONTAINER_ID));
    a.ack(f.id, new TlvWriter().u64(Tag.DISK_USED, used).u64(Tag.DISK_TOTAL, total));
  };
  return asked;
}

test('decodes the bytes in use and the filesystem size', async () => {
  fake.lastOp = Op.DISK_USAGE;
  const asked = answer(5_242_880, 60 * 2 ** 20);
  const c = await connect();
  expect(await c.diskUsage('c1')).toEqual({ used: 5_242_880, total: 60 * 2 ** 20 });
  expect(asked).toEqual(['c1']);
});

test.each([[undefined], [Op.PROCESS_TABLE]])('an agent whose LAST_OP is %s is never sent it', async (lastOp) => {
  fake.lastOp = lastOp;
  const asked = answer(1, 2);
  const c = await connect();
  await expect(c.diskUsage('c1')).rejects.toBeInstanceOf(NotImplementedError);
  await c.ping();
  expect(asked).toEqual([]);
});
