/**
 * The container scenario (create, run, logs, exec, ps, inspect, top, rename, pause, events),
 * written once and run through two real clients against
 * the real daemon (real QEMU VMs, the fixture registry): the stock docker CLI 28 and
 * dockerode. Each client gets its own daemon with a warm pool of 2 VMs. VM boots are kept
 * few: one long-running container ("svc") serves the logs, exec, ps, inspect, top, rename,
 * pause, events and daemon-crash checks.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the scenario reads loosely typed JSON from two different clients */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import Dockerode from 'dockerode';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { OutputWatcher } from '../helpers/output-watcher';
import { ptySession, type PtySession } from '../helpers/pty';
import { listVmProcesses } from '../helpers/leaks';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(180000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;
/** A container that logs a numbered line every 0.3 s and exits 0 on TERM. */
const TICKER = [
  'sh',
  '-c',
  'trap "echo bye; exit 0" TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.3; done',
];

interface Result {
  out: string;
  code: number;
}

interface RunOpts {
  name?: string;
  rm?: boolean;
  detach?: boolean;
  /** stdin content (docker run -i); its end closes the container's stdin. */
  input?: string;
  restart?: string;
  labels?: Record<string, string>;
}

interface PsEntry {
  name: string;
  state: string;
  status: string;
  command: string;
  image: string;
}

/** A terminal session (docker run -it, docker attach). */
interface Terminal {
  type(keys: string): void;
  expect(re: RegExp, from?: number): Promise<void>;
  mark(): number;
  resize(rows: number, cols: number): Promise<void>;
  /** The client's session ended (detach, or the container exited). */
  detached: Promise<void>;
  /** The container's exit code, once it exits. */
  exited: Promise<number>;
}

/** What the scenario needs from a client. Errors reject with the text the user would see. */
interface Client {
  name: string;
  pull(ref: string): Promise<void>;
  run(cmd: string[], o?: RunOpts): Promise<Result>;
  terminal(name: string, cmd: string[], rows: number, cols: number): Promise<Terminal>;
  /** docker attach to a running TTY container. */
  attachTerminal(name: string): Promise<Terminal>;
  /** docker exec -it. */
  execTerminal(name: string, cmd: string[], rows: number, cols: number): Promise<Terminal>;
  logs(name: string, o?: { tail?: number; timestamps?: boolean }): Promise<string>;
  /** logs -f --tail N: resolves with the first `lines` lines streamed. */
  follow(name: string, tail: number, lines: number): Promise<string[]>;
  exec(
    name: string,
    cmd: string[],
    o?: { env?: string[]; workdir?: string; user?: string; input?: string },
  ): Promise<Result>;
  stop(name: string, t?: number): Promise<void>;
  kill(name: string, signal: string): Promise<void>;
  wait(name: string): Promise<number>;
  start(name: string): Promise<void>;
  restart(name: string): Promise<void>;
  rmForce(name: string): Promise<void>;
  ps(o: { all?: boolean; filters?: string[] }): Promise<PsEntry[]>;
  inspect(name: string): Promise<Record<string, any>>;
  rename(from: string, to: string): Promise<void>;
  top(name: string): Promise<{ Titles: string[]; Processes: string[][] }>;
  /** docker create + docker start -a. */
  createThenStartAttached(name: string, cmd: string[]): Promise<Result>;
  /** Actions seen by an event listener (filtered on a container) while `during` runs. */
  events(container: string, during: () => Promise<void>, until: (actions: string[]) => boolean): Promise<string[]>;
  pause(name: string): Promise<void>;
  unpause(name: string): Promise<void>;
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
  timeout = 120000,
): Promise<Result & { err: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env, timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0;
      resolve({ out: String(stdout), err: String(stderr), code });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/**
 * A docker CLI session under a pseudo-terminal as a Terminal: the CLI exits when it detaches
 * or the container exits (with the container's code). `resize` resizes the terminal, if the
 * scenario needs it.
 */
function cliTerminal(
  t: PtySession,
  resize: (rows: number, cols: number) => Promise<void> = async () => undefined,
): Terminal {
  return {
    type: (k) => t.type(k),
    expect: (re, from = 0) => t.expect(re, 60000, from),
    mark: () => t.output().length,
    resize,
    detached: t.exited.then(() => undefined),
    exited: t.exited,
  };
}

/**
 * The terminal sizes the daemon applied to container `name`, as its `resize` events tell them
 * (`docker events`, from now on: `--since` replays what came before the listener subscribed).
 */
function appliedSizes(
  d: TestDaemon,
  name: string,
): { mark(): number; applied(rows: number, cols: number, from: number): Promise<void>; stop(): void } {
  const since = (Date.now() / 1000).toFixed(3);
  const seen = new OutputWatcher();
  const events = spawn(
    '/usr/local/bin/docker',
    [
      'events',
      '--since',
      since,
      '--filter',
      `container=${name}`,
      '--filter',
      'event=resize',
      '--format',
      '{{.Actor.Attributes.height}}x{{.Actor.Attributes.width}}',
    ],
    { env: d.env },
  );
  events.stdout.on('data', (b: Buffer) => seen.append(b));
  return {
    mark: () => seen.mark(),
    applied: async (rows, cols, from) => {
      try {
        await seen.expect(new RegExp(`^${rows}x${cols}$`, 'm'), 60000, from);
      } catch (err) {
        throw new Error(`the daemon did not resize ${name}'s terminal to ${rows}x${cols}: ${(err as Error).message}`);
      }
    },
    stop: () => events.kill(),
  };
}

function cliClient(d: TestDaemon): Client {
  const docker = async (args: string[], input?: string) => {
    const r = await run('/usr/local/bin/docker', args, d.env, input);
    return r;
  };
  const ok = async (args: string[], input?: string) => {
    const r = await docker(args, input);
    if (r.code !== 0) throw new Error(`${r.err.trim()}`.replace(/^Error response from daemon: /, ''));
    return r.out;
  };
  return {
    name: 'docker CLI',
    pull: async (ref) => {
      await ok(['pull', '-q', ref]);
    },
    run: async (cmd, o = {}) => {
      const args = ['run'];
      if (o.name) args.push('--name', o.name);
      if (o.rm) args.push('--rm');
      if (o.detach) args.push('-d');
      if (o.input !== undefined) args.push('-i');
      if (o.restart) args.push('--restart', o.restart);
      for (const [k, v] of Object.entries(o.labels ?? {})) args.push('--label', `${k}=${v}`);
      const r = await docker([...args, IMAGE, ...cmd], o.input);
      return { out: r.out + r.err, code: r.code };
    },
    terminal: async (name, cmd, rows, cols) => {
      const ttyFile = path.join(d.dataRoot, '..', `tty-${Date.now()}`);
      const quoted = cmd.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      const sizes = appliedSizes(d, name);
      const t = ptySession(
        `tty > ${ttyFile}; stty rows ${rows} cols ${cols}; exec docker run -it --rm --name ${name} ${IMAGE} ${quoted}`,
        d.env,
      );
      void t.exited.then(() => sizes.stop());
      // The CLI listens for SIGWINCH only once its first resize (to the terminal's size, after
      // the start) has been answered: a window resized before that is lost by the CLI, with
      // dockerd too (docker/cli's MonitorTtySize). A person cannot be that quick.
      try {
        await sizes.applied(rows, cols, 0);
      } catch (err) {
        t.kill();
        sizes.stop();
        throw err;
      }
      await new Promise((r) => setTimeout(r, 500));
      // A terminal resize as a user's window manager does it: the kernel sends SIGWINCH to the
      // CLI, which asks the daemon to resize; done when the daemon has applied it (the CLI's
      // request and the keys typed next travel apart, and the keys must not overtake it).
      return cliTerminal(t, async (r, c) => {
        const from = sizes.mark();
        const pts = fs.readFileSync(ttyFile, 'utf8').trim();
        await run('stty', ['-F', pts, 'rows', String(r), 'cols', String(c)], d.env);
        await sizes.applied(r, c, from);
      });
    },
    execTerminal: async (name, cmd, rows, cols) => {
      const t = ptySession(`stty rows ${rows} cols ${cols}; exec docker exec -it ${name} ${cmd.join(' ')}`, d.env);
      return cliTerminal(t);
    },
    attachTerminal: async (name) => {
      const t = ptySession(`exec docker attach ${name}`, d.env);
      // docker attach exits with the container's exit code.
      return cliTerminal(t);
    },
    logs: (name, o = {}) =>
      ok(['logs', ...(o.tail !== undefined ? ['--tail', String(o.tail)] : []), ...(o.timestamps ? ['-t'] : []), name]),
    follow: (name, tail, lines) => {
      const child = spawn('/usr/local/bin/docker', ['logs', '-f', '--tail', String(tail), name], { env: d.env });
      return firstLines(child.stdout, lines, 'logs -f', () => child.kill());
    },
    exec: async (name, cmd, o = {}) => {
      const args = ['exec'];
      if (o.input !== undefined) args.push('-i');
      for (const e of o.env ?? []) args.push('-e', e);
      if (o.workdir) args.push('-w', o.workdir);
      if (o.user) args.push('-u', o.user);
      const r = await docker([...args, name, ...cmd], o.input);
      return { out: r.out + r.err, code: r.code };
    },
    stop: async (name, t) => {
      await ok(['stop', ...(t !== undefined ? ['-t', String(t)] : []), name]);
    },
    kill: async (name, signal) => {
      await ok(['kill', '-s', signal, name]);
    },
    wait: async (name) => Number((await ok(['wait', name])).trim()),
    start: async (name) => {
      await ok(['start', name]);
    },
    restart: async (name) => {
      await ok(['restart', '-t', '1', name]);
    },
    rmForce: async (name) => {
      await ok(['rm', '-f', name]);
    },
    ps: async (o) => {
      const args = ['ps', '--no-trunc', '--format', '{{.Names}}|{{.State}}|{{.Status}}|{{.Command}}|{{.Image}}'];
      if (o.all) args.push('-a');
      for (const f of o.filters ?? []) args.push('--filter', f);
      return (await ok(args))
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [name, state, status, command, image] = l.split('|');
          return { name, state, status, command: command.replace(/^"|"$/g, ''), image };
        });
    },
    inspect: async (name) => JSON.parse(await ok(['inspect', name]))[0],
    rename: async (a, b) => {
      await ok(['rename', a, b]);
    },
    top: async (name) => {
      const lines = (await ok(['top', name])).trim().split('\n');
      const titles = lines[0].trim().split(/\s{2,}/);
      return { Titles: titles, Processes: lines.slice(1).map((l) => l.trim().split(/\s{2,}/)) };
    },
    createThenStartAttached: async (name, cmd) => {
      await ok(['create', '--name', name, IMAGE, ...cmd]);
      const r = await docker(['start', '-a', name]);
      return { out: r.out + r.err, code: r.code };
    },
    events: (container, during, until) =>
      new Promise((resolve, reject) => {
        const child = spawn(
          '/usr/local/bin/docker',
          ['events', '--filter', `container=${container}`, '--format', '{{.Action}}'],
          { env: d.env },
        );
        let buf = '';
        let done = false;
        const finish = () => {
          if (done) return;
          const actions = buf.split('\n').filter(Boolean);
          if (!until(actions)) return;
          done = true;
          clearTimeout(timer);
          child.kill();
          resolve(actions);
        };
        child.stdout.on('data', (c: Buffer) => {
          buf += c.toString();
          finish();
        });
        const timer = setTimeout(() => {
          if (!done) {
            child.kill();
            reject(new Error(`events seen: ${buf}`));
          }
        }, 60000);
        // Give the listener a moment to subscribe before acting.
        setTimeout(() => void during().catch(reject), 500);
      }),
    pause: async (name) => {
      await ok(['pause', name]);
    },
    unpause: async (name) => {
      await ok(['unpause', name]);
    },
  };
}

