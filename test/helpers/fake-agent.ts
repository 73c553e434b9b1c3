/**
 * A stand-in guest agent for unit tests of the host's AgentClient: it listens on the two
 * channel sockets, answers SYNC and VERSION, and does whatever a test scripts in onCtl/onIo
 * (including misbehaving: the guest is untrusted).
 */
import * as net from 'node:net';
import { encodeFrame, type Frame, FrameDecoder } from '../../src/vm/agent/codec';
import { FrameType, Limits, Op, PROTOCOL_VERSION, Tag } from '../../src/vm/agent/protocol';
import { TlvWriter } from '../../src/vm/agent/tlv';

/** A scripted reaction to a frame from the host. */
export type Handler = (f: Frame, fake: FakeAgent) => void;

/** A stand-in guest: answers SYNC and VERSION, and whatever a test scripts. */
export class FakeAgent {
  ctl!: net.Socket;
  io!: net.Socket;
  onCtl: Handler | undefined;
  onIo: Handler | undefined;
  protocol: number = PROTOCOL_VERSION;
  /** LAST_OP of the VERSION answer; undefined answers as an agent built before it. */
  lastOp: number | undefined = Op.PROCESS_TABLE;
  garbageBeforeSync = Buffer.alloc(0);
  /** How many SYNC frames to leave unanswered on each channel before answering one. */
  syncsToIgnore = 0;
  /** Answer each SYNC twice, as an agent that did not ignore a repeated SYNC answered both. */
  answerSyncTwice = false;
  /** The nonce of every SYNC the host sent, per channel. */
  readonly syncNonces: Record<'ctl' | 'io', Buffer[]> = { ctl: [], io: [] };
  silent = false;
  readonly ioFrames: Frame[] = [];
  private servers: net.Server[] = [];

  constructor(
    readonly ctlPath: string,
    readonly ioPath: string,
  ) {}

  /** Listen on both sockets. */
  async listen(): Promise<void> {
    const serve = (p: string, which: 'ctl' | 'io') =>
      new Promise<void>((resolve) => {
        const srv = net.createServer((s) => {
          if (which === 'ctl') this.ctl = s;
          else this.io = s;
          const d = new FrameDecoder({ channel: which, maxPayload: Limits.MAX_CTL_PAYLOAD, allowedType: () => true });
          s.on('data', (c: Buffer) => {
            for (const f of d.push(c)) this.frame(which, s, f);
          });
          s.on('error', () => undefined);
        });
        this.servers.push(srv);
        srv.listen(p, () => resolve());
      });
    await Promise.all([serve(this.ctlPath, 'ctl'), serve(this.ioPath, 'io')]);
  }

  private frame(which: 'ctl' | 'io', s: net.Socket, f: Frame): void {
    if (this.silent) return;
    if (f.type === FrameType.SYNC) {
      this.syncNonces[which].push(Buffer.from(f.payload));
      if (this.syncNonces[which].length <= this.syncsToIgnore) return;
      const reply = encodeFrame(FrameType.SYNC_REPLY, 0, 0, f.payload);
      s.write(Buffer.concat([this.garbageBeforeSync, reply, this.answerSyncTwice ? reply : Buffer.alloc(0)]));
      return;
    }
    if (which === 'ctl' && f.type === Op.VERSION) {
      const w = new TlvWriter().u32(Tag.PROTOCOL, this.protocol).str(Tag.AGENT, 'fake agent');
      if (this.lastOp !== undefined) w.u32(Tag.LAST_OP, this.lastOp);
      this.ack(f.id, w);
      return;
    }
    if (which === 'io') this.ioFrames.push({ ...f, payload: Buffer.from(f.payload) });
    const h = which === 'ctl' ? this.onCtl : this.onIo;
    h?.(f, this);
  }

  /** Answer request `id` with ACK. */
  ack(id: number, w = new TlvWriter()): void {
    this.ctl.write(encodeFrame(FrameType.ACK, 0, id, w.toBuffer()));
  }

  /** Answer request `id` with ERROR. */
  error(id: number, code: number, message: string): void {
    this.ctl.write(
      encodeFrame(
        FrameType.ERROR,
        0,
        id,
        new TlvWriter().u32(Tag.CODE, code).u32(Tag.ERRNO, 0).str(Tag.MESSAGE, message).toBuffer(),
      ),
    );
  }

  /** Close both channels and stop listening. */
  async close(): Promise<void> {
    this.ctl?.destroy();
    this.io?.destroy();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }
}
