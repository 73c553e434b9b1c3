/**
 * The container, exec and system routes over a real unix-socket HTTP server (with the hijack
 * bridge), backed by the pod manager on the in-memory VM fakes. Wire details are checked with
 * raw sockets; dockerode is used as a real client.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import Docker from 'dockerode';
import WebSocket from 'ws';
import { rawSessions, unframe } from '../../../src/api/v1.41/hijack';
import { MAX_SESSIONS_PER_TARGET } from '../../../src/api/v1.41/limits';
import type { Harness } from '../pod/fakes';
import { startFakeApi, type FakeApi } from './fake-api';
import { mainContainer } from '../../../src/pod/types';

let fake: FakeApi;
let h: Harness;
let sock: string;
let docker: Docker;

beforeEach(async () => {
  fake = await startFakeApi();
  ({ h, sock } = fake);
  docker = new Docker({ socketPath: sock });
});

afterEach(async () => {
  await fake.close();
});

interface RawAnswer {
  head: string;
  body: Buffer;
}

/** Send a raw HTTP request and read until the server closes (or `until` says stop). */
function raw(
  req: string,
  opts: { write?: (s: net.Socket) => void; until?: (body: Buffer) => boolean } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    let buf = Buffer.alloc(0);
    const done = () => {
      const i = buf.indexOf('\r\n\r\n');
      resolve({ head: buf.subarray(0, i).toString(), body: buf.subarray(i + 4) });
    };
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const i = buf.indexOf('\r\n\r\n');
      if (i >= 0 && opts.until?.(buf.subarray(i + 4))) {
        s.destroy();
        done();
      }
    });
    s.on('end', () => {
      done();
      s.end();
    });
    s.on('error', reject);
    s.write(req);
    opts.write?.(s);
  });
}