function demux(api: Dockerode, stream: NodeJS.ReadableStream): { text(): string; ended: Promise<void> } {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  api.modem.demuxStream(stream, out, out);
  const ended = new Promise<void>((r) => {
    stream.on('end', r);
    stream.on('close', r);
  });
  return { text: () => Buffer.concat(chunks).toString(), ended };
}

/**
 * The first `lines` non-empty lines of a followed log stream; `stop` ends the stream once they
 * have arrived, or after 60 s, when the promise rejects with what did arrive.
 */
function firstLines(out: NodeJS.ReadableStream, lines: number, what: string, stop: () => void): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => {
      stop();
      reject(new Error(`${what} gave only: ${buf}`));
    }, 60000);
    out.on('data', (c: Buffer) => {
      buf += c.toString();
      const got = buf.split('\n').filter(Boolean);
      if (got.length >= lines) {
        clearTimeout(t);
        stop();
        resolve(got.slice(0, lines));
      }
    });
  });
}

/** A hijacked TTY attach through dockerode (stdin, raw output). */
async function ttyAttach(ctr: Dockerode.Container): Promise<Omit<Terminal, 'resize' | 'exited'>> {
  const stream = (await ctr.attach({
    stream: true,
    stdin: true,
    stdout: true,
    stderr: true,
    hijack: true,
  })) as unknown as NodeJS.ReadWriteStream;
  return terminalOverStream(stream);
}

