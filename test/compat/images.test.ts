/**
 * The image scenario (pull, inspect, tag, rmi, prune, multi-arch, login), written once and run through two real clients against the
 * real daemon and the fixture registries: the stock docker CLI (/usr/local/bin/docker) and
 * dockerode. Each client gets its own daemon (fresh data root).
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the scenario reads loosely typed JSON from two different clients */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Dockerode from 'dockerode';
import { startDaemon, type TestDaemon } from '../helpers/daemon';
import { buildFixtureImages, busyboxEntries, type FixtureImages } from '../fixtures/images';
import { FIXTURE_AUTH_PASSWORD, fixtureAuthRegistry, FIXTURE_AUTH_USER, fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(120000);

const REG = fixtureRegistry();
const AUTH_REG = fixtureAuthRegistry();

/** What the scenario needs from a client. Errors reject with the text the user would see. */
interface Client {
  name: string;
  /** Pull; resolves to the user-visible progress text (CLI) or the statuses seen (dockerode). */
  pull(ref: string, opts?: { platform?: string; auth?: { username: string; password: string } }): Promise<string>;
  /** `name:tag` list of every image with its ID. */
  images(): Promise<Array<{ id: string; tags: string[] }>>;
  inspect(ref: string): Promise<Record<string, any>>;
  tag(src: string, repo: string, tag: string): Promise<void>;
  /** Lines like `Untagged: x` and `Deleted: sha256:...`. */
  rmi(ref: string): Promise<string[]>;
  /** Deleted image IDs and untagged references, as lines. */
  prune(): Promise<string[]>;
  login(server: string, user: string, password: string): Promise<string>;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${String(stderr).trim()}\n${String(stdout).trim()}`.trim()));
      else resolve(String(stdout) + String(stderr));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function cliClient(d: TestDaemon): Client {
  const docker = (args: string[], input?: string) => run('/usr/local/bin/docker', args, d.env, input);
  return {
    name: 'docker CLI',
    pull: (ref, opts) => docker(['pull', ...(opts?.platform ? ['--platform', opts.platform] : []), ref]),
    images: async () => {
      const out = await docker(['images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}']);
      const byId = new Map<string, string[]>();
      for (const line of out.trim().split('\n').filter(Boolean)) {
        const [id, tag] = line.split(' ');
        byId.set(id, [...(byId.get(id) ?? []), ...(tag === '<none>:<none>' ? [] : [tag])]);
      }
      return [...byId].map(([id, tags]) => ({ id, tags }));
    },
    inspect: async (ref) => (JSON.parse(await docker(['image', 'inspect', ref])) as Array<Record<string, any>>)[0],
    tag: async (src, repo, tag) => {
      await docker(['tag', src, `${repo}:${tag}`]);
    },
    rmi: async (ref) => (await docker(['rmi', ref])).trim().split('\n'),
    prune: async () => (await docker(['image', 'prune', '-f'])).trim().split('\n'),
    login: (server, user, password) => docker(['login', '-u', user, '--password-stdin', server], password),
  };
}

function dockerodeClient(d: TestDaemon): Client {
  const api = new Dockerode({ socketPath: d.socketPath });
  const rethrow = (err: any): never => {
    // docker-modem: `(HTTP code 404) unexpected - <message> ` when it did not parse the body.
    const msg: string = err?.json?.message ?? String(err?.message ?? err).replace(/^\(HTTP code \d+\) [^-]*- /, '');
    throw new Error(msg.trim());
  };
  return {
    name: 'dockerode',
    pull: async (ref, opts) => {
      const stream = (await api
        .pull(ref, {
          ...(opts?.platform ? { platform: opts.platform } : {}),
          ...(opts?.auth ? { authconfig: { ...opts.auth, serveraddress: ref.split('/')[0] } } : {}),
        })
        .catch(rethrow)) as NodeJS.ReadableStream;
      const events = await new Promise<Array<{ status?: string; id?: string; error?: string }>>((resolve, reject) =>
        api.modem.followProgress(stream, (err: Error | null, res: any[]) => (err ? reject(err) : resolve(res))),
      ).catch(rethrow);
      const failed = events.find((e) => e.error);
      if (failed) throw new Error(failed.error);
      return events.map((e) => (e.id ? `${e.id}: ${e.status}` : e.status)).join('\n');
    },
    images: async () =>
      (await api.listImages()).map((i) => ({
        id: i.Id,
        tags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
      })),
    inspect: (ref) => api.getImage(ref).inspect().catch(rethrow) as Promise<Record<string, any>>,
    tag: async (src, repo, tag) => {
      await api.getImage(src).tag({ repo, tag }).catch(rethrow);
    },
    rmi: async (ref) => {
      const items = (await api.getImage(ref).remove().catch(rethrow)) as Array<{ Untagged?: string; Deleted?: string }>;
      return items.map((i) => (i.Untagged ? `Untagged: ${i.Untagged}` : `Deleted: ${i.Deleted}`));
    },
    prune: async () => {
      const r = (await api.pruneImages()) as { ImagesDeleted: Array<{ Untagged?: string; Deleted?: string }> | null };
      return (r.ImagesDeleted ?? []).map((i) => (i.Untagged ? `untagged: ${i.Untagged}` : `deleted: ${i.Deleted}`));
    },
    login: async (server, username, password) => {
      const r = (await api.checkAuth({ username, password, serveraddress: server }).catch(rethrow)) as {
        Status: string;
      };
      return r.Status;
    },
  };
}

let fixtures: FixtureImages;
beforeAll(async () => {
  fixtures = await buildFixtureImages();
});

describe.each([
  ['docker CLI', cliClient],
  ['dockerode', dockerodeClient],
])('images through %s', (_name, makeClient) => {
  let d: TestDaemon;
  let c: Client;
  beforeAll(async () => {
    d = await startDaemon();
    c = makeClient(d);
  });
  afterAll(async () => {
    await d?.stop();
  });

  test('pull shows the layer lines, the digest and the status, and stores the image under its config digest', async () => {
    const out = await c.pull(`${REG}/busybox:latest`);
    const layer = fixtures.busybox.layers[0].digest.slice(7, 19);
    expect(out).toContain(`${layer}: Pulling fs layer`);
    expect(out).toContain(`${layer}: Pull complete`);
    expect(out).toContain(`Digest: ${fixtures.busybox.manifestDigest}`);
    expect(out).toContain(`Status: Downloaded newer image for ${REG}/busybox:latest`);
    const imgs = await c.images();
    expect(imgs).toContainEqual({ id: fixtures.busybox.configDigest, tags: [`${REG}/busybox:latest`] });
  });

  test('a second pull downloads nothing and says the image is up to date', async () => {
    const out = await c.pull(`${REG}/busybox:latest`);
    expect(out).toContain(`Status: Image is up to date for ${REG}/busybox:latest`);
    expect(out).not.toContain('Pulling fs layer');
  });

  test('inspect shows the config, the layers and the digests', async () => {
    const img = await c.inspect(`${REG}/busybox`);
    expect(img.Id).toBe(fixtures.busybox.configDigest);
    expect(img.RepoTags).toEqual([`${REG}/busybox:latest`]);
    expect(img.RepoDigests).toEqual([`${REG}/busybox@${fixtures.busybox.manifestDigest}`]);
    expect(img.Config.Cmd).toEqual(['sh']);
    expect(img.Architecture).toBe('amd64');
    expect(img.Os).toBe('linux');
    expect(img.RootFS).toEqual({ Type: 'layers', Layers: [fixtures.busybox.layers[0].diffId] });
    expect(img.GraphDriver.Name).toBe('overlay2');
    expect(fs.existsSync(path.join(img.GraphDriver.Data.UpperDir, 'bin/busybox'))).toBe(true);
    // Docker's size: file bytes plus symlink target lengths.
    const expected = busyboxEntries().reduce(
      (n, e) =>
        n + (e.type === 'symlink' ? Buffer.byteLength(e.linkname ?? '') : e.content ? Buffer.byteLength(e.content) : 0),
      0,
    );
    expect(img.Size).toBe(expected);
  });

  test('an image with ENV, WORKDIR, USER, ENTRYPOINT, CMD, EXPOSE, VOLUME and labels shows them all', async () => {
    await c.pull(`${REG}/configured:latest`);
    const img = await c.inspect(`${REG}/configured:latest`);
    expect(img.Config.Env).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'FOO=bar',
      'GREETING=hello world',
    ]);
    expect(img.Config.WorkingDir).toBe('/work');
    expect(img.Config.User).toBe('1000');
    expect(img.Config.Entrypoint).toEqual(['/bin/sh', '-c']);
    expect(img.Config.Cmd).toEqual(['echo configured $FOO']);
    expect(img.Config.ExposedPorts).toEqual({ '53/udp': {}, '8080/tcp': {} });
    expect(img.Config.Volumes).toEqual({ '/data': {} });
    expect(img.Config.Labels).toEqual({ maintainer: 'podvisor', 'org.podvisor.fixture': 'configured' });
    expect(img.Author).toBe('podvisor fixtures');
  });

  test('tag adds a name; rmi of one of two names only untags', async () => {
    await c.tag(`${REG}/busybox:latest`, 'mybox', 'v1');
    expect((await c.images()).find((i) => i.id === fixtures.busybox.configDigest)?.tags.sort()).toEqual([
      `${REG}/busybox:latest`,
      'mybox:v1',
    ]);
    expect(await c.rmi('mybox:v1')).toEqual(['Untagged: mybox:v1']);
    expect((await c.inspect(`${REG}/busybox`)).RepoTags).toEqual([`${REG}/busybox:latest`]);
  });

  test('a multi-layer image reuses the shared layer, and rmi deletes only its own layers', async () => {
    const out = await c.pull(`${REG}/layered:latest`);
    expect(out).toContain(`${fixtures.busybox.layers[0].digest.slice(7, 19)}: Already exists`);
    const img = await c.inspect(`${REG}/layered`);
    const [, , top] = img.RootFS.Layers as string[];
    expect(top).toBe(fixtures.layered.layers[2].diffId);
    const lines = await c.rmi(`${REG}/layered:latest`);
    expect(lines[0]).toBe(`Untagged: ${REG}/layered:latest`);
    expect(lines).toContain(`Untagged: ${REG}/layered@${fixtures.layered.manifestDigest}`);
    expect(lines).toContain(`Deleted: ${fixtures.layered.configDigest}`);
    expect(lines.filter((l) => l.startsWith('Deleted: '))).toHaveLength(3);
    const busybox = await c.inspect(`${REG}/busybox`);
    expect(fs.existsSync(path.join(busybox.GraphDriver.Data.UpperDir, 'bin/busybox'))).toBe(true);
  });

  test('image prune removes a dangling image and keeps tagged ones', async () => {
    await c.pull(`${REG}/layered:latest`);
    // Moving the only tag away leaves the layered image dangling.
    await c.tag(`${REG}/busybox:latest`, `${REG}/layered`, 'latest');
    const lines = await c.prune();
    expect(lines.join('\n')).toContain(`deleted: ${fixtures.layered.configDigest}`);
    const ids = (await c.images()).map((i) => i.id);
    expect(ids).not.toContain(fixtures.layered.configDigest);
    expect(ids).toContain(fixtures.busybox.configDigest);
    await c.rmi(`${REG}/layered:latest`);
  });

  test('a multi-arch index gives the amd64 image by default and arm64 when asked', async () => {
    await c.pull(`${REG}/multiarch:latest`);
    const amd = await c.inspect(`${REG}/multiarch:latest`);
    expect(amd.Architecture).toBe('amd64');
    expect(amd.Id).toBe(fixtures.multiarchAmd64.configDigest);
    await c.pull(`${REG}/multiarch:latest`, { platform: 'linux/arm64' });
    const arm = await c.inspect(`${REG}/multiarch:latest`);
    expect(arm.Architecture).toBe('arm64');
    expect(arm.Variant).toBe('v8');
  });

  test("pulling an unknown repository or tag fails with dockerd's message", async () => {
    // Anchored: the CLI must show the message itself, not the raw JSON body.
    const line = (m: string) =>
      new RegExp(`^(Error response from daemon: )?${m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm');
    await expect(c.pull(`${REG}/nope:latest`)).rejects.toThrow(
      line(`manifest for ${REG}/nope:latest not found: manifest unknown: manifest unknown`),
    );
    await expect(c.pull(`${REG}/busybox:badtag`)).rejects.toThrow(
      `manifest for ${REG}/busybox:badtag not found: manifest unknown: manifest unknown`,
    );
    await expect(c.inspect('nope')).rejects.toThrow(/No such image: nope/);
  });

  test('login to the auth registry: a wrong password is refused, the right one succeeds and lets us pull', async () => {
    await expect(c.login(AUTH_REG, FIXTURE_AUTH_USER, 'wrong')).rejects.toThrow(
      `login attempt to http://${AUTH_REG}/v2/ failed with status: 401 Unauthorized`,
    );
    expect(await c.login(AUTH_REG, FIXTURE_AUTH_USER, FIXTURE_AUTH_PASSWORD)).toContain('Login Succeeded');
    const out = await c.pull(`${AUTH_REG}/busybox:latest`, {
      auth: { username: FIXTURE_AUTH_USER, password: FIXTURE_AUTH_PASSWORD },
    });
    expect(out).toContain(`for ${AUTH_REG}/busybox:latest`);
  });
});

