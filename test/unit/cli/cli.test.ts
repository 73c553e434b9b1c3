/**
 * The podvisor CLI's parsing, requests, tables and exit codes, against a stand-in daemon on a
 * temporary unix socket that records each request and answers what the test says.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../../../src/cli/main';
import { containersTable, podsTable, vmsTable } from '../../../src/cli/views';
import { endpointOf } from '../../../src/cli/client';
import { startFailureCode } from '../../../src/cli/container-commands';
import type { NativePodView as Pod, NativeVmView as VmInfo } from '../../../src/api/native/wire';

interface Seen {
  method: string;
  url: string;
  body: unknown;
}

const POD: Pod = {
  id: 'a'.repeat(64),
  name: 'web',
  state: 'Running',
  vm: '0123456789ab',
  created: new Date(Date.now() - 5000).toISOString(),
  labels: {},
  ready: true,
  conditions: [
    { type: 'ContainersReady', status: 'True' },
    { type: 'Ready', status: 'True' },
  ],
  containers: [
    {
      id: 'a'.repeat(64),
      image: 'busybox',
      command: ['sleep', '1000'],
      status: 'running',
      exitCode: 0,
      restartCount: 0,
      ready: true,
      started: true,
      tty: false,
    },
  ],
};

let dir: string;
let server: http.Server;
let seen: Seen[];
let answer: (s: Seen) => [number, unknown];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cli-'));
  server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      // A YAML pod file is recorded as its text.
      const s = {
        method: req.method ?? '',
        url: req.url ?? '',
        body: text ? (req.headers['content-type'] === 'application/json' ? JSON.parse(text) : text) : undefined,
      };
      seen.push(s);
      const [status, body] = answer(s);
      res.writeHead(status, { 'Content-Type': 'application/json' });
      // A string is sent as it is (a progress stream of JSON lines).
      res.end(body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(path.join(dir, 'd.sock'), r));
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  seen = [];
  answer = () => [200, {}];
});

/** Run the CLI against the stand-in; exit code and what it printed. */
async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(['-H', `unix://${path.join(dir, 'd.sock')}`, ...args], {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
  });
  return { code, out, err };
}

test('stop --keep-vm -t sends the keep flag and the timeout, and says which VM is idle', async () => {
  answer = () => [
    200,
    {
      pod: { ...POD, state: 'Created', vm: null },
      vm: { id: '0123456789ab', state: 'Idle', memoryMiB: 256, cpus: 1, held: true },
    },
  ];
  const r = await cli('stop', '--keep-vm', '-t', '3', 'web');
  expect(seen).toEqual([{ method: 'POST', url: '/v1/pods/web/stop', body: { keepVm: true, timeout: 3 } }]);
  expect(r).toEqual({ code: 0, out: 'web stopped; VM 0123456789ab is Idle\n', err: '' });
});

test('the aliases reach the same requests as the long names', async () => {
  answer = () => [201, POD];
  await cli('pod', '--vm', 'abc', '--name', 'web', 'busybox', 'sh', '-c', 'echo hi');
  await cli('run-pod', '--vm', 'abc', '--name', 'web', 'busybox', 'sh', '-c', 'echo hi');
  expect(seen[0]).toEqual({
    method: 'POST',
    url: '/v1/pods',
    body: { spec: { image: 'busybox', name: 'web', command: ['sh', '-c', 'echo hi'] }, start: true, vm: 'abc' },
  });
  expect(seen[1]).toEqual(seen[0]);
});

test('replace takes -o with -n or -f, never both or neither', async () => {
  answer = () => [
    200,
    {
      pod: POD,
      replaced: { ...POD, name: 'old' },
      vm: { id: '0123456789ab', state: 'Associated', memoryMiB: 256, cpus: 1, held: true },
    },
  ];
  expect(await cli('replace', '-o', 'old', '-n', 'web')).toEqual({
    code: 0,
    out: 'web running on VM 0123456789ab (replaced old)\n',
    err: '',
  });
  expect(seen[0]).toEqual({ method: 'POST', url: '/v1/pods/old/replace', body: { with: 'web' } });
  const both = await cli('replace', '-o', 'old', '-n', 'web', '-f', '/x.json');
  expect(both.code).toBe(2);
  expect(both.err).toContain('either -n NEW');
  expect((await cli('replace', '-n', 'web')).code).toBe(2);
  expect(seen).toHaveLength(1);
});

test("the daemon's refusals become exit codes with its message", async () => {
  answer = () => [404, { message: 'no pod matches "nope"' }];
  expect(await cli('start', 'nope')).toEqual({
    code: 4,
    out: '',
    err: 'podvisor: no pod matches "nope" (podvisor list shows the pods)\n',
  });
  answer = () => [409, { message: 'VM 0123456789ab is associated with pod x' }];
  expect((await cli('rm-vm', '0123456789ab')).code).toBe(5);
  answer = () => [500, { message: 'boom' }];
  expect(await cli('run-vm')).toEqual({ code: 1, out: '', err: 'podvisor: boom\n' });
});

