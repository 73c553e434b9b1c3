/**
 * An in-memory StreamingBackend for the streaming server's tests. Commands are a tiny language:
 *  cat              stdin to stdout until stdin ends
 *  echo A B         "A B\n" on stdout
 *  warn MSG         "MSG\n" on stderr
 *  exit N           exits N
 *  resizes N        prints "WxH\n" for each of the first N resize events, then exits 0
 *  whoami           prints "CONTAINER tty=BOOL"
 *  boom             fails to run (the backend throws)
 * attach: container "up" echoes stdin upper-cased until stdin ends; any other is not found.
 * portForward: port P of any sandbox is 127.0.0.1:ports[P].
 */
import { Duplex } from 'node:stream';
import { forwardToTcp } from '../../../../../src/api/cri/streaming/tcp';
import {
  ResizeEvents,
  SessionStreams,
  StreamingBackend,
  StreamOptions,
} from '../../../../../src/api/cri/streaming/types';

async function readAll(s: NodeJS.ReadableStream | undefined): Promise<Buffer> {
  if (!s) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts);
}

export class FakeBackend implements StreamingBackend {
  /** Every call, for assertions: [method, id, args]. */
  readonly calls: [string, string, unknown][] = [];
  /** Sandbox port → loopback port. */
  readonly ports = new Map<number, number>();

  async exec(
    containerId: string,
    cmd: string[],
    opts: StreamOptions,
    streams: SessionStreams,
    resize: ResizeEvents,
  ): Promise<number> {
    this.calls.push(['exec', containerId, cmd]);
    const [name, ...args] = cmd;
    switch (name) {
      case 'cat':
        if (streams.stdin) for await (const c of streams.stdin) streams.stdout?.write(c);
        return 0;
      case 'echo':
        streams.stdout?.write(`${args.join(' ')}\n`);
        return 0;
      case 'warn':
        streams.stderr?.write(`${args.join(' ')}\n`);
        return 0;
      case 'exit':
        return Number(args[0]);
      case 'resizes': {
        let left = Number(args[0]);
        await new Promise<void>((resolve) => {
          resize.on('resize', (size) => {
            streams.stdout?.write(`${size.width}x${size.height}\n`);
            if (--left === 0) resolve();
          });
        });
        return 0;
      }
      case 'whoami':
        streams.stdout?.write(`${containerId} tty=${opts.tty}`);
        return 0;
      default:
        throw new Error(`executable file not found: ${name}`);
    }
  }

  async attach(containerId: string, _opts: StreamOptions, streams: SessionStreams): Promise<void> {
    this.calls.push(['attach', containerId, undefined]);
    if (containerId !== 'up') throw new Error(`container ${containerId} not found`);
    const input = await readAll(streams.stdin);
    streams.stdout?.write(input.toString().toUpperCase());
  }

  portForward(podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
    this.calls.push(['portForward', podSandboxId, port]);
    return forwardToTcp(stream, '127.0.0.1', this.ports.get(port) ?? 1, signal);
  }
}
