/**
 * Standard streams as users meet them, through the stock docker CLI and dockerode on real VMs
 * (binary stdin without a TTY and the 127/126 exit codes are in regressions.test.ts):
 *  - with a TTY, the detach keys ctrl-p ctrl-q still end an attach;
 *  - an exec created with a TTY and started with `Tty: false` (docker-py does this) gets a
 *    stdcopy-framed stream: the framing follows the start request, as in dockerd.
 */
import { spawn } from 'node:child_process';
import Dockerode from 'dockerode';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(180000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;

/** Run the docker CLI with `input` on its stdin; stdout, stderr and the exit code. */
function docker(d: TestDaemon, args: string[], input?: Buffer): Promise<{ out: string; err: string; code: number }> {
  return new Promise((resolve, reject) => {
    const p = spawn('docker', args, { env: d.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 90000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ out, err, code: code ?? -1 });
    });
    p.stdin.on('error', () => undefined);
    p.stdin.end(input ?? Buffer.alloc(0));
  });
}

describe('standard streams (docker CLI, dockerode)', () => {
  let d: TestDaemon;
  let api: Dockerode;
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 1 });
    api = new Dockerode({ socketPath: d.socketPath });
    const pulled = await docker(d, ['pull', '-q', IMAGE]);
    expect(pulled.code).toBe(0);
    const started = await docker(d, ['run', '-d', '--name', 'idle', IMAGE, 'sleep', '1000']);
    expect(started.code).toBe(0);
  });
  afterAll(async () => {
    if (!d) return;
    await docker(d, ['rm', '-f', 'idle', 'tty']);
    await stopDaemonLeavingNothing(d);
  });

  test('an exec created with a TTY and started with Tty false is framed (dockerode)', async () => {
    const exec = await api
      .getContainer('idle')
      .exec({ Cmd: ['echo', 'framed-output'], Tty: true, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false, Tty: false });
    const chunks: Buffer[] = [];
    for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
    const raw = Buffer.concat(chunks);
    // stdcopy frames: stream 1 (stdout), three zero bytes, big-endian length, payload.
    const frames: { stream: number; data: string }[] = [];
    for (let at = 0; at < raw.length; ) {
      expect([...raw.subarray(at + 1, at + 4)]).toEqual([0, 0, 0]);
      const len = raw.readUInt32BE(at + 4);
      frames.push({ stream: raw[at], data: raw.subarray(at + 8, at + 8 + len).toString() });
      at += 8 + len;
    }
    expect(frames.every((f) => f.stream === 1)).toBe(true);
    // The exec has its TTY (created with one): the terminal turns \n into \r\n.
    expect(frames.map((f) => f.data).join('')).toBe('framed-output\r\n');
  });

  test('detach keys still work with a TTY (docker attach on a TTY container ends on ctrl-p ctrl-q)', async () => {
    // A TTY container: its attach must still end on the default detach sequence, and the
    // container keeps running.
    const created = await docker(d, ['run', '-d', '-t', '-i', '--name', 'tty', IMAGE, 'cat']);
    expect(created.code).toBe(0);
    const container = api.getContainer('tty');
    const stream = (await container.attach({
      stream: true,
      stdin: true,
      stdout: true,
      hijack: true,
    })) as NodeJS.ReadWriteStream;
    const ended = new Promise<void>((resolve) => stream.on('end', () => resolve()).on('close', () => resolve()));
    stream.resume();
    stream.write(Buffer.from([0x10, 0x11]));
    await ended;
    expect((await container.inspect()).State.Running).toBe(true);
    await docker(d, ['rm', '-f', 'tty']);
  });
});