test('usage errors exit 2 without a request; --help exits 0 on every command', async () => {
  expect((await cli('frobnicate')).code).toBe(2);
  expect((await cli('stop')).code).toBe(2);
  expect((await cli('list', 'cats')).code).toBe(2);
  expect((await cli('stop', '-t', 'soon', 'web')).code).toBe(2);
  for (const c of [
    'run-pod',
    'run-vm',
    'create',
    'start',
    'stop',
    'replace',
    'attach',
    'exec',
    'info',
    'list',
    'run',
    'pull',
    'rm',
    'rm-vm',
    'logs',
  ]) {
    const h = await cli(c, '--help');
    expect(h.code).toBe(0);
    expect(h.out).toContain('Usage: podvisor');
  }
  expect(seen).toEqual([]);
});

test('an unreachable daemon exits 3 and says how to point at it', async () => {
  let err = '';
  const code = await runCli(['-H', 'unix:///nonexistent/d.sock', 'list'], {
    out: () => undefined,
    err: (s) => void (err += s),
  });
  expect(code).toBe(3);
  expect(err).toContain('cannot reach podvisord at unix:///nonexistent/d.sock');
  expect(err).toContain('PODVISOR_HOST');
});

test('list --json prints the API answer; -H forms', async () => {
  answer = () => [200, [POD]];
  const r = await cli('list', '--json');
  expect(JSON.parse(r.out)).toEqual([POD]);
  expect(endpointOf('tcp://127.0.0.1:2375')).toEqual({ host: '127.0.0.1', port: 2375 });
  expect(endpointOf('unix:///run/x.sock')).toEqual({ socketPath: '/run/x.sock' });
  expect(() => endpointOf('ftp://x')).toThrow('bad host');
});

test('tables: pods, containers and VMs in aligned columns', () => {
  const now = Date.parse(POD.created) + 5000;
  const idle: Pod = {
    ...POD,
    id: 'b'.repeat(64),
    name: 'idle-one',
    state: 'Created',
    vm: null,
    ready: false,
    containers: [{ ...POD.containers[0], status: 'exited', ready: false, restartCount: 2 }],
  };
  expect(podsTable([POD, idle], now)).toBe(
    [
      'POD ID         NAME       STATE     VM             READY   RESTARTS   CONTAINERS   CREATED',
      'aaaaaaaaaaaa   web        Running   0123456789ab   1/1     0          1            5 seconds ago',
      'bbbbbbbbbbbb   idle-one   Created                  0/1     2          1            5 seconds ago',
      '',
    ].join('\n'),
  );
  expect(
    containersTable([
      { ...POD, containers: [{ ...POD.containers[0], status: 'exited', exitCode: 3, ready: false, restartCount: 4 }] },
    ]),
  ).toBe(
    [
      'CONTAINER ID   POD   IMAGE     COMMAND        STATUS       READY   RESTARTS',
      'aaaaaaaaaaaa   web   busybox   "sleep 1000"   exited (3)   false   4',
      '',
    ].join('\n'),
  );
  const vms: VmInfo[] = [
    { id: '0123456789ab', state: 'Associated', podId: POD.id, memoryMiB: 256, cpus: 1, held: false },
    { id: 'ba9876543210', state: 'Idle', memoryMiB: 512, cpus: 2, held: true },
  ];
  expect(vmsTable(vms, [POD])).toBe(
    [
      'VM ID          STATE        POD   MEMORY    CPUS',
      '0123456789ab   Associated   web   256 MiB   1',
      'ba9876543210   Idle               512 MiB   2',
      '',
    ].join('\n'),
  );
});