/** Keys in, raw terminal output out, over a hijacked TTY stream (attach or exec). */
function terminalOverStream(stream: NodeJS.ReadWriteStream): Omit<Terminal, 'resize' | 'exited'> {
  const watcher = new OutputWatcher();
  stream.on('data', (b: Buffer) => watcher.append(b));
  const detached = new Promise<void>((r) => {
    stream.on('end', r);
    stream.on('close', r);
  });
  return {
    type: (k) => {
      stream.write(k);
    },
    mark: () => watcher.mark(),
    expect: (re, from = 0) => watcher.expect(re, 60000, from),
    detached,
  };
}

function dockerodeClient(d: TestDaemon): Client {
  const api = new Dockerode({ socketPath: d.socketPath });
  const rethrow = (err: any): never => {
    const msg: string = err?.json?.message ?? String(err?.message ?? err).replace(/^\(HTTP code \d+\) [^-]*- /, '');
    throw new Error(msg.trim());
  };
  const c = (name: string) => api.getContainer(name);
  const runOnce = async (cmd: string[], o: RunOpts): Promise<Result> => {
    const ctr = await api
      .createContainer({
        Image: IMAGE,
        Cmd: cmd,
        name: o.name,
        Labels: o.labels,
        AttachStdin: o.input !== undefined,
        AttachStdout: !o.detach,
        AttachStderr: !o.detach,
        OpenStdin: o.input !== undefined,
        StdinOnce: o.input !== undefined,
        HostConfig: { AutoRemove: !!o.rm, ...(o.restart ? { RestartPolicy: parsePolicy(o.restart) } : {}) },
      })
      .catch(rethrow);
    if (o.detach) {
      await ctr.start().catch(rethrow);
      return { out: ctr.id, code: 0 };
    }
    const stream = (await ctr.attach({
      stream: true,
      stdin: o.input !== undefined,
      stdout: true,
      stderr: true,
      hijack: true,
    })) as unknown as NodeJS.ReadWriteStream;
    const out = demux(api, stream);
    const waiting = ctr.wait({ condition: o.rm ? 'removed' : 'next-exit' });
    await ctr.start().catch(rethrow);
    if (o.input !== undefined) stream.end(o.input);
    const w = (await waiting) as { StatusCode: number };
    await out.ended;
    return { out: out.text(), code: w.StatusCode };
  };
  return {
    name: 'dockerode',
    pull: async (ref) => {
      const s = (await api.pull(ref).catch(rethrow)) as NodeJS.ReadableStream;
      await new Promise((resolve, reject) =>
        api.modem.followProgress(s, (err: Error | null) => (err ? reject(err) : resolve(undefined))),
      );
    },
    run: (cmd, o = {}) => runOnce(cmd, o),
    terminal: async (name, cmd, rows, cols) => {
      const ctr = await api.createContainer({
        name,
        Image: IMAGE,
        Cmd: cmd,
        Tty: true,
        OpenStdin: true,
        StdinOnce: true,
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        HostConfig: { AutoRemove: true },
      });
      const waiting = ctr.wait({ condition: 'removed' });
      const t = await ttyAttach(ctr);
      await ctr.start();
      await ctr.resize({ h: rows, w: cols });
      return {
        ...t,
        resize: async (r, cl) => void (await ctr.resize({ h: r, w: cl })),
        exited: waiting.then((w: any) => w.StatusCode as number),
      };
    },
    execTerminal: async (name, cmd, rows, cols) => {
      const x = await c(name).exec({ Cmd: cmd, Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
      const stream = (await x.start({ hijack: true, stdin: true, Tty: true })) as unknown as NodeJS.ReadWriteStream;
      await x.resize({ h: rows, w: cols });
      const t = terminalOverStream(stream);
      return {
        ...t,
        resize: async (r, cl) => void (await x.resize({ h: r, w: cl })),
        exited: t.detached.then(async () => (await x.inspect()).ExitCode ?? -1),
      };
    },
    attachTerminal: async (name) => {
      const ctr = c(name);
      const waiting = ctr.wait({ condition: 'removed' });
      const t = await ttyAttach(ctr);
      return {
        ...t,
        resize: async (r, cl) => void (await ctr.resize({ h: r, w: cl })),
        exited: waiting.then((w: any) => w.StatusCode as number),
      };
    },
    logs: async (name, o = {}) => {
      const buf = (await c(name)
        .logs({
          stdout: true,
          stderr: true,
          follow: false,
          ...(o.tail !== undefined ? { tail: o.tail } : {}),
          timestamps: !!o.timestamps,
        })
        .catch(rethrow)) as unknown as Buffer;
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (b: Buffer) => chunks.push(b));
      // A Buffer of stdcopy frames: split them the way docker-modem does for streams.
      let off = 0;
      while (off + 8 <= buf.length) {
        const len = buf.readUInt32BE(off + 4);
        chunks.push(buf.subarray(off + 8, off + 8 + len));
        off += 8 + len;
      }
      return Buffer.concat(chunks).toString();
    },
    follow: async (name, tail, lines) => {
      const stream = (await c(name).logs({
        stdout: true,
        stderr: true,
        follow: true,
        tail,
      })) as unknown as NodeJS.ReadableStream & { destroy(): void };
      const out = new PassThrough();
      api.modem.demuxStream(stream, out, out);
      return firstLines(out, lines, 'follow', () => stream.destroy());
    },
    exec: async (name, cmd, o = {}) => {
      const x = await c(name)
        .exec({
          Cmd: cmd,
          Env: o.env,
          WorkingDir: o.workdir,
          User: o.user,
          AttachStdout: true,
          AttachStderr: true,
          AttachStdin: o.input !== undefined,
        })
        .catch(rethrow);
      const stream = (await x.start({
        hijack: true,
        stdin: o.input !== undefined,
      })) as unknown as NodeJS.ReadWriteStream;
      const out = demux(api, stream);
      if (o.input !== undefined) stream.end(o.input);
      await out.ended;
      const info = await x.inspect();
      return { out: out.text(), code: info.ExitCode ?? -1 };
    },
    stop: async (name, t) => {
      await c(name)
        .stop(t !== undefined ? { t } : {})
        .catch(rethrow);
    },
    kill: async (name, signal) => {
      await c(name).kill({ signal }).catch(rethrow);
    },
    wait: async (name) => ((await c(name).wait().catch(rethrow)) as { StatusCode: number }).StatusCode,
    start: async (name) => {
      await c(name).start().catch(rethrow);
    },
    restart: async (name) => {
      await c(name).restart({ t: 1 }).catch(rethrow);
    },
    rmForce: async (name) => {
      await c(name).remove({ force: true }).catch(rethrow);
    },
    ps: async (o) => {
      const filters: Record<string, string[]> = {};
      for (const f of o.filters ?? []) {
        const i = f.indexOf('=');
        (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1));
      }
      const list = await api.listContainers({ all: !!o.all, filters });
      return list.map((x) => ({
        name: x.Names[0].slice(1),
        state: x.State,
        status: x.Status,
        command: x.Command,
        image: x.Image,
      }));
    },
    inspect: (name) => c(name).inspect().catch(rethrow) as Promise<Record<string, any>>,
    rename: async (a, b) => {
      await c(a).rename({ name: b }).catch(rethrow);
    },
    top: (name) => c(name).top().catch(rethrow) as Promise<{ Titles: string[]; Processes: string[][] }>,
    createThenStartAttached: async (name, cmd) => {
      const ctr = await api
        .createContainer({ Image: IMAGE, Cmd: cmd, name, AttachStdout: true, AttachStderr: true })
        .catch(rethrow);
      const stream = (await ctr.attach({
        stream: true,
        stdout: true,
        stderr: true,
        hijack: true,
      })) as unknown as NodeJS.ReadableStream;
      const out = demux(api, stream);
      const waiting = ctr.wait({ condition: 'next-exit' });
      await ctr.start();
      const w = (await waiting) as { StatusCode: number };
      await out.ended;
      return { out: out.text(), code: w.StatusCode };
    },
    events: async (container, during, until) => {
      const stream = (await api.getEvents({
        filters: { container: [container] },
      })) as unknown as NodeJS.ReadableStream & { destroy(): void };
      const actions: string[] = [];
      let buf = '';
      const done = new Promise<string[]>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`events seen: ${actions.join(',')}`)), 60000);
        stream.on('data', (b: Buffer) => {
          buf += b.toString();
          const lines = buf.split('\n');
          buf = lines.pop() ?? '';
          for (const l of lines.filter(Boolean)) actions.push(JSON.parse(l).Action);
          if (until(actions)) {
            clearTimeout(t);
            stream.destroy();
            resolve(actions);
          }
        });
      });
      await during();
      return done;
    },
    pause: async (name) => {
      await c(name).pause().catch(rethrow);
    },
    unpause: async (name) => {
      await c(name).unpause().catch(rethrow);
    },
  };
}