async function api(
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; json: unknown; text: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath: sock,
        method,
        path: p,
        headers: data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, text, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function create(body: Record<string, unknown>, name = ''): Promise<string> {
  const r = await api('POST', `/v1.41/containers/create${name ? `?name=${name}` : ''}`, body);
  expect(r.status).toBe(201);
  return (r.json as { Id: string }).Id;
}

describe('create and errors', () => {
  test('log drivers as dockerd: unknown 400 (after the image lookup), defaults filled, none unreadable, bad values fail the start', async () => {
    const lc = (LogConfig: unknown, Image = 'busybox') =>
      api('POST', '/v1.41/containers/create', { Image, Cmd: ['echo', 'hi'], HostConfig: { LogConfig } });
    expect(await lc({ Type: 'asdf', Config: {} })).toMatchObject({
      status: 400,
      json: { message: 'error looking up logging plugin asdf: plugin "asdf" not found' },
    });
    expect((await lc({ Type: 'asdf' }, 'nosuchimage')).status).toBe(404);
    expect(await lc({ Type: 'json-file', Config: { 'max-sise': '1m' } })).toMatchObject({
      status: 400,
      json: { message: "unknown log opt 'max-sise' for json-file log driver" },
    });
    const dflt = (await lc({ Type: '', Config: { 'max-file': '100' } })).json as { Id: string };
    expect((await api('POST', `/containers/${dflt.Id}/start`)).status).toBe(204);
    expect(
      ((await api('GET', `/containers/${dflt.Id}/json`)).json as { HostConfig: unknown }).HostConfig,
    ).toMatchObject({ LogConfig: { Type: 'json-file', Config: { 'max-file': '100' } } });
    const none = (await lc({ Type: 'none' })).json as { Id: string };
    expect((await api('POST', `/containers/${none.Id}/start`)).status).toBe(204);
    expect(await api('GET', `/containers/${none.Id}/logs?stdout=1`)).toMatchObject({
      status: 501,
      json: { message: 'configured logging driver does not support reading' },
    });
    const bad = (await lc({ Type: 'json-file', Config: { 'max-size': 'abc' } })).json as { Id: string };
    expect(await api('POST', `/containers/${bad.Id}/start`)).toMatchObject({
      status: 500,
      json: { message: "failed to initialize logging driver: invalid size: 'abc'" },
    });
    expect(((await api('GET', `/containers/${bad.Id}/json`)).json as { State: unknown }).State).toMatchObject({
      Status: 'created',
      Error: "failed to initialize logging driver: invalid size: 'abc'",
    });
  });

  test('201 with Id and Warnings; the JSON content type is exactly application/json', async () => {
    const r = await api('POST', '/containers/create', { Image: 'busybox' });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ Id: expect.stringMatching(/^[0-9a-f]{64}$/), Warnings: [] });
    expect(r.headers['content-type']).toBe('application/json');
  });

  test.each([
    [{ Image: 'nosuch' }, '', 404, 'No such image: nosuch'],
    [{ Image: 'busybox', HostConfig: { Memory: -1 } }, '', 400, 'Minimum memory limit allowed is 6MB'],
    [
      { Image: 'busybox' },
      'bad/name',
      400,
      'Invalid container name (bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed',
    ],
    [{}, '', 400, 'Config cannot be empty in order to create a container'],
  ])('%j name=%s -> %d %s', async (body, name, status, message) => {
    const r = await api('POST', `/containers/create${name ? `?name=${name}` : ''}`, body);
    expect([r.status, r.json]).toEqual([status, { message }]);
    expect(h.pods.list()).toHaveLength(0);
  });

  test('malformed JSON is a 400 and the daemon stays up', async () => {
    const r = await raw(
      'POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 18\r\nConnection: close\r\n\r\n{"Image":"busybox"',
    );
    expect(r.head).toMatch(/^HTTP\/1.1 400/);
    expect(JSON.parse(r.body.toString())).toEqual({ message: 'unexpected EOF' });
    expect((await api('GET', '/_ping')).status).toBe(200);
  });

  test("409 on a taken name with Docker's message", async () => {
    const id = await create({ Image: 'busybox' }, 'taken');
    const r = await api('POST', '/containers/create?name=taken', { Image: 'busybox' });
    expect(r.status).toBe(409);
    expect((r.json as { message: string }).message).toBe(
      `Conflict. The container name "/taken" is already in use by container "${id}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
  });

  test('404 for unknown containers and exec instances; 400 for a bad signal', async () => {
    expect(await api('POST', '/containers/nope/start')).toMatchObject({
      status: 404,
      json: { message: 'No such container: nope' },
    });
    expect(await api('GET', '/exec/nope/json')).toMatchObject({
      status: 404,
      json: { message: 'No such exec instance: nope' },
    });
    const id = await create({ Image: 'busybox', Cmd: ['sleep', '10'] });
    await api('POST', `/containers/${id}/start`);
    expect(await api('POST', `/containers/${id}/kill?signal=BOGUS`)).toMatchObject({
      status: 400,
      json: { message: 'Invalid signal: BOGUS' },
    });
    expect(await api('POST', `/containers/${id}/stop?t=abc`)).toMatchObject({
      status: 400,
      json: { message: 'strconv.Atoi: parsing "abc": invalid syntax' },
    });
    expect(await api('DELETE', `/containers/${id}`)).toMatchObject({ status: 409 });
    expect((await api('POST', `/containers/${id}/start`)).status).toBe(304);
    expect((await api('POST', `/containers/${id}/kill?signal=KILL`)).status).toBe(204);
    expect((await api('POST', `/containers/${id}/stop`)).status).toBe(304);
  });
});

describe('attach (hijacked)', () => {
  test("Upgrade: tcp gets dockerd's 101 UPGRADED headers, stdcopy frames, and the stream closes at exit", async () => {
    const id = await create({ Image: 'busybox', Cmd: ['sh', '-c', 'echo out; echo err >&2'] });
    const answer = raw(
      `POST /v1.41/containers/${id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`,
    );
    await new Promise((r) => setTimeout(r, 50));
    expect((await api('POST', `/containers/${id}/start`)).status).toBe(204);
    const a = await answer;
    expect(a.head).toBe(
      'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp',
    );
    const frames = unframe(a.body).map((f) => [f.stream, f.data.toString()]);
    expect(frames).toEqual(
      expect.arrayContaining([
        ['stdout', 'out\n'],
        ['stderr', 'err\n'],
      ]),
    );
    expect(a.body[0] === 1 || a.body[0] === 2).toBe(true);
  });

  test.each([
    ['/v1.41', 'raw-stream'],
    ['', 'multiplexed-stream'],
  ])('without Upgrade at %s: a plain 200 %s (the framed type from 1.42, unversioned is 1.45)', async (prefix, type) => {
    const id = await create({ Image: 'busybox', Cmd: ['echo', 'plain'] });
    const answer = raw(
      `POST ${prefix}/containers/${id}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    await new Promise((r) => setTimeout(r, 50));
    await api('POST', `/containers/${id}/start`);
    const a = await answer;
    expect(a.head).toMatch(/^HTTP\/1.1 200 OK/);
    expect(a.head).toMatch(new RegExp(`Content-Type: application/vnd.docker.${type}`, 'i'));
    expect(a.body.toString()).toContain('plain\n');
  });

  test('stdin half-close: StdinOnce closes the process stdin and the stream ends', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['cat'], OpenStdin: true, StdinOnce: true, AttachStdin: true });
    const answer = raw(
      `POST /containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
      {
        write: (s) => {
          setTimeout(async () => {
            await api('POST', `/containers/${id}/start`);
            s.write('hello\n');
            s.end();
          }, 50);
        },
      },
    );
    const a = await answer;
    expect(
      unframe(a.body)
        .map((f) => f.data.toString())
        .join(''),
    ).toBe('hello\n');
    const w = await api('POST', `/containers/${id}/wait`);
    // dockerd 26 leaves out a null Error; at 1.41 it is there, as dockerd 20.10 sends it.
    expect(w.json).toEqual({ StatusCode: 0 });
    expect((await api('POST', `/v1.41/containers/${id}/wait`)).json).toEqual({ Error: null, StatusCode: 0 });
  });

  test('the body of an upgrade request is read as the body, not passed on as stdin', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['cat'], OpenStdin: true, StdinOnce: true });
    const body = '{"stream":true,"stdin":true}';
    const answer = raw(
      `POST /containers/${id}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}input\n`,
      {
        write: (s) => {
          setTimeout(async () => {
            await api('POST', `/containers/${id}/start`);
            s.end();
          }, 50);
        },
      },
    );
    const a = await answer;
    expect(
      unframe(a.body)
        .map((f) => f.data.toString())
        .join(''),
    ).toBe('input\n');
    expect((await api('POST', `/containers/${id}/wait`)).json).toEqual({ StatusCode: 0 });
    expect((await api('POST', `/containers/${id}/exec`, { Cmd: ['true'] })).status).toBe(409);
  });

  test('TTY containers stream raw bytes, and detach keys end the attach only', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['cat'], OpenStdin: true, Tty: true });
    await api('POST', `/containers/${id}/start`);
    const a = await raw(
      `POST /containers/${id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
      {
        write: (s) => {
          s.write('hi\n');
          setTimeout(() => s.write('\x01x'), 50);
        },
      },
    );
    expect(a.body.toString()).toContain('hi\r\n');
    expect(a.body[0]).not.toBe(1);
    expect(mainContainer(h.pods.get(id)).state.status).toBe('running');
    expect((await api('POST', `/containers/${id}/attach?stream=1&stdin=1&detachKeys=ctrl-`)).json).toEqual({
      message: 'Invalid detach keys (ctrl-) provided',
    });
  });

  test('websocket attach gets binary messages', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['sh', '-c', 'sleep 0.1; echo ws'] });
    const ws = new WebSocket(`ws+unix://${sock}:/containers/${id}/attach/ws?stream=1&stdout=1`);
    const got: Buffer[] = [];
    ws.on('message', (d: Buffer, isBinary: boolean) => {
      expect(isBinary).toBe(true);
      got.push(d);
    });
    await new Promise((r) => ws.once('open', r));
    await api('POST', `/containers/${id}/start`);
    await new Promise((r) => ws.once('close', r));
    expect(Buffer.concat(got).toString()).toBe('ws\n');
  });
});

