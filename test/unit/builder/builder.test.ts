/**
 * The classic builder's step walk over an in-memory backend: the output stream, one image per
 * step, the cache (a second build runs nothing; nocache runs again; a changed file misses),
 * --target, build args in RUN's env and history, and a failing RUN's error with its code.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { stepContainerRecord, type BuildBackend, type StepImage } from '../../../src/builder/backend';
import type { ImageConfig } from '../../../src/storage/types';
import { Builder, BuildError, type BuildMessage, type BuildOptions } from '../../../src/builder/builder';
import { BuildCache } from '../../../src/builder/cache';
import { parseDockerfile } from '../../../src/dockerfile/parse';

/** Images in a map; RUN "runs" by recording its command and env. */
class FakeBackend implements BuildBackend {
  images = new Map<string, ImageConfig>();
  runs: Array<{ cmd: string[]; env: string[] }> = [];
  /** Every step that made an image, in order. */
  steps: StepImage[] = [];
  writes = 0;
  exitCode = 0;
  /** Containers created and not yet removed. */
  containers = new Set<string>();
  private made = 0;
  constructor() {
    this.images.set('sha256:' + 'b'.repeat(64), {
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/bin'], Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: ['sha256:' + '1'.repeat(64)] },
    });
  }
  findImage(ref: string) {
    const id = ref === 'base' ? 'sha256:' + 'b'.repeat(64) : ref;
    const config = this.images.get(id);
    return config ? { id, config } : undefined;
  }
  async pullImage(ref: string): Promise<{ id: string; config: ImageConfig }> {
    throw new Error(`no such image ${ref}`);
  }
  private add(step: StepImage): string {
    this.steps.push(step);
    const id =
      'sha256:' +
      crypto.createHash('sha256').update(`${step.parentId}${step.createdBy}${this.images.size}`).digest('hex');
    this.images.set(id, {
      architecture: 'amd64',
      os: 'linux',
      config: step.config,
      rootfs: { type: 'layers', diff_ids: [] },
    });
    return id;
  }
  async configImage(step: StepImage) {
    return this.add(step);
  }
  async createStep() {
    const id = String(++this.made).padStart(64, 'e');
    this.containers.add(id);
    return id;
  }
  async run(
    _step: StepImage,
    cmd: string[],
    env: string[],
    onStart: (id: string) => void,
    out: (c: Buffer, s: 'stdout' | 'stderr') => void,
    _signal?: AbortSignal,
  ) {
    this.runs.push({ cmd, env });
    this.containers.add('c'.repeat(64));
    onStart('c'.repeat(64));
    out(Buffer.from('output of the step\n'), 'stdout');
    out(Buffer.from('complaint\n'), 'stderr');
    return { containerId: 'c'.repeat(64), exitCode: this.exitCode };
  }
  async commit(_id: string, step: StepImage) {
    return this.add(step);
  }
  async write(step: StepImage) {
    this.writes++;
    return this.add(step);
  }
  async readImage<T>(): Promise<T> {
    throw new Error('not in this test');
  }
  async removeContainer(id: string) {
    this.containers.delete(id);
  }
  tagged: Array<{ id: string; refs: string[] }> = [];
  async tag(id: string, refs: string[]) {
    this.tagged.push({ id, refs });
  }
  squashed: Array<{ id: string; base: string | undefined }> = [];
  async squash(id: string, base: string | undefined) {
    this.squashed.push({ id, base });
    return 'sha256:' + '5'.repeat(64);
  }
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-builder-'));
  fs.writeFileSync(path.join(dir, 'f.txt'), 'one');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const OPTS: BuildOptions = {
  tags: ['app:1'],
  quiet: false,
  noCache: false,
  rm: true,
  forceRm: false,
  pull: false,
  buildArgs: {},
  labels: {},
};

async function build(backend: FakeBackend, text: string, opts: Partial<BuildOptions> = {}) {
  const msgs: BuildMessage[] = [];
  const cache = new BuildCache(path.join(dir, 'cache.json'));
  const id = await new Builder(backend, cache, dir, { ...OPTS, ...opts }, (m) => msgs.push(m)).build(
    parseDockerfile(text),
  );
  const out = msgs.map((m) => ('stream' in m ? m.stream : '')).join('');
  return { id, out, msgs };
}

const DF = 'FROM base AS first\nARG WHO=world\nENV A=1\nCOPY f.txt /f.txt\nRUN echo hi $WHO\nFROM first\nCMD ["x"]\n';

test('one image per step, the classic output, then a cached rebuild that runs nothing', async () => {
  const b = new FakeBackend();
  const first = await build(b, DF, { buildArgs: { WHO: 'you', UNUSED: 'x' } });
  expect(first.out).toContain('Step 1/7 : FROM base AS first\n ---> bbbbbbbbbbbb\n');
  expect(first.msgs.slice(0, 2)).toEqual([{ stream: 'Step 1/7 : FROM base AS first' }, { stream: '\n' }]);
  expect(first.out).toContain(
    'Step 5/7 : RUN echo hi $WHO\n ---> Running in cccccccccccc\noutput of the step\n\x1b[91mcomplaint\n\x1b[0mRemoving intermediate container cccccccccccc\n',
  );
  expect(first.out).toContain('[Warning] One or more build-args [UNUSED] were not consumed\n');
  expect(first.out).toMatch(/Successfully built [0-9a-f]{12}\nSuccessfully tagged app:1\n$/);
  expect(first.msgs).toContainEqual({ aux: { ID: first.id } });
  expect(b.runs).toEqual([{ cmd: ['/bin/sh', '-c', 'echo hi $WHO'], env: ['PATH=/bin', 'A=1', 'WHO=you'] }]);
  expect(b.images.get(first.id)?.config?.Cmd).toEqual(['x']);

  const again = await build(b, DF, { buildArgs: { WHO: 'you' } });
  expect(again.id).toBe(first.id);
  expect(b.runs).toHaveLength(1);
  expect(b.writes).toBe(1);
  expect(again.out.match(/Using cache/g)).toHaveLength(5);

  // Another build arg value is another RUN (the args are part of its key).
  await build(b, DF, { buildArgs: { WHO: 'them' } });
  expect(b.runs).toHaveLength(2);
  // A changed file misses from the COPY on.
  fs.writeFileSync(path.join(dir, 'f.txt'), 'two');
  await build(b, DF, { buildArgs: { WHO: 'them' } });
  expect(b.writes).toBe(2);
  expect(b.runs).toHaveLength(3);
  // nocache runs every step again.
  await build(b, DF, { buildArgs: { WHO: 'them' }, noCache: true });
  expect(b.runs).toHaveLength(4);
});

test('--cache-from: only the named images and their parents are reused; unknown names mean no cache', async () => {
  const b = new FakeBackend();
  const first = await build(b, DF);
  const hits = async (sources: string[]) =>
    (await build(b, DF, { cacheSources: new Set(sources) })).out.match(/Using cache/g)?.length ?? 0;
  // Every step image of the first build (what the API finds as the image and its parents).
  const chain = [...b.images.keys()].filter((id) => id !== 'sha256:' + 'b'.repeat(64));
  expect(chain).toContain(first.id);
  expect(await hits(chain)).toBe(5);
  // Nothing that exists (docker-py's cache_from=['nosuchtag']): every step runs again.
  const runs = b.runs.length;
  expect(await hits([])).toBe(0);
  expect(b.runs.length).toBe(runs + 1);
  // That build made new images for the same steps; the first build's are still found.
  expect(await hits(chain)).toBe(5);
  expect(b.runs.length).toBe(runs + 1);
  // The base image alone offers no step to reuse.
  expect(await hits(['sha256:' + 'b'.repeat(64)])).toBe(0);
});

test("a client that hangs up cancels the build: no step after, the running step's container killed and removed", async () => {
  const b = new FakeBackend();
  const hangup = new AbortController();
  const seen: Array<AbortSignal | undefined> = [];
  const run = b.run.bind(b);
  b.run = async (
    step: StepImage,
    cmd: string[],
    env: string[],
    onStart: (id: string) => void,
    out: (c: Buffer, s: 'stdout' | 'stderr') => void,
    signal?: AbortSignal,
  ) => {
    seen.push(signal);
    hangup.abort(); // the client goes away while the step runs
    return run(step, cmd, env, onStart, out);
  };
  const df = 'FROM base\nRUN echo one\nRUN echo two\nENV X=1\n';
  const err = await build(b, df, { signal: hangup.signal, forceRm: false }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BuildError);
  expect((err as Error).message).toBe('Build cancelled');
  expect(seen).toEqual([hangup.signal]);
  expect(b.runs).toHaveLength(1);
  expect(b.containers.size).toBe(0);
  // Aborted before it starts: nothing runs at all.
  const none = await build(new FakeBackend(), df, { signal: hangup.signal }).catch((e: unknown) => e);
  expect((none as Error).message).toBe('Build cancelled');
});

test('--target stops at the stage; a failing RUN gives its exit code', async () => {
  const b = new FakeBackend();
  const t = await build(b, DF, { target: 'first' });
  expect(t.out).toContain('Step 5/5 : RUN');
  expect(b.images.get(t.id)?.config?.Cmd).toEqual(['sh']);
  await expect(build(b, DF, { target: 'nope' })).rejects.toThrow('failed to reach build target nope in Dockerfile');
  b.exitCode = 7;
  const err = await build(b, DF, { noCache: true }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(BuildError);
  expect(err).toMatchObject({ message: "The command '/bin/sh -c echo hi $WHO' returned a non-zero code: 7", code: 7 });
});

test('config steps run in a created container too; quiet, rm=false and forcerm change the stream as in dockerd', async () => {
  const b = new FakeBackend();
  const text = 'FROM base\nENV A=1\nRUN exit 0\nLABEL x=y\n';
  const first = await build(b, text);
  const id = (n: number) => String(n).padStart(64, 'e').slice(0, 12);
  // Image IDs vary; container IDs are the fake's.
  const lines = first.msgs.map((m) =>
    'stream' in m
      ? m.stream.replace(/^ ---> [0-9a-f]{12}\n$/, ' ---> IMAGE\n').replace(/built [0-9a-f]{12}/, 'built IMAGE')
      : m,
  );
  expect(lines).toEqual([
    'Step 1/4 : FROM base',
    '\n',
    ' ---> IMAGE\n',
    'Step 2/4 : ENV A=1',
    '\n',
    ` ---> Running in ${id(1)}\n`,
    `Removing intermediate container ${id(1)}\n`,
    ' ---> IMAGE\n',
    'Step 3/4 : RUN exit 0',
    '\n',
    ' ---> Running in cccccccccccc\n',
    'output of the step\n',
    '\x1b[91mcomplaint\n\x1b[0m',
    'Removing intermediate container cccccccccccc\n',
    ' ---> IMAGE\n',
    'Step 4/4 : LABEL x=y',
    '\n',
    ` ---> Running in ${id(2)}\n`,
    `Removing intermediate container ${id(2)}\n`,
    ' ---> IMAGE\n',
    { aux: { ID: first.id } },
    'Successfully built IMAGE\n',
    'Successfully tagged app:1\n',
  ]);
  expect(b.containers.size).toBe(0);

  // Quiet: the ID only (no aux); rm=false keeps every step's container.
  const quiet = await build(b, text, { quiet: true, noCache: true, rm: false });
  expect(quiet.msgs).toEqual([{ stream: `${quiet.id}\n` }]);
  expect(b.containers.size).toBe(3);

  // A failing quiet build sends what it held back, then fails; without forcerm the failed
  // step's container stays, with forcerm it goes and the stream says so.
  b.containers.clear();
  b.exitCode = 2;
  const msgs: BuildMessage[] = [];
  const run = (opts: Partial<BuildOptions>) =>
    new Builder(b, new BuildCache(path.join(dir, 'c2.json')), dir, { ...OPTS, noCache: true, ...opts }, (m) =>
      msgs.push(m),
    ).build(parseDockerfile(text));
  await expect(run({ quiet: true })).rejects.toThrow('returned a non-zero code: 2');
  const held = msgs.map((m) => ('stream' in m ? m.stream : '')).join('');
  expect(held.startsWith('Step 1/4 : FROM base\n')).toBe(true);
  expect(
    held.endsWith(
      'Step 3/4 : RUN exit 0\n ---> Running in cccccccccccc\noutput of the step\n\x1b[91mcomplaint\n\x1b[0m',
    ),
  ).toBe(true);
  expect([...b.containers]).toEqual(['c'.repeat(64)]);
  msgs.length = 0;
  await expect(run({ forceRm: true })).rejects.toThrow('returned a non-zero code: 2');
  expect(
    msgs
      .map((m) => ('stream' in m ? m.stream : ''))
      .join('')
      .endsWith('complaint\n\x1b[0mRemoving intermediate container cccccccccccc\n'),
  ).toBe(true);
  expect(b.containers.size).toBe(0);
});

test("--squash: the built image is squashed onto the last stage's base, announced as dockerd does, and that one is tagged", async () => {
  const b = new FakeBackend();
  const r = await build(b, DF, { squash: true });
  const squashed = 'sha256:' + '5'.repeat(64);
  expect(r.id).toBe(squashed);
  // The last stage is FROM first: its base is the first stage's image.
  const firstStage = b.squashed[0].base;
  expect(b.squashed).toEqual([{ id: expect.not.stringMatching(squashed), base: firstStage }]);
  expect(firstStage).not.toBe('sha256:' + 'b'.repeat(64));
  const tail = r.msgs.slice(-4);
  expect(tail).toEqual([
    { aux: { ID: b.squashed[0].id } },
    { id: 'moby.image.id', aux: { ID: squashed } },
    { stream: 'Successfully built 555555555555\n' },
    { stream: 'Successfully tagged app:1\n' },
  ]);
  expect(b.tagged).toEqual([{ id: squashed, refs: ['app:1'] }]);
  // A single stage FROM base squashes onto base; quiet prints the squashed ID only.
  const one = await build(new FakeBackend(), 'FROM base\nRUN true\n', { squash: true, quiet: true });
  expect(one.msgs).toEqual([{ stream: `${squashed}\n` }]);
  const b2 = new FakeBackend();
  await build(b2, 'FROM base\nRUN true\n', { squash: true });
  expect(b2.squashed[0].base).toBe('sha256:' + 'b'.repeat(64));
});

test("each step names its container's command, which the image records with the step's config, as dockerd's classic builder", async () => {
  const b = new FakeBackend();
  await build(b, 'FROM base\nARG WHO=world\nVOLUME /data\nCOPY f.txt /f.txt\nRUN echo $WHO\n', {
    buildArgs: { WHO: 'you' },
  });
  expect(b.steps.map((s) => s.stepCmd)).toEqual([
    ['/bin/sh', '-c', '#(nop) ', 'ARG WHO=world'],
    ['/bin/sh', '-c', '#(nop) ', 'VOLUME [/data]'],
    ['/bin/sh', '-c', expect.stringMatching(/^#\(nop\) COPY file:[0-9a-f]{64} in \/f\.txt $/)],
    ['|1', 'WHO=you', '/bin/sh', '-c', 'echo $WHO'],
  ]);
  // The VOLUME step's record carries the volume paths Compose 1.x keeps across a recreate.
  const volume = b.steps[1];
  expect(stepContainerRecord('e'.repeat(64), volume)).toEqual({
    id: 'e'.repeat(64),
    config: expect.objectContaining({
      Volumes: { '/data': {} },
      Cmd: ['/bin/sh', '-c', '#(nop) ', 'VOLUME [/data]'],
      Image: volume.parentId,
    }),
  });
  expect(stepContainerRecord('e'.repeat(64), { config: {}, createdBy: 'x' })).toBeUndefined();
});