function parsePolicy(p: string): { Name: string; MaximumRetryCount?: number } {
  const [name, max] = p.split(':');
  return max ? { Name: name, MaximumRetryCount: Number(max) } : { Name: name };
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.each([
  ['docker CLI', cliClient],
  ['dockerode', dockerodeClient],
])('containers through %s', (_label, makeClient) => {
  let d: TestDaemon;
  let c: Client;
  beforeAll(async () => {
    d = await startDaemon({ vmPoolSize: 2 });
    c = makeClient(d);
    await c.pull(IMAGE);
  });
  afterAll(async () => {
    if (!d) return;
    // Remove what is left so no VM or mount outlives the daemon.
    for (const p of await c.ps({ all: true }).catch(() => [] as PsEntry[]))
      await c.rmForce(p.name).catch(() => undefined);
    await stopDaemonLeavingNothing(d);
  });

  test('run --rm echo hi prints hi, exits 0 and leaves no container', async () => {
    expect(await c.run(['echo', 'hi'], { rm: true })).toEqual({ out: 'hi\n', code: 0 });
    expect(await c.ps({ all: true })).toEqual([]);
  });

  test('exit codes pass through, and stdin is piped with -i', async () => {
    expect((await c.run(['sh', '-c', 'exit 7'], { rm: true })).code).toBe(7);
    expect(await c.run(['cat'], { rm: true, input: 'hi from stdin\n' })).toEqual({ out: 'hi from stdin\n', code: 0 });
  });

  test('run -it: typed input, Ctrl-C, stty size after a resize, detach keys, attach again, exit code', async () => {
    // A failure must not leave tty1 running: later tests count the running containers.
    try {
      const t = await c.terminal('tty1', ['sh'], 30, 90);
      await t.expect(/# /);
      let m = t.mark();
      t.type('stty size\r');
      await t.expect(/30 90\r\n/, m);
      await t.resize(50, 120);
      m = t.mark();
      t.type('stty size\r');
      await t.expect(/50 120\r\n/, m);
      m = t.mark();
      t.type('echo sleeping; sleep 100\r');
      await t.expect(/sleeping\r\n/, m);
      // Let the shell make sleep the terminal's foreground job (a person is never this quick).
      await new Promise((r) => setTimeout(r, 1000));
      t.type('\x03');
      m = t.mark();
      t.type('echo typed-$((6*7))\r');
      await t.expect(/typed-42\r\n/, m);
      // ctrl-p ctrl-q: the client goes, the container stays.
      t.type('\x10\x11');
      await t.detached;
      expect((await c.ps({ filters: ['name=tty1'] })).map((p) => p.state)).toEqual(['running']);
      const again = await c.attachTerminal('tty1');
      m = again.mark();
      again.type('echo back-$((2+2))\r');
      await again.expect(/back-4\r\n/, m);
      again.type('exit 3\r');
      expect(await again.exited).toBe(3);
    } finally {
      await c.rmForce('tty1').catch(() => undefined);
    }
  });

  test('run -d, then logs, logs --tail, timestamps and logs -f --tail 2', async () => {
    await c.run(TICKER, { name: 'svc', detach: true, labels: { role: 'ticker' } });
    const logs = await until(
      () => c.logs('svc'),
      (l) => l.includes('tick 3'),
    );
    expect(logs.startsWith('tick 0\ntick 1\ntick 2\ntick 3\n')).toBe(true);
    const tail = (await c.logs('svc', { tail: 2 })).trim().split('\n');
    expect(tail).toHaveLength(2);
    expect(tail[0]).toMatch(/^tick \d+$/);
    const ts = (await c.logs('svc', { tail: 1, timestamps: true })).trim();
    expect(ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+$/);
    const followed = await c.follow('svc', 2, 4);
    const n = followed.map((l) => Number(l.split(' ')[1]));
    // Two old lines, then new ones as they come, in order.
    expect(n).toEqual([n[0], n[0] + 1, n[0] + 2, n[0] + 3]);
  });

  test('exec: exit codes, -e, -w, -u, stdin, -it', async () => {
    expect(await c.exec('svc', ['sh', '-c', 'echo in-exec; exit 5'])).toEqual({ out: 'in-exec\n', code: 5 });
    const r = await c.exec('svc', ['sh', '-c', 'echo $FOO; pwd; id -u'], {
      env: ['FOO=bar'],
      workdir: '/tmp',
      user: 'nobody',
    });
    expect(r).toEqual({ out: 'bar\n/tmp\n65534\n', code: 0 });
    expect(await c.exec('svc', ['cat'], { input: 'piped\n' })).toEqual({ out: 'piped\n', code: 0 });
    // dockerd records 126 for any exec that cannot start, a missing command included.
    expect((await c.exec('svc', ['nosuchcmd'])).code).toBe(126);
    // exec -it: a terminal of the asked size, typed input, the exit code.
    const t = await c.execTerminal('svc', ['sh'], 33, 77);
    let m = t.mark();
    t.type('stty size\r');
    await t.expect(/33 77\r\n/, m);
    m = t.mark();
    t.type('echo $((20+22)) $TERM\r');
    await t.expect(/42 xterm\r\n/, m);
    t.type('exit 2\r');
    expect(await t.exited).toBe(2);
  });

  test('ps with filters and fields; inspect State, Config, HostConfig; top; rename', async () => {
    await c.run(['sh', '-c', 'exit 3'], { name: 'failed' });
    const running = await c.ps({});
    expect(running.map((p) => p.name)).toEqual(['svc']);
    expect(running[0]).toMatchObject({ state: 'running', image: IMAGE, status: expect.stringMatching(/^Up /) });
    expect(running[0].command).toContain('sh -c');
    expect(
      (await c.ps({ all: true, filters: ['status=exited'] })).map((p) => [p.name, p.status.replace(/\) .*/, ')')]),
    ).toEqual([['failed', 'Exited (3)']]);
    expect((await c.ps({ all: true, filters: ['exited=3'] })).map((p) => p.name)).toEqual(['failed']);
    expect((await c.ps({ all: true, filters: ['label=role=ticker'] })).map((p) => p.name)).toEqual(['svc']);
    expect((await c.ps({ all: true, filters: ['name=fail'] })).map((p) => p.name)).toEqual(['failed']);
    const i = await c.inspect('svc');
    expect(i.Name).toBe('/svc');
    expect(i.State).toMatchObject({ Status: 'running', Running: true, Paused: false, ExitCode: 0, Error: '' });
    expect(i.State.Pid).toBeGreaterThan(0);
    expect(i.Config).toMatchObject({
      Image: IMAGE,
      Cmd: TICKER,
      Labels: { role: 'ticker' },
      Hostname: i.Id.slice(0, 12),
    });
    expect(i.HostConfig).toMatchObject({
      RestartPolicy: { Name: expect.stringMatching(/^(no|)$/) },
      LogConfig: { Type: 'json-file' },
    });
    expect(fs.existsSync(i.LogPath)).toBe(true);
    const f = await c.inspect('failed');
    expect(f.State).toMatchObject({ Status: 'exited', Running: false, ExitCode: 3 });
    const top = await c.top('svc');
    expect(top.Titles).toContain('PID');
    const cmdCol = top.Titles.length - 1;
    expect(top.Processes.map((p) => p[cmdCol]).join('\n')).toContain('while true');
    await c.rename('failed', 'failed2');
    expect((await c.ps({ all: true, filters: ['status=exited'] })).map((p) => p.name)).toEqual(['failed2']);
    await c.rmForce('failed2');
  });

  test('pause and unpause freeze and thaw the container', async () => {
    await c.pause('svc');
    expect((await c.inspect('svc')).State).toMatchObject({ Status: 'paused', Paused: true, Running: true });
    const before = (await c.logs('svc')).length;
    await new Promise((r) => setTimeout(r, 1000));
    expect((await c.logs('svc')).length).toBe(before);
    await c.unpause('svc');
    await until(
      () => c.logs('svc'),
      (l) => l.length > before,
    );
    expect((await c.inspect('svc')).State.Status).toBe('running');
  });

  test('the daemon killed with SIGKILL and restarted: svc is still listed, running, and its output reachable', async () => {
    await d.kill9();
    await d.restart();
    const ps = await c.ps({});
    expect(ps.map((p) => [p.name, p.state])).toEqual([['svc', 'running']]);
    const last = (await c.logs('svc', { tail: 1 })).trim();
    const next = await until(
      () => c.logs('svc', { tail: 1 }),
      (l) => l.trim() !== last,
    );
    expect(Number(next.trim().split(' ')[1])).toBeGreaterThan(Number(last.split(' ')[1]));
    expect((await c.exec('svc', ['echo', 'still here'])).out).toBe('still here\n');
  });

  test('events while a container runs: kill, die, stop with restart (start), then restart and kill -s', async () => {
    const seen = await c.events(
      'svc',
      () => c.restart('svc'),
      (a) => a.includes('restart'),
    );
    expect(seen).toEqual(expect.arrayContaining(['kill', 'die', 'stop', 'start', 'restart']));
    expect(seen.indexOf('die')).toBeLessThan(seen.indexOf('start'));
    expect((await c.inspect('svc')).State.Running).toBe(true);
    // The new run has set its TERM trap once it printed its first line after the old "bye".
    await until(
      () => c.logs('svc'),
      (l) => l.includes('bye\ntick 0\n'),
    );
    await c.kill('svc', 'TERM');
    expect(await c.wait('svc')).toBe(0);
    expect((await c.logs('svc', { tail: 1 })).trim()).toBe('bye');
  });

  test('stop: a process that traps TERM exits 0; one that ignores it is killed after -t 2', async () => {
    await c.start('svc');
    // As after the restart above: wait for the new run's trap before sending TERM.
    await until(
      () => c.logs('svc'),
      (l) => l.split('bye\ntick 0\n').length >= 3,
    );
    await c.stop('svc');
    expect((await c.inspect('svc')).State).toMatchObject({ Status: 'exited', ExitCode: 0 });
    await c.run(['sh', '-c', 'trap "" TERM; echo ignoring; while true; do sleep 0.2; done'], {
      name: 'stubborn',
      detach: true,
    });
    await until(
      () => c.logs('stubborn'),
      (l) => l.includes('ignoring'),
    );
    const t0 = Date.now();
    await c.stop('stubborn', 2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect((await c.inspect('stubborn')).State.ExitCode).toBe(137);
  });

  test('rm -f of a running container', async () => {
    await c.start('stubborn');
    await c.rmForce('stubborn');
    expect((await c.ps({ all: true })).map((p) => p.name)).toEqual(['svc']);
  });

  test('a VM that dies under a running container: exited 255 with State.Error and a die event', async () => {
    await c.run(['sleep', '1000'], { name: 'doomed', detach: true });
    const id = (await c.inspect('doomed')).Id as string;
    // The daemon's own record says which VM runs it; its QEMU is named after the VM.
    const vmId = JSON.parse(fs.readFileSync(path.join(d.dataRoot, 'containers', id, 'config.v2.json'), 'utf8')).sandbox
      .vmId as string;
    const qemu = listVmProcesses().find((p) => p.cmdline.includes(`podvisor-${vmId}`));
    expect(qemu).toBeDefined();
    const seen = await c.events(
      'doomed',
      async () => {
        process.kill(qemu!.pid, 'SIGKILL');
      },
      (a) => a.includes('die'),
    );
    expect(seen).toContain('die');
    expect(await c.wait('doomed')).toBe(255);
    const st = (await c.inspect('doomed')).State;
    expect(st).toMatchObject({ Status: 'exited', Running: false, ExitCode: 255 });
    expect(st.Error).toMatch(/VM .* exited unexpectedly/);
    await c.rmForce('doomed');
  });

  test('create + start -a prints the output and gives the exit code', async () => {
    expect(await c.createThenStartAttached('later', ['sh', '-c', 'echo made; exit 4'])).toEqual({
      out: 'made\n',
      code: 4,
    });
  });

  test('--restart on-failure:2 restarts twice, then stays exited', async () => {
    await c.run(['sh', '-c', 'echo attempt; exit 1'], { name: 'flaky', detach: true, restart: 'on-failure:2' });
    const i = await until(
      () => c.inspect('flaky'),
      (x) => x.RestartCount === 2 && x.State.Status === 'exited',
      90000,
    );
    expect(i.RestartCount).toBe(2);
    expect(i.State.ExitCode).toBe(1);
    expect((await c.logs('flaky')).trim().split('\n')).toEqual(['attempt', 'attempt', 'attempt']);
  });
});