describe('rmi -f of an image a stopped container uses (docker CLI)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => {
    await d?.stop();
  });

  test('deletes the image as dockerd does; the container keeps its layers, starts again, and they go with it', async () => {
    const docker = (args: string[]) => run('/usr/local/bin/docker', args, d.env);
    const ref = `${REG}/busybox:latest`;
    await docker(['pull', '-q', ref]);
    const id = (await docker(['image', 'inspect', '-f', '{{.Id}}', ref])).trim();
    await docker(['run', '--name', 'user', ref, 'echo', 'first']);
    // dockerd 26.1 prints the untags and the image's deletion, no layer (its layers are the container's).
    const lines = (await docker(['rmi', '-f', ref])).trim().split('\n');
    expect(lines[0]).toBe(`Untagged: ${ref}`);
    expect(lines.slice(1, -1).every((l) => l.startsWith(`Untagged: ${REG}/busybox@sha256:`))).toBe(true);
    expect(lines[lines.length - 1]).toBe(`Deleted: ${id}`);
    await expect(docker(['image', 'inspect', id])).rejects.toThrow(/No such image/);
    expect((await docker(['start', '-a', 'user'])).trim()).toBe('first');
    const layersDir = path.join(d.dataRoot, 'layers', 'sha256');
    expect(fs.readdirSync(layersDir).length).toBeGreaterThan(0);
    await docker(['rm', 'user']);
    // The container's storage goes once its teardown is done, after rm answered.
    for (let i = 0; i < 100 && fs.readdirSync(layersDir).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(fs.readdirSync(layersDir)).toEqual([]);
  });
});