describe('websocket attach and the session limits', () => {
  test('counts as an attach session while open, and is refused with 429 past the limit', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['sleep', '1000'] });
    await api('POST', `/containers/${id}/start`);
    const before = rawSessions.size;
    const ws = new WebSocket(`ws+unix://${sock}:/containers/${id}/attach/ws?stream=1&stdout=1`);
    await new Promise((r) => ws.once('open', r));
    expect(rawSessions.size).toBe(before + 1);
    ws.close();
    await new Promise((r) => ws.once('close', r));
    for (let i = 0; i < 50 && rawSessions.size !== before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(rawSessions.size).toBe(before);
    // The container's share of sessions taken (as by 64 open `docker attach`): refused.
    const held = Array.from({ length: MAX_SESSIONS_PER_TARGET }, () => rawSessions.acquire(id));
    try {
      const refused = new WebSocket(`ws+unix://${sock}:/containers/${id}/attach/ws?stream=1&stdout=1`);
      const answer = await new Promise<{ status: number; body: string }>((resolve) =>
        refused.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        }),
      );
      expect(answer.status).toBe(429);
      expect(JSON.parse(answer.body).message).toMatch(/too many open attach\/exec sessions for/);
    } finally {
      for (const r of held) r();
    }
    await api('POST', `/containers/${id}/kill`);
  });
});

