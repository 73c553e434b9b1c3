/**
 * The agent's own checks of the device requests (ops 29-33), which the host client never lets
 * through: raw frames to the real agent in host test mode, in a network namespace of its own
 * with a tap as eth0. Each malformed request must be answered INVALID (never hang, never act),
 * and the agent must go on serving.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as net from 'node:net';
import { encodeHeader, FrameDecoder, type Frame } from '../../../src/vm/agent/codec';
import { connectUnix, newSyncNonce, syncChannel } from '../../../src/vm/agent/connect';
import {
  ErrorCode,
  FrameType,
  isCtlFrameFromAgent,
  Limits,
  Op,
  PROTOCOL_VERSION,
  Tag,
} from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';
import { buildAgent, makeBusyboxRootfs } from '../../helpers/agent-fixtures';

jest.setTimeout(60_000);

let tmp: string;
let proc: ChildProcess;
let ctl: net.Socket;
let io: net.Socket;
const frames: Frame[] = [];
let waiter: (() => void) | undefined;
let nextId = 1;

/** Send one request; resolves with its answer (ACK or ERROR). */
async function request(op: number, w: TlvWriter): Promise<Frame> {
  const id = nextId++;
  const payload = w.toBuffer();
  ctl.write(Buffer.concat([encodeHeader(op, 0, id, payload.length), payload]));
  for (;;) {
    const f = frames.find((x) => x.id === id);
    if (f) return f;
    await new Promise<void>((r) => (waiter = r));
  }
}

/** The ERROR code of an answer (0 for an ACK). */
async function code(op: number, w: TlvWriter): Promise<number> {
  const f = await request(op, w);
  return f.type === FrameType.ACK ? 0 : (TlvReader.parse(f.payload).u32(Tag.CODE) ?? -1);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-agent-dev-'));
  const bin = buildAgent(path.join(tmp, 'bin'));
  const share = path.join(tmp, 'share');
  makeBusyboxRootfs(path.join(share, 'containers/c/rootfs'));
  const script = 'ip tuntap add dev eth0 mode tap && ip link set lo up && exec "$0" --ctl "$1" --io "$2" --share "$3"';
  proc = spawn('unshare', ['-n', 'sh', '-c', script, bin, path.join(tmp, 'a.ctl'), path.join(tmp, 'a.io'), share], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 5000;
  ctl = await connectUnix(path.join(tmp, 'a.ctl'), deadline, []);
  io = await connectUnix(path.join(tmp, 'a.io'), deadline, []);
  const nonce = newSyncNonce();
  const rest = await syncChannel(ctl, 'control', nonce);
  await syncChannel(io, 'stream', nonce);
  const decoder = new FrameDecoder({
    channel: 'control',
    maxPayload: Limits.MAX_CTL_PAYLOAD,
    allowedType: isCtlFrameFromAgent,
  });
  const take = (b: Buffer) => {
    frames.push(...decoder.push(b));
    waiter?.();
  };
  ctl.on('data', take);
  ctl.resume();
  take(rest);
  expect(await code(Op.VERSION, new TlvWriter().u32(Tag.PROTOCOL, PROTOCOL_VERSION))).toBe(0);
  expect(
    await code(Op.CREATE_CONTAINER, new TlvWriter().str(Tag.CONTAINER_ID, 'c').str(Tag.ROOTFS, 'containers/c/rootfs')),
  ).toBe(0);
});

