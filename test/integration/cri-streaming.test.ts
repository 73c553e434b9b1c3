/**
 * The CRI streaming server over real pods: exec and attach in a busybox pod on a real VM,
 * through the SPDY/3.1 and websocket test clients a kubelet or crictl would stand for. The pod
 * layer is wired as the daemon wires it (test/helpers/real-pods.ts). One VM.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StreamingServer } from '../../src/api/cri/streaming';
import { PodStreamingBackend } from '../../src/api/cri/streaming/pod-backend';
import { listVmProcesses, mountsUnder } from '../helpers/leaks';
import { createFromPodFile, openRealPods, type RealPods } from '../helpers/real-pods';
import { encodeWs, spdyDial, spdyRemoteCommand, wsDial } from '../unit/api/cri/streaming/clients';

jest.setTimeout(240_000);

const POD = `
apiVersion: v1
kind: Pod
metadata:
  name: streamer
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: [sh, -c, 'while read l; do echo "got $l"; done']
    stdin: true
`;

let root: string;
let p: RealPods | undefined;
let server: StreamingServer;
let podId: string;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cri-stream-'));
  p = await openRealPods(root);
  const r = await createFromPodFile(p, POD, 'c0ffee'.repeat(10) + 'abcd');
  podId = r.id;
  await p.pods.start(podId);
  const backend = new PodStreamingBackend(p.pods, {
    locate: (id) => (id === 'main' ? { pod: podId } : { pod: podId, container: id }),
    sandboxAddress: async () => {
      throw new Error('no pod network in this test');
    },
  });
  server = new StreamingServer(backend);
  await server.start();
});

afterAll(async () => {
  await server?.stop();
  if (p) {
    for (const r of p.pods.list()) await p.pods.remove(r.id, { force: true }).catch(() => undefined);
    await p.pods.settled();
  }
  const execRoot = path.join(root, 'exec');
  const ours = listVmProcesses({ jails: true }).filter((x) => x.cmdline.includes(execRoot));
  const mounts = mountsUnder(root);
  fs.rmSync(root, { recursive: true, force: true });
  expect(ours).toEqual([]);
  expect(mounts).toEqual([]);
});

const exec = (cmd: string[], o: { stdin?: boolean; stderr?: boolean; tty?: boolean } = {}) =>
  server.getExecUrl({
    containerId: 'main',
    cmd,
    stdin: o.stdin ?? false,
    stdout: true,
    stderr: o.stderr ?? false,
    tty: o.tty ?? false,
  });

it('execs over SPDY with stdout, stderr and the exit code', async () => {
  const r = await spdyRemoteCommand(exec(['sh', '-c', 'echo out; echo err >&2; exit 3'], { stderr: true }), {
    stdout: true,
    stderr: true,
  });
  expect(r.stdout).toBe('out\n');
  expect(r.stderr).toBe('err\n');
  expect(JSON.parse(r.error)).toMatchObject({
    status: 'Failure',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
});

it('execs over SPDY with stdin passed through', async () => {
  const r = await spdyRemoteCommand(exec(['cat'], { stdin: true }), { stdin: 'through the VM\n', stdout: true });
  expect(r.stdout).toBe('through the VM\n');
  expect(JSON.parse(r.error)).toEqual({ metadata: {}, status: 'Success' });
});

it('resizes the terminal of a TTY exec, whose output goes on after the client closed stdin', async () => {
  const url = exec(['sh', '-c', 'while [ "$(stty size)" = "24 80" ]; do sleep 0.1; done; stty size'], {
    tty: true,
    stdin: true,
  });
  const r = await spdyRemoteCommand(url, { stdin: '', stdout: true, tty: true, resize: [{ width: 100, height: 40 }] });
  expect(r.stdout).toBe('40 100\r\n');
  expect(JSON.parse(r.error).status).toBe('Success');
});

it('execs over a websocket (v5, stdin closed by the close signal)', async () => {
  const ws = await wsDial(exec(['sh', '-c', 'cat; echo done'], { stdin: true }), ['v5.channel.k8s.io']);
  ws.send(encodeWs(ws.protocol, 0, 'ws in\n'));
  ws.send(Buffer.from([255, 0]));
  const t = await ws.transcript;
  expect(t.text(1)).toBe('ws in\ndone\n');
  expect(JSON.parse(t.text(3))).toEqual({ metadata: {}, status: 'Success' });
});

it('attaches to the main process over SPDY, output going on after the client closed stdin', async () => {
  const url = server.getAttachUrl({ containerId: 'main', stdin: true, stdout: true, stderr: false, tty: false });
  const { conn } = await spdyDial(url, ['v4.channel.k8s.io']);
  const error = await conn.createStream({ streamtype: ['error'] });
  error.end();
  error.resume();
  const stdin = await conn.createStream({ streamtype: ['stdin'] });
  const stdout = await conn.createStream({ streamtype: ['stdout'] });
  let out = '';
  const got = new Promise<void>((resolve) =>
    stdout.on('data', (c: Buffer) => {
      out += c;
      if (out.includes('got ping\n')) resolve();
    }),
  );
  // As `kubectl attach -i` with piped input: the input ends at once, the output follows later.
  stdin.end('ping\n');
  await got;
  expect(out).toBe('got ping\n');
  conn.destroy();
  // The pod goes on running: the client leaving ended only its session.
  await new Promise((r) => setTimeout(r, 500));
  expect(p!.pods.isRunning(podId)).toBe(true);
  // and a later attach is served again.
  const again = server.getAttachUrl({ containerId: 'main', stdin: true, stdout: true, stderr: false, tty: false });
  const c2 = await spdyDial(again, ['v4.channel.k8s.io']);
  (await c2.conn.createStream({ streamtype: ['error'] })).resume();
  const in2 = await c2.conn.createStream({ streamtype: ['stdin'] });
  const out2 = await c2.conn.createStream({ streamtype: ['stdout'] });
  const got2 = new Promise<void>((resolve) =>
    out2.on('data', (c: Buffer) => String(c).includes('got pong') && resolve()),
  );
  in2.write('pong\n');
  await got2;
  c2.conn.destroy();
});