describe('wait, logs, inspect, ps, events through dockerode', () => {
  test('wait answers headers at once and the exit code later', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['sh', '-c', 'sleep 0.2; exit 3'] });
    const gotHeaders = new Promise<number>((resolve) => {
      http
        .request({ socketPath: sock, method: 'POST', path: `/containers/${id}/wait?condition=next-exit` }, (res) => {
          resolve(Date.now());
          res.resume();
        })
        .end();
    });
    await new Promise((r) => setTimeout(r, 50));
    const before = Date.now();
    await docker.getContainer(id).start();
    expect(await gotHeaders).toBeLessThan(before + 150);
    expect(await docker.getContainer(id).wait()).toEqual({ StatusCode: 3 });
  });

  test('a client that goes away from wait does not break anything', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['sleep', '0.2'] });
    await api('POST', `/containers/${id}/start`);
    const req = http.request({ socketPath: sock, method: 'POST', path: `/containers/${id}/wait` });
    req.on('error', () => undefined);
    req.end();
    await new Promise((r) => setTimeout(r, 30));
    req.destroy();
    expect(await docker.getContainer(id).wait()).toEqual({ StatusCode: 0 });
  });

  test('logs: multiplexed frames, timestamps, tail, 400 without streams', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['sh', '-c', 'echo a; echo b; echo c >&2'] });
    await docker.getContainer(id).start();
    await docker.getContainer(id).wait();
    const buf = (await docker
      .getContainer(id)
      .logs({ stdout: true, stderr: true, timestamps: true, follow: false })) as unknown as Buffer;
    const frames = unframe(buf);
    expect(frames.map((f) => f.data.toString().replace(/^\S+ /, ''))).toEqual(
      expect.arrayContaining(['a\n', 'b\n', 'c\n']),
    );
    expect(frames[0].data.toString()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z a\n$/);
    const tail = unframe(
      (await docker.getContainer(id).logs({ stdout: true, tail: 1, follow: false })) as unknown as Buffer,
    );
    expect(tail.map((f) => f.data.toString())).toEqual(['b\n']);
    expect(await api('GET', `/containers/${id}/logs`)).toMatchObject({
      status: 400,
      json: { message: 'Bad parameters: you must choose at least one stream' },
    });
  });

  test("inspect has dockerd's top-level keys in order, and State/Config/HostConfig values", async () => {
    const id = await create(
      {
        Image: 'busybox',
        Cmd: ['sh', '-c', 'exit 2'],
        Labels: { a: 'b' },
        HostConfig: { RestartPolicy: { Name: 'no' } },
      },
      'insp',
    );
    await docker.getContainer(id).start();
    await docker.getContainer(id).wait();
    const j = (await api('GET', `/containers/insp/json`)).json as Record<string, unknown>;
    expect(Object.keys(j)).toEqual([
      'Id',
      'Created',
      'Path',
      'Args',
      'State',
      'Image',
      'ResolvConfPath',
      'HostnamePath',
      'HostsPath',
      'LogPath',
      'Name',
      'RestartCount',
      'Driver',
      'Platform',
      'MountLabel',
      'ProcessLabel',
      'AppArmorProfile',
      'ExecIDs',
      'HostConfig',
      'GraphDriver',
      'Mounts',
      'Config',
      'NetworkSettings',
    ]);
    expect(j).toMatchObject({
      Id: id,
      Name: '/insp',
      Path: 'sh',
      Args: ['-c', 'exit 2'],
      RestartCount: 0,
      Image: 'sha256:' + 'b'.repeat(64),
    });
    expect(Object.keys(j.State as object)).toEqual([
      'Status',
      'Running',
      'Paused',
      'Restarting',
      'OOMKilled',
      'Dead',
      'Pid',
      'ExitCode',
      'Error',
      'StartedAt',
      'FinishedAt',
    ]);
    expect(j.State).toMatchObject({ Status: 'exited', Running: false, ExitCode: 2, Pid: 0 });
    expect(j.Config).toMatchObject({
      Hostname: id.slice(0, 12),
      Image: 'busybox',
      Cmd: ['sh', '-c', 'exit 2'],
      Labels: { a: 'b' },
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    });
    expect(j.HostConfig).toMatchObject({
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      NetworkMode: 'default',
      LogConfig: { Type: 'json-file', Config: {} },
    });
    expect(j.LogPath).toBe(path.join(h.root, 'containers', id, `${id}-json.log`));
    const sized = (await api('GET', `/containers/${id}/json?size=1`)).json as Record<string, unknown>;
    expect(sized.SizeRw).toBe(4096);
  });

  test('ps: running only by default; all, filters in both encodings, limit, size', async () => {
    const a = await create({ Image: 'busybox', Cmd: ['sleep', '10'], Labels: { role: 'web' } }, 'alpha');
    const b = await create({ Image: 'busybox', Cmd: ['sh', '-c', 'exit 3'] }, 'beta');
    await create({ Image: 'busybox', Cmd: ['true'] }, 'gamma');
    await docker.getContainer(a).start();
    await docker.getContainer(b).start();
    await docker.getContainer(b).wait();
    const names = (l: unknown) => (l as Array<{ Names: string[] }>).map((x) => x.Names[0]).sort();
    expect(names((await api('GET', '/containers/json')).json)).toEqual(['/alpha']);
    expect(names((await api('GET', '/containers/json?all=1')).json)).toEqual(['/alpha', '/beta', '/gamma']);
    const f = (o: unknown) => `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify(o))}`;
    expect(names((await api('GET', f({ status: ['exited'] }))).json)).toEqual(['/beta']);
    expect(names((await api('GET', f({ status: { created: true } }))).json)).toEqual(['/gamma']);
    expect(names((await api('GET', f({ exited: ['3'] }))).json)).toEqual(['/beta']);
    expect(names((await api('GET', f({ label: ['role=web'] }))).json)).toEqual(['/alpha']);
    expect(names((await api('GET', f({ name: ['^/b'] }))).json)).toEqual(['/beta']);
    expect(names((await api('GET', f({ id: [b.slice(0, 8)] }))).json)).toEqual(['/beta']);
    expect(names((await api('GET', f({ ancestor: ['busybox'] }))).json)).toEqual(['/alpha', '/beta', '/gamma']);
    expect(names((await api('GET', f({ since: ['alpha'] }))).json)).toEqual(['/beta', '/gamma']);
    expect(names((await api('GET', f({ before: ['gamma'] }))).json)).toEqual(['/alpha', '/beta']);
    expect((await api('GET', '/containers/json?limit=1')).json).toHaveLength(1);
    expect(await api('GET', f({ bogus: ['x'] }))).toMatchObject({
      status: 400,
      json: { message: "Invalid filter 'bogus'" },
    });
    expect(await api('GET', f({ status: ['bogus'] }))).toMatchObject({
      status: 400,
      json: { message: "Invalid filter 'status=bogus'" },
    });
    const one = ((await api('GET', '/containers/json?size=1')).json as Array<Record<string, unknown>>)[0];
    expect(one).toMatchObject({
      Id: a,
      Image: 'busybox',
      Command: 'sleep 10',
      State: 'running',
      Status: expect.stringMatching(/^Up /),
      Labels: { role: 'web' },
      Ports: [],
      SizeRw: 4096,
    });
    expect(((await api('GET', f({ status: ['exited'] }))).json as Array<Record<string, unknown>>)[0]).toMatchObject({
      Command: "sh -c 'exit 3'",
      Status: expect.stringMatching(/^Exited \(3\) /),
    });
    await docker.getContainer(a).kill();
  });

  test('exec through dockerode: output, exit code, inspect', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['sleep', '10'] });
    await docker.getContainer(id).start();
    const ex = await docker
      .getContainer(id)
      .exec({ Cmd: ['sh', '-c', 'echo in-exec; exit 6'], AttachStdout: true, AttachStderr: true });
    const stream = await ex.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((r) => stream.on('end', r));
    expect(unframe(Buffer.concat(chunks)).map((f) => f.data.toString())).toEqual(['in-exec\n']);
    // The exit code is there as soon as the stream has ended (the docker CLI reads it then).
    const info = await ex.inspect();
    expect(info).toMatchObject({
      Running: false,
      ExitCode: 6,
      ContainerID: id,
      ProcessConfig: { entrypoint: 'sh', arguments: ['-c', 'echo in-exec; exit 6'] },
    });
    expect(await api('POST', `/containers/${id}/exec`, {})).toMatchObject({
      status: 400,
      json: { message: 'No exec command specified' },
    });
    // A TTY exec resized right after the hijack (before its process runs) gets that size.
    const tty = await docker.getContainer(id).exec({ Cmd: ['sh'], Tty: true, AttachStdin: true, AttachStdout: true });
    const ttyStream = await tty.start({ hijack: true, stdin: true, Tty: true });
    await tty.resize({ h: 33, w: 77 });
    let ttyOut = '';
    ttyStream.on('data', (b: Buffer) => (ttyOut += b.toString()));
    ttyStream.write('stty size\n');
    for (let i = 0; i < 100 && !ttyOut.includes('33 77'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(ttyOut).toContain('33 77\r\n');
    ttyStream.write('exit 2\n');
    await new Promise((r) => ttyStream.on('end', r));
    expect((await tty.inspect()).ExitCode).toBe(2);
    // A command that cannot start: dockerd's error text on the framed stdout, exit code 127.
    const bad = await docker.getContainer(id).exec({ Cmd: ['nosuchcmd'], AttachStdout: true, AttachStderr: true });
    const badStream = await bad.start({ hijack: true, stdin: false });
    const badChunks: Buffer[] = [];
    badStream.on('data', (ch: Buffer) => badChunks.push(ch));
    await new Promise((r) => badStream.on('end', r));
    expect(unframe(Buffer.concat(badChunks)).map((f) => [f.stream, f.data.toString()])).toEqual([
      [
        'stdout',
        'OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown\r\n',
      ],
    ]);
    expect((await bad.inspect()).ExitCode).toBe(126);
    const detached = await docker.getContainer(id).exec({ Cmd: ['sh', '-c', 'exit 4'] });
    const d = await api('POST', `/exec/${detached.id}/start`, { Detach: true });
    expect([d.status, d.text]).toEqual([200, '']);
    for (let i = 0; i < 50 && (await detached.inspect()).Running; i++) await new Promise((r) => setTimeout(r, 10));
    expect((await detached.inspect()).ExitCode).toBe(4);
    expect((await api('POST', `/exec/${detached.id}/start`, { Detach: true })).status).toBe(409);
    await docker.getContainer(id).kill();
  });

  test('events: live stream with legacy fields, since/until replay, filters', async () => {
    const t0 = Date.now() / 1000;
    const id = await create({ Image: 'busybox', Cmd: ['sh', '-c', 'exit 2'], Labels: { x: 'y' } }, 'ev');
    await docker.getContainer(id).start();
    await docker.getContainer(id).wait();
    const t1 = Date.now() / 1000 + 0.01;
    const r = await api('GET', `/events?since=${t0}&until=${t1}`);
    const events = r.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => e.Action)).toEqual(['create', 'start', 'die']);
    expect(events[2]).toEqual({
      status: 'die',
      id,
      from: 'busybox',
      Type: 'container',
      Action: 'die',
      Actor: { ID: id, Attributes: { x: 'y', image: 'busybox', name: 'ev', exitCode: '2' } },
      scope: 'local',
      time: expect.any(Number),
      timeNano: expect.any(Number),
    });
    const filtered = await api(
      'GET',
      `/events?since=${t0}&until=${t1}&filters=${encodeURIComponent(JSON.stringify({ event: ['die'] }))}`,
    );
    expect(
      filtered.text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).Action),
    ).toEqual(['die']);
    // Live: a subscriber sees a new container's events.
    const live: string[] = [];
    const req = http.request({ socketPath: sock, path: '/events' }, (res) =>
      res.on('data', (d: Buffer) =>
        live.push(
          ...d
            .toString()
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l).Action),
        ),
      ),
    );
    req.end();
    await new Promise((res) => setTimeout(res, 30));
    await create({ Image: 'busybox' });
    for (let i = 0; i < 50 && !live.includes('create'); i++) await new Promise((res) => setTimeout(res, 10));
    req.destroy();
    expect(live).toEqual(['create']);
  });

  test('/info counts containers; /version speaks 1.45', async () => {
    await create({ Image: 'busybox' });
    const info = (await api('GET', '/info')).json as Record<string, unknown>;
    expect(info).toMatchObject({ Containers: 1, ContainersRunning: 0, ContainersStopped: 1, OSType: 'linux' });
    const v = (await api('GET', '/version')).json as Record<string, unknown>;
    expect(v).toMatchObject({ ApiVersion: '1.45', MinAPIVersion: '1.24', Os: 'linux' });
  });

  test('stop, restart, pause, rename, update, prune via dockerode', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['trap-term'] }, 'c1');
    const c = docker.getContainer(id);
    await c.start();
    await c.pause();
    expect((await c.inspect()).State.Paused).toBe(true);
    await c.unpause();
    await c.rename({ name: 'c2' });
    expect((await c.inspect()).Name).toBe('/c2');
    await c.update({ RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 } });
    expect((await c.inspect()).HostConfig.RestartPolicy).toEqual({ Name: 'on-failure', MaximumRetryCount: 3 });
    await c.stop({ t: 5 });
    expect((await c.inspect()).State.ExitCode).toBe(0);
    await c.restart({ t: 0 });
    expect((await c.inspect()).State.Running).toBe(true);
    await c.kill();
    const pruned = (await api('POST', '/containers/prune')).json as { ContainersDeleted: string[] };
    expect(pruned.ContainersDeleted).toEqual([id]);
    expect(h.pods.list()).toHaveLength(0);
  });

  test('prune with an until it cannot read is a 400 and removes nothing (it used to prune everything)', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['true'] });
    const r = await api('POST', `/containers/prune?filters=${encodeURIComponent('{"until":["garbage"]}')}`);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ message: 'failed to parse value as time or duration: "garbage"' });
    expect(h.pods.list().map((p) => p.id)).toContain(id);
    const later = await api('POST', `/containers/prune?filters=${encodeURIComponent('{"until":["-1h"]}')}`);
    expect((later.json as { ContainersDeleted: string[] }).ContainersDeleted).toContain(id);
  });

  test('stats one-shot from the guest', async () => {
    const id = await create({ Image: 'busybox', Cmd: ['sleep', '10'] });
    await docker.getContainer(id).start();
    const s = (await api('GET', `/containers/${id}/stats?stream=false&one-shot=true`)).json as Record<
      string,
      Record<string, unknown>
    >;
    expect(s.memory_stats.limit).toBe(256 * 1024 * 1024);
    expect(s.cpu_stats.online_cpus).toBe(1);
    expect(s.name).toBe(`/${h.pods.get(id).name}`);
    await docker.getContainer(id).kill();
  });
});