describe('a missing image is pulled, then the pod made again (as docker run does)', () => {
  const progress = (ref: string) =>
    [
      { status: `Pulling from ${ref}` },
      { status: 'Pull complete', id: 'abc' },
      { status: `Status: Downloaded newer image for ${ref}` },
    ]
      .map((l) => JSON.stringify(l))
      .join('\n') + '\n';
  let stderr: string;
  let spy: jest.SpyInstance;
  beforeEach(() => {
    stderr = '';
    spy = jest.spyOn(process.stderr, 'write').mockImplementation(((s: string) => {
      stderr += s;
      return true;
    }) as typeof process.stderr.write);
  });
  afterEach(() => spy.mockRestore());

  test('run-pod: 404 naming the image, pull with progress on stderr, the same request again', async () => {
    let tries = 0;
    answer = (s) => {
      if (s.url.startsWith('/v1.41/images/create')) return [200, progress('busybox:latest')];
      return ++tries === 1 ? [404, { message: 'image busybox:latest not found', image: 'busybox:latest' }] : [201, POD];
    };
    const r = await cli('run-pod', '--name', 'web', 'busybox', 'sleep', '9');
    expect(r).toEqual({ code: 0, out: `web ${POD.id}\n`, err: '' });
    expect(seen.map((x) => `${x.method} ${x.url}`)).toEqual([
      'POST /v1/pods',
      'POST /v1.41/images/create?fromImage=busybox&tag=latest',
      'POST /v1/pods',
    ]);
    expect(seen[2].body).toEqual(seen[0].body);
    expect(stderr).toBe(
      "Unable to find image 'busybox:latest' locally\nPulling from busybox:latest\nabc: Pull complete\nStatus: Downloaded newer image for busybox:latest\n",
    );
  });

  test('a pod file: each missing image pulled once; one still missing after its pull is the answer', async () => {
    const file = path.join(dir, 'pod.yaml');
    fs.writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: two}\nspec:\n  containers: [{name: a, image: a}, {name: b, image: b}]\n',
    );
    const missing = ['a:latest', 'b:latest'];
    answer = (s) => {
      if (s.url.startsWith('/v1.41/images/create')) return [200, progress('x')];
      const m = missing.shift();
      return m ? [404, { message: `image ${m} not found`, image: m }] : [201, POD];
    };
    expect((await cli('create', '-f', file)).code).toBe(0);
    expect(seen.map((x) => x.url)).toEqual([
      '/v1/pods',
      '/v1.41/images/create?fromImage=a&tag=latest',
      '/v1/pods',
      '/v1.41/images/create?fromImage=b&tag=latest',
      '/v1/pods',
    ]);
    seen = [];
    answer = (s) =>
      s.url.startsWith('/v1.41/images/create')
        ? [200, progress('a')]
        : [404, { message: 'image a:latest not found', image: 'a:latest' }];
    expect(await cli('run', 'a')).toEqual({ code: 4, out: '', err: 'podvisor: image a:latest not found\n' });
    expect(seen.map((x) => x.url)).toEqual(['/v1/pods', '/v1.41/images/create?fromImage=a&tag=latest', '/v1/pods']);
  });

  test('a failed pull is the answer; a 404 that names no image (no such pod) pulls nothing', async () => {
    answer = (s) =>
      s.url.startsWith('/v1.41/images/create')
        ? [404, { message: 'pull access denied for nope' }]
        : [404, { message: 'image nope:latest not found', image: 'nope:latest' }];
    expect(await cli('run-pod', 'nope')).toEqual({ code: 4, out: '', err: 'podvisor: pull access denied for nope\n' });
    seen = [];
    answer = () => [404, { message: 'no pod matches "old"' }];
    expect((await cli('replace', '-o', 'old', '-f', path.join(dir, 'pod.yaml'))).code).toBe(4);
    expect(seen).toHaveLength(1);
  });
});

test('--network and -p go in the single-container spec; a pod file refuses them (usage)', async () => {
  answer = () => [201, POD];
  await cli('run-pod', '--network', 'front', '-p', '8080:80', '-p', '127.0.0.1:53:53/udp', 'busybox', 'httpd', '-f');
  expect(seen[0].body).toEqual({
    spec: { image: 'busybox', command: ['httpd', '-f'], network: 'front', ports: ['8080:80', '127.0.0.1:53:53/udp'] },
    start: true,
  });
  await cli('run', '-d', '--network', 'none', 'busybox');
  expect(seen[1].body).toEqual({ spec: { image: 'busybox', network: 'none' } });
  const file = path.join(dir, 'kpod.yaml');
  fs.writeFileSync(file, 'apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, image: busybox}]}\n');
  const p = await cli('create', '-p', '80', '-f', file);
  expect(p.code).toBe(2);
  expect(p.err).toContain('-p does not apply to a pod file: publish its ports in the file');
  const n = await cli('create', '--network', 'front', '-f', file);
  expect(n.code).toBe(2);
  expect(n.err).toContain('--network does not apply to a pod file');
  expect(seen).toHaveLength(3);
});

describe("run's exit code when the start fails (the docker CLI's)", () => {
  it('is 127 for a command not found, 126 for one that cannot run, 125 otherwise', () => {
    expect(startFailureCode('process could not start: exec: "x": executable file not found in $PATH')).toBe(127);
    expect(startFailureCode('exec: "/x": stat /x: no such file or directory')).toBe(127);
    expect(startFailureCode('exec: "/etc": permission denied')).toBe(126);
    expect(startFailureCode('a host port in use')).toBe(125);
  });
});
