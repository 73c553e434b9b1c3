/**
 * docker build (DOCKER_BUILDKIT=0) through the stock CLI on real VMs, beside what dockerd
 * 20.10's classic builder prints and keeps: the output line for line (config-only steps run in
 * a created container too; RUN's stderr in red), what -q, --rm=false and --force-rm change;
 * the step images (`docker images -a`, the IDs `docker history` shows, `docker rmi` deleting
 * the untagged parents); ADD of a URL served by the test on 127.0.0.1; the build parameters
 * that reach RUN's container (network, extra hosts, CPU set, memory, the predefined proxy
 * args) and --platform; -f outside the context, several tags and --label.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerCli } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';

jest.setTimeout(300000);

const IMAGE = `${fixtureRegistry()}/busybox`;

let d: TestDaemon;
let tmp: string;
let env: NodeJS.ProcessEnv;

function docker(args: string[]) {
  return dockerCli({ env }, args, undefined, 240000);
}

/** A context directory with these files. */
function context(name: string, files: Record<string, string>): string {
  const dir = path.join(tmp, name);
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'podvisor-build-steps-'));
  d = await startDaemon({ vmPoolSize: 0 });
  env = { ...d.env, DOCKER_BUILDKIT: '0' };
  expect((await docker(['pull', '-q', IMAGE])).code).toBe(0);
});
afterAll(async () => {
  if (d) await stopDaemonLeavingNothing(d);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const STEPS = `FROM ${IMAGE}\nENV A=1\nRUN echo out\nRUN echo err >&2\nLABEL x=y\n`;

test('the output, line for line as dockerd prints it; the step images, history and rmi', async () => {
  const dir = context('steps', { Dockerfile: STEPS });
  const b = await docker(['build', '-t', 'steps', dir]);
  expect(b.code).toBe(0);
  const base = JSON.parse((await docker(['image', 'inspect', IMAGE])).out)[0].Id.slice(7, 19);
  // Container and image IDs vary: the shape is dockerd's (measured on dockerd 20.10.24).
  const lines = b.out.split('\n');
  expect(lines[0]).toMatch(/^Sending build context to Docker daemon {2}[\d.]+kB\r\r$/);
  const c = (n: number) => lines[n].match(/[0-9a-f]{12}$/)?.[0] as string;
  const ids = lines.filter((l) => /^ ---> [0-9a-f]{12}$/.test(l)).map((l) => l.slice(6));
  expect(lines.slice(1)).toEqual([
    `Step 1/5 : FROM ${IMAGE}`,
    ` ---> ${base}`,
    'Step 2/5 : ENV A=1',
    ` ---> Running in ${c(4)}`,
    `Removing intermediate container ${c(4)}`,
    ` ---> ${ids[1]}`,
    'Step 3/5 : RUN echo out',
    ` ---> Running in ${c(8)}`,
    'out',
    `Removing intermediate container ${c(8)}`,
    ` ---> ${ids[2]}`,
    'Step 4/5 : RUN echo err >&2',
    ` ---> Running in ${c(13)}`,
    '\x1b[91merr',
    `\x1b[0mRemoving intermediate container ${c(13)}`,
    ` ---> ${ids[3]}`,
    'Step 5/5 : LABEL x=y',
    ` ---> Running in ${c(18)}`,
    `Removing intermediate container ${c(18)}`,
    ` ---> ${ids[4]}`,
    `Successfully built ${ids[4]}`,
    'Successfully tagged steps:latest',
    '',
  ]);
  expect(new Set([c(4), c(8), c(13), c(18)]).size).toBe(4);
  // Every step container is gone.
  expect((await docker(['ps', '-aq'])).out).toBe('');

  // Each step left an image: untagged, shown by `images -a` only, parent of the next.
  const all = (await docker(['images', '-a', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}'])).out;
  for (const id of ids.slice(1, 4)) expect(all).toContain(`${id} <none>:<none>`);
  expect((await docker(['images', '--format', '{{.ID}}'])).out).not.toContain(ids[1]);
  expect(JSON.parse((await docker(['image', 'inspect', 'steps'])).out)[0].Parent.slice(7, 19)).toBe(ids[3]);
  // history: the step images' IDs newest first, then the base, then <missing>.
  const hist = (await docker(['history', '--format', '{{.ID}}', 'steps'])).out.trim().split('\n');
  expect(hist.slice(0, 5)).toEqual([...ids.slice(1)].reverse().concat(base));
  expect(hist.slice(5).every((h) => h === '<missing>')).toBe(true);
  // An intermediate image cannot go while its child is there.
  const blocked = await docker(['rmi', ids[2]]);
  expect(blocked.code).not.toBe(0);
  expect(blocked.err).toContain(
    `conflict: unable to delete ${ids[2]} (cannot be forced) - image has dependent child images`,
  );
  // rmi of the built image deletes it and every untagged parent, not the base.
  const rmi = await docker(['rmi', 'steps']);
  expect(rmi.code).toBe(0);
  const deleted = rmi.out
    .split('\n')
    .filter((l) => l.startsWith('Deleted: '))
    .map((l) => l.slice('Deleted: sha256:'.length, 'Deleted: sha256:'.length + 12));
  expect(rmi.out.split('\n')[0]).toBe('Untagged: steps:latest');
  for (const id of ids.slice(1)) expect(deleted).toContain(id);
  expect(deleted.indexOf(ids[4])).toBeLessThan(deleted.indexOf(ids[1]));
  const after = (await docker(['images', '-a', '--format', '{{.ID}}'])).out;
  for (const id of ids.slice(1)) expect(after).not.toContain(id);
  expect(after).toContain(base);
});

test('-q prints the ID only; --rm=false keeps every step container; a failed step is kept unless --force-rm', async () => {
  const dir = context('quiet', { Dockerfile: STEPS });
  const q = await docker(['build', '-q', '--no-cache', dir]);
  expect(q.code).toBe(0);
  expect(q.out).toMatch(/^sha256:[0-9a-f]{64}\n$/);

  const keep = await docker(['build', '--rm=false', '--no-cache', dir]);
  expect(keep.code).toBe(0);
  expect(keep.out).not.toContain('Removing intermediate container');
  const ps = (await docker(['ps', '-a', '--no-trunc', '--format', '{{.Status}}|{{.Command}}'])).out
    .trim()
    .split('\n')
    .reverse();
  expect(ps.map((l) => l.replace(/^Exited \(0\) .*?\|/, 'Exited (0)|'))).toEqual([
    `Created|"/bin/sh -c '#(nop) ' 'ENV A=1'"`,
    'Exited (0)|"/bin/sh -c \'echo out\'"',
    'Exited (0)|"/bin/sh -c \'echo err >&2\'"',
    `Created|"/bin/sh -c '#(nop) ' 'LABEL x=y'"`,
  ]);
  expect((await docker(['container', 'prune', '-f'])).code).toBe(0);

  const failing = context('quiet-fail', { Dockerfile: `FROM ${IMAGE}\nENV A=1\nRUN echo out; exit 3\n` });
  // Quiet, a failure sends everything held back; the CLI prints it on stderr.
  const qf = await docker(['build', '-q', failing]);
  expect(qf.code).toBe(3);
  expect(qf.out).toBe('');
  expect(qf.err).toMatch(
    /Step 1\/3 : FROM [^]*Step 3\/3 : RUN echo out; exit 3\n ---> Running in [0-9a-f]{12}\nout\nThe command '\/bin\/sh -c echo out; exit 3' returned a non-zero code: 3\n$/,
  );
  expect((await docker(['ps', '-a', '--format', '{{.Status}}'])).out).toMatch(/^Exited \(3\)/);
  expect((await docker(['container', 'prune', '-f'])).code).toBe(0);
  const fr = await docker(['build', '--force-rm', '--no-cache', failing]);
  expect(fr.code).toBe(3);
  const running = /Running in ([0-9a-f]{12})\nout\n/.exec(fr.out)?.[1];
  expect(fr.out.endsWith(`out\nRemoving intermediate container ${running}\n`)).toBe(true);
  expect((await docker(['ps', '-aq'])).out).toBe('');
});

test('ADD of a URL: fetched on the host, mode 0600, mtime from Last-Modified, cached on its content', async () => {
  let body = 'remote content\n';
  let gets = 0;
  const server = http.createServer((req, res) => {
    gets++;
    if (req.url === '/files/hello.txt') {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Last-Modified': 'Thu, 02 Jan 2020 03:04:05 GMT' });
      res.end(body);
    } else {
      res.writeHead(404);
      res.end('no such file\n');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const dir = context('url', {
      Dockerfile: `FROM ${IMAGE}\nADD ${url}/files/hello.txt /a/\nADD ${url}/files/hello.txt /b/named\nRUN stat -c '%a %u %Y %n' /a/hello.txt /b/named && cat /a/hello.txt\n`,
    });
    const b = await docker(['build', '-t', 'url', dir]);
    expect(b.err).not.toMatch(/error/i);
    expect(b.code).toBe(0);
    expect(b.out).toContain('600 0 1577934245 /a/hello.txt\n600 0 1577934245 /b/named\nremote content\n');
    const hist = (await docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'url'])).out;
    expect(hist).toMatch(/ADD file:[0-9a-f]{64} in \/b\/named/);
    // Again: fetched again (the cache keys on the content), every step from the cache.
    const before = gets;
    const again = await docker(['build', dir]);
    expect(again.out.match(/Using cache/g)).toHaveLength(3);
    expect(gets).toBe(before + 2);
    // Changed content: the ADD steps run again.
    body = 'changed\n';
    const changed = await docker(['build', dir]);
    expect(changed.out).not.toContain('Using cache');
    expect(changed.out).toContain('changed\n');
    // A 404 fails the build with the server's answer.
    const missing = await docker([
      'build',
      context('url404', { Dockerfile: `FROM ${IMAGE}\nADD ${url}/nope.txt /x\n` }),
    ]);
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain(`failed to GET ${url}/nope.txt with status 404 Not Found: no such file`);
  } finally {
    server.close();
  }
});

test('RUN is on the default network, or on the user network --network names, where it finds a container by alias', async () => {
  expect((await docker(['network', 'create', 'buildnet'])).code).toBe(0);
  try {
    const target = await docker([
      'run',
      '-d',
      '--name',
      'pingtarget',
      '--network',
      'buildnet',
      '--network-alias',
      'pingtarget.docker',
      IMAGE,
      'sleep',
      '300',
    ]);
    expect(target.code).toBe(0);
    const dir = context('usernet', {
      Dockerfile: `FROM ${IMAGE}\nRUN ls /sys/class/net | tr "\\n" " "; echo; ping -c1 -W5 pingtarget.docker >/dev/null && echo reached\n`,
    });
    const b = await docker(['build', '--network', 'buildnet', '-t', 'usernet', dir]);
    expect(b.code).toBe(0);
    expect(b.out).toMatch(/eth0 .*lo \nreached\n/);
    // The default: one interface on the default bridge too (no name resolution there).
    const def = await docker([
      'build',
      '--no-cache',
      '-q',
      context('defnet', { Dockerfile: `FROM ${IMAGE}\nRUN ls /sys/class/net | grep -qx eth0\n` }),
    ]);
    expect(def.code).toBe(0);
  } finally {
    await docker(['rm', '-f', 'pingtarget']);
    await docker(['network', 'rm', 'buildnet']);
  }
});

test('networkmode, extrahosts, cpusetcpus, memory, shmsize and the proxy args reach RUN; --platform', async () => {
  const probe =
    'ls /sys/class/net | tr "\\n" " "; echo; grep -w buildhost /etc/hosts; nproc; awk "/MemTotal/{print \\$2}" /proc/meminfo; df -k /dev/shm | awk "NR==2{print \\$2}"';
  const dir = context('params', { Dockerfile: `FROM ${IMAGE}\nRUN ${probe}; echo "proxy=$HTTP_PROXY"\n` });
  const flags = [
    '--network',
    'none',
    '--add-host',
    'buildhost:10.9.8.7',
    '--cpuset-cpus',
    '0',
    '--memory',
    '512m',
    '--shm-size',
    '128m',
  ];
  const b = await docker([
    'build',
    ...flags,
    '--build-arg',
    'HTTP_PROXY=http://proxy.example:3128',
    '-t',
    'params',
    dir,
  ]);
  expect(b.code).toBe(0);
  // What the same probe prints in a container run with the same settings.
  const run = await docker(['run', '--rm', ...flags, IMAGE, 'sh', '-c', probe]);
  expect(run.code).toBe(0);
  // The last line: /dev/shm of 128 MiB (KiB blocks), not the guest's default 64 MiB.
  const shape = /lo \n10\.9\.8\.7\tbuildhost\n1\n(\d+)\n131072\n/;
  expect(run.out).toMatch(new RegExp(`^${shape.source}$`));
  expect(b.out).toMatch(new RegExp(`\\n${shape.source}proxy=http://proxy\\.example:3128\\n`));
  // A VM sized for 512 MiB, not the daemon's default one (2 GiB on a host of 4 GiB or more), in
  // both. (MemTotal itself may differ by a few MiB between two boots of the same size, so it is
  // not compared.)
  for (const out of [run.out, b.out]) {
    expect(Number(shape.exec(out)?.[1])).toBeGreaterThan(400 * 1024);
    expect(Number(shape.exec(out)?.[1])).toBeLessThan(1024 * 1024);
  }
  // The proxy args are no "unconsumed build-args" and stay out of the history.
  expect(b.out).not.toContain('were not consumed');
  expect((await docker(['history', '--no-trunc', 'params'])).out).not.toContain('proxy.example');

  const ok = await docker([
    'build',
    '--platform',
    'linux/amd64',
    '-q',
    context('plat', { Dockerfile: `FROM ${IMAGE}\nLABEL p=1\n` }),
  ]);
  expect(ok.code).toBe(0);
  const bad = await docker(['build', '--platform', 'windows/amd64', path.join(tmp, 'plat')]);
  expect(bad.code).not.toBe(0);
  expect(bad.err).toContain('"windows": operating system is not supported');
});

test('-f names a Dockerfile outside the context; several -t; --label on the built image', async () => {
  const dir = context('outside/ctx', { 'data.txt': 'data\n' });
  const df = path.join(tmp, 'outside', 'build.Dockerfile');
  fs.writeFileSync(df, `FROM ${IMAGE}\nCOPY data.txt /data.txt\nCMD ["cat", "/data.txt"]\n`);
  const b = await docker(['build', '-f', df, '-t', 'two:a', '-t', 'two:b', '--label', 'made.by=test', dir]);
  expect(b.code).toBe(0);
  expect(b.out).toMatch(/Successfully tagged two:a\nSuccessfully tagged two:b\n$/);
  const img = JSON.parse((await docker(['image', 'inspect', 'two:b'])).out)[0];
  expect(img.RepoTags.sort()).toEqual(['two:a', 'two:b']);
  expect(img.Config.Labels).toEqual({ 'made.by': 'test' });
  expect((await docker(['run', '--rm', 'two:a'])).out).toBe('data\n');
});