afterAll(async () => {
  await request(Op.SHUTDOWN, new TlvWriter());
  await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
  ctl.destroy();
  io.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const iface = () => new TlvWriter().str(Tag.IFNAME, 'eth0');
const mount = (path: string, fstype: string) =>
  new TlvWriter().str(Tag.CONTAINER_ID, 'c').str(Tag.PATH, path).str(Tag.FSTYPE, fstype);

describe('agent device requests with fields the host client would never send', () => {
  it.each([
    ['an interface name with a slash', () => new TlvWriter().str(Tag.IFNAME, '../eth0').u32(Tag.LINK_UP, 1)],
    ['a 16-byte interface name', () => new TlvWriter().str(Tag.IFNAME, 'e'.repeat(16)).u32(Tag.LINK_UP, 1)],
    ['a 5-byte MAC', () => iface().bytes(Tag.MAC, Buffer.alloc(5))],
    ['an address without a prefix', () => iface().bytes(Tag.ADDRESS, Buffer.from([10, 0, 0, 2]))],
    [
      'a prefix of 33',
      () =>
        iface()
          .bytes(Tag.ADDRESS, Buffer.from([10, 0, 0, 2]))
          .u32(Tag.PREFIX, 33),
    ],
    ['an MTU of 67', () => iface().u32(Tag.MTU, 67)],
    ['LINK_UP 2', () => iface().u32(Tag.LINK_UP, 2)],
    ['a repeated MTU', () => iface().u32(Tag.MTU, 1400).u32(Tag.MTU, 1500)],
  ])('CONFIGURE_INTERFACE with %s is INVALID', async (_what, w) => {
    expect(await code(Op.CONFIGURE_INTERFACE, w())).toBe(ErrorCode.INVALID);
  });

  it.each([
    ['no destination', () => new TlvWriter().u32(Tag.PREFIX, 0).str(Tag.IFNAME, 'eth0')],
    [
      'host bits past the prefix',
      () =>
        new TlvWriter()
          .bytes(Tag.DESTINATION, Buffer.from([10, 1, 0, 1]))
          .u32(Tag.PREFIX, 16)
          .str(Tag.IFNAME, 'eth0'),
    ],
    [
      'neither gateway nor interface',
      () => new TlvWriter().bytes(Tag.DESTINATION, Buffer.from([10, 1, 0, 0])).u32(Tag.PREFIX, 16),
    ],
    [
      'a 16-byte gateway',
      () =>
        new TlvWriter().bytes(Tag.DESTINATION, Buffer.alloc(4)).u32(Tag.PREFIX, 0).bytes(Tag.GATEWAY, Buffer.alloc(16)),
    ],
  ])('ADD_ROUTE with %s is INVALID', async (_what, w) => {
    expect(await code(Op.ADD_ROUTE, w())).toBe(ErrorCode.INVALID);
  });

  it.each([
    ['a relative path', () => mount('mnt', 'tmpfs')],
    ['".." in the path', () => mount('/mnt/../../x', 'tmpfs')],
    ['an unknown file system', () => mount('/mnt', 'ext4')],
    ['a tmpfs option outside the list', () => mount('/mnt', 'tmpfs').str(Tag.FS_OPTIONS, 'size=1m,exec')],
    ['a tmpfs mode that is not octal', () => mount('/mnt', 'tmpfs').str(Tag.FS_OPTIONS, 'mode=999')],
    ['a tmpfs with a source', () => mount('/mnt', 'tmpfs').str(Tag.SOURCE, 'podvisor-vol')],
    ['the rootfs share as a volume tag', () => mount('/mnt', 'virtiofs').str(Tag.SOURCE, 'podvisor')],
    [
      'a subpath with ".."',
      () => mount('/mnt', 'virtiofs').str(Tag.SOURCE, 'podvisor-vol').str(Tag.SUBPATH, 'a/../../b'),
    ],
    ['an absolute subpath', () => mount('/mnt', 'virtiofs').str(Tag.SOURCE, 'podvisor-vol').str(Tag.SUBPATH, '/etc')],
    ['virtiofs options', () => mount('/mnt', 'virtiofs').str(Tag.SOURCE, 'podvisor-vol').str(Tag.FS_OPTIONS, 'size=1')],
    ['unknown mount flags', () => mount('/mnt', 'tmpfs').u32(Tag.MOUNT_FLAGS, 16)],
  ])('MOUNT with %s is INVALID', async (_what, w) => {
    expect(await code(Op.MOUNT, w())).toBe(ErrorCode.INVALID);
  });

  it('still serves afterwards, and acted on none of them', async () => {
    expect(await code(Op.PING, new TlvWriter())).toBe(0);
    const list = TlvReader.parse((await request(Op.LIST_INTERFACES, new TlvWriter())).payload).records(Tag.INTERFACE);
    const eth0 = list.find((r) => r.str(Tag.IFNAME) === 'eth0')!;
    expect(eth0.u32(Tag.MTU)).toBe(1500);
    expect(eth0.u32(Tag.LINK_UP)).toBe(0);
    expect(eth0.bytes(Tag.ADDRESS)).toBeUndefined();
    expect(fs.existsSync(path.join(tmp, 'share/containers/c/rootfs/mnt'))).toBe(false);
  });
});
