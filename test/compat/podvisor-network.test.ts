/**
 * Native pods on the network, through the `podvisor` CLI as a user runs it (real VMs, the
 * stock docker CLI and curl beside): images that are not local are pulled by `run` and
 * `run-pod`; a Kubernetes Pod's hostPort and a hyper podfile's portmappings are published
 * (busybox httpd answers curl on the host; `docker port`, `ps` and `inspect` show them);
 * a native pod is on the default bridge, reaching a Docker container by its address, reached
 * by one, and reaching the host beyond its gateway; a host port in use is dockerd's error and
 * leaves nothing half set up, on a new VM as on a held one, which stays Idle and serves the
 * next start.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { dockerOk, dockerSync, freePort } from '../helpers/docker-cli';
import { fixtureRegistry } from '../fixtures/registry';
import { podvisor, podvisorOk } from '../helpers/podvisor-cli';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const IMAGE = `${REG}/busybox`;
const ok = podvisorOk;
/** busybox httpd in the foreground on port 80, serving a page that names `who`. */
const serve = (who: string) =>
  `mkdir -p /www && echo "hello from ${who}" > /www/index.html && exec httpd -f -p 80 -h /www`;

/** curl on the host (not blocking this process, whose servers must answer): the page, or `curl exit N`. */
function curl(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    execFile('curl', ['-s', '--max-time', '3', `http://${host}:${port}/`], { encoding: 'utf8' }, (err, out) =>
      resolve(err ? `curl exit ${(err as { code?: number }).code}` : out),
    );
  });
}

/** curl until the page comes (the server in the guest may still be starting). */
async function curlPage(port: number, ms = 30000): Promise<string> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    last = await curl(port);
    if (last.startsWith('hello')) return last;
    await new Promise((r) => setTimeout(r, 300));
  }
  return last;
}

/** Hold a TCP port on every address of the host (as another program would), answering `held`. */
function holdPort(port: number): Promise<http.Server> {
  return new Promise((resolve, reject) => {
    const s = http.createServer((_q, res) => res.end('held\n'));
    s.once('error', reject);
    s.listen(port, '0.0.0.0', () => resolve(s));
  });
}

/**
 * A shell loop that GETs http://ADDR:PORT/ from inside a container until a page comes, and
 * prints its last line (busybox nc: the fixture's static wget crashes resolving a host).
 */
const fetchIn = (addr: string, port = 80) =>
  `for i in $(seq 50); do b=$(printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 ${addr} ${port} | tail -n 1); [ -n "$b" ] && { echo "$b"; exit 0; }; sleep 0.2; done; exit 1`;

/** A non-loopback IPv4 address of the host. */
function hostAddress(): string {
  const a = JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'get', '1.1.1.1'], { encoding: 'utf8' })) as Array<{
    prefsrc: string;
  }>;
  return a[0].prefsrc;
}

interface PodRow {
  id: string;
  name: string;
  state: string;
  vm: string | null;
}

describe('native pods on the network, through the podvisor CLI', () => {
  let d: TestDaemon;
  let dir: string;
  const docker = (args: string[]) => dockerSync(d, args);
  const pods = async () => JSON.parse(await ok(d, ['list', '--json'])) as PodRow[];
  const onBridge = () =>
    Object.values(
      JSON.parse(dockerOk(d, ['network', 'inspect', 'bridge']))[0].Containers as Record<string, { Name: string }>,
    ).map((c) => c.Name);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'podnet-'));
    // No pull here: the first tests pull what they run.
    d = await startDaemon({ vmPoolSize: 1 });
  });
  afterAll(async () => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (!d) return;
    docker(['rm', '-f', 'target']);
    for (const p of JSON.parse((await podvisor(d, ['list', '--json'])).out || '[]') as PodRow[])
      await podvisor(d, ['rm', '-f', p.id]);
    for (const v of JSON.parse((await podvisor(d, ['list', 'vms', '--json'])).out || '[]') as Array<{
      id: string;
      state: string;
    }>)
      if (v.state === 'Idle') await podvisor(d, ['rm-vm', v.id]);
    await stopDaemonLeavingNothing(d);
  });

  test('podvisor run of an image not yet pulled pulls it (progress on stderr), then runs it', async () => {
    expect(docker(['images', '-q', IMAGE]).out).toBe('');
    const r = await podvisor(d, ['run', '--rm', IMAGE, 'sh', '-c', 'echo ran-after-pull']);
    expect(r.out).toBe('ran-after-pull\n');
    expect(r.code).toBe(0);
    expect(r.err).toContain(`Unable to find image '${IMAGE}:latest' locally\n`);
    expect(r.err).toContain(`Status: Downloaded newer image for ${IMAGE}:latest\n`);
    expect(docker(['images', '--format', '{{.Repository}}:{{.Tag}}', IMAGE]).out).toBe(`${IMAGE}:latest`);
    // Now local: nothing pulled again.
    const again = await podvisor(d, ['run', '--rm', IMAGE, 'true']);
    expect([again.code, again.err]).toEqual([0, '']);
  });

  test('run-pod of a pod file pulls each of its images that is not local', async () => {
    const file = path.join(dir, 'pulled.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: pulled\nspec:\n  containers:\n    - name: a\n      image: ${REG}/layered\n      command: ["sh", "-c", "cat /data/added.txt; sleep 1000"]\n    - name: b\n      image: ${REG}/configured\n      command: ["sh", "-c", "cat /work/hello.txt; sleep 1000"]\n`,
    );
    const r = await podvisor(d, ['run-pod', '-f', file]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^pulled [0-9a-f]{64}\n$/);
    expect(r.err).toContain(`Unable to find image '${REG}/layered:latest' locally\n`);
    expect(r.err).toContain(`Unable to find image '${REG}/configured:latest' locally\n`);
    expect(await ok(d, ['exec', '-c', 'b', 'pulled', 'cat', '/work/hello.txt'])).toBe('hello from configured\n');
    expect(await ok(d, ['exec', '-c', 'a', 'pulled', 'cat', '/data/added.txt'])).toBe('added\n');
    await ok(d, ['rm', '-f', 'pulled']);
  });

  test('a Kubernetes Pod with a hostPort: httpd in it answers curl on the host; docker port, ps and inspect show it', async () => {
    const port = await freePort();
    const file = path.join(dir, 'kweb.yaml');
    fs.writeFileSync(
      file,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: kweb\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n    - name: web\n      image: ${IMAGE}\n      command: ["sh", "-c", ${JSON.stringify(serve('kweb'))}]\n      ports:\n        - containerPort: 80\n          hostPort: ${port}\n    - name: side\n      image: ${IMAGE}\n      command: ["sleep", "1000"]\n      ports:\n        - containerPort: 9000\n`,
    );
    expect(await ok(d, ['run-pod', '-f', file])).toMatch(/^kweb [0-9a-f]{64}\n$/);
    expect(await curlPage(port)).toBe('hello from kweb\n');
    // No hostIP: every IPv4 and every IPv6 address, as `docker run -p P:80` under dockerd 20.10.
    expect(dockerOk(d, ['port', 'kweb'])).toBe(`80/tcp -> 0.0.0.0:${port}\n80/tcp -> [::]:${port}`);
    expect(dockerOk(d, ['port', 'kweb', '80'])).toBe(`0.0.0.0:${port}\n[::]:${port}`);
    expect(dockerOk(d, ['ps', '--filter', 'name=^kweb$', '--format', '{{.Ports}}']).split(', ').sort()).toEqual(
      [`0.0.0.0:${port}->80/tcp`, `[::]:${port}->80/tcp`, '9000/tcp'].sort(),
    );
    const inspect = JSON.parse(dockerOk(d, ['inspect', 'kweb']))[0];
    expect(inspect.HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '', HostPort: String(port) }] });
    expect(inspect.NetworkSettings.Ports).toEqual({
      '80/tcp': [
        { HostIp: '0.0.0.0', HostPort: String(port) },
        { HostIp: '::', HostPort: String(port) },
      ],
      '9000/tcp': null,
    });
    expect(inspect.NetworkSettings.Networks.bridge.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(onBridge()).toContain('kweb');
    // The side container shares the pod's network: it reaches the server on localhost.
    expect(await ok(d, ['exec', '-c', 'side', 'kweb', 'wget', '-qO-', 'http://127.0.0.1/'])).toBe('hello from kweb\n');
    await ok(d, ['stop', '-t', '1', 'kweb']);
    expect(await curl(port)).toMatch(/^curl exit/);
    expect(onBridge()).not.toContain('kweb');
    await ok(d, ['rm', 'kweb']);
  });

  test('a hyper podfile with portmappings: the same', async () => {
    const port = await freePort();
    const file = path.join(dir, 'hweb.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        id: 'hweb',
        containers: [{ name: 'web', image: IMAGE, command: ['sh', '-c', serve('hweb')] }],
        portmappings: [{ containerPort: 80, hostPort: port, protocol: 'tcp' }],
      }),
    );
    expect(await ok(d, ['run-pod', '-f', file])).toMatch(/^hweb [0-9a-f]{64}\n$/);
    expect(await curlPage(port)).toBe('hello from hweb\n');
    expect(dockerOk(d, ['port', 'hweb'])).toBe(`80/tcp -> 0.0.0.0:${port}\n80/tcp -> [::]:${port}`);
    expect(dockerOk(d, ['ps', '--filter', 'name=^hweb$', '--format', '{{.Ports}}']).split(', ').sort()).toEqual(
      [`0.0.0.0:${port}->80/tcp`, `[::]:${port}->80/tcp`].sort(),
    );
    await ok(d, ['rm', '-f', 'hweb']);
    expect(await curl(port)).toMatch(/^curl exit/);
  });

  test('a native pod is on the default bridge: it reaches a container by its address, is reached by one, and reaches the host', async () => {
    dockerOk(d, ['run', '-d', '--name', 'target', IMAGE, 'sh', '-c', serve('target')]);
    const targetIp = dockerOk(d, ['inspect', '--format', '{{.NetworkSettings.Networks.bridge.IPAddress}}', 'target']);
    expect(targetIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const run = await podvisor(d, ['run', '--rm', IMAGE, 'sh', '-c', fetchIn(targetIp)]);
    expect([run.code, run.out]).toEqual([0, 'hello from target\n']);

    // The other way: a Docker container reaches a native pod by the pod's address.
    await ok(d, ['run-pod', '--name', 'served', IMAGE, 'sh', '-c', serve('served')]);
    const podIp = dockerOk(d, ['inspect', '--format', '{{.NetworkSettings.Networks.bridge.IPAddress}}', 'served']);
    expect(podIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(podIp).not.toBe(targetIp);
    const back = docker(['run', '--rm', IMAGE, 'sh', '-c', fetchIn(podIp)]);
    expect([back.code, back.out]).toEqual([0, 'hello from served']);

    // Beyond the gateway: a server of the host's own, on its non-bridge address.
    const server = http.createServer((_q, res) => res.end('hello from the host\n'));
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    try {
      expect(
        await ok(d, ['exec', 'served', 'sh', '-c', fetchIn(hostAddress(), (server.address() as net.AddressInfo).port)]),
      ).toBe('hello from the host\n');
    } finally {
      server.close();
    }
    // --network none: loopback only, as docker run --network none.
    const none = await podvisor(d, [
      'run',
      '--rm',
      '--network',
      'none',
      IMAGE,
      'sh',
      '-c',
      "ip -o -4 addr | awk '{print $2, $4}'",
    ]);
    expect([none.code, none.out]).toEqual([0, 'lo 127.0.0.1/8\n']);
    await ok(d, ['rm', '-f', 'served']);
    docker(['rm', '-f', 'target']);
  });

  test("a host port in use: dockerd's error, and nothing half set up; on a held VM the VM stays Idle and serves the next start", async () => {
    const port = await freePort();
    const holder = await holdPort(port);
    const release = () => {
      holder.closeAllConnections();
      return new Promise((res) => (holder.listening ? holder.close(res) : res(undefined)));
    };
    try {
      const file = path.join(dir, 'clash.yaml');
      const podFile = (name: string) =>
        `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n    - name: web\n      image: ${IMAGE}\n      command: ["sh", "-c", ${JSON.stringify(serve(name))}]\n      ports: [{containerPort: 80, hostPort: ${port}}]\n`;
      fs.writeFileSync(file, podFile('clash'));
      let r = await podvisor(d, ['run-pod', '-f', file]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(
        new RegExp(
          `(^|\\n)podvisor: driver failed programming external connectivity on endpoint clash \\([0-9a-f]{64}\\): Error starting userland proxy: listen tcp4 0\\.0\\.0\\.0:${port}: bind: address already in use\\n$`,
        ),
      );
      // The pod is Created (as docker run leaves its container), on no VM and no network; the
      // port is still the holder's.
      expect((await pods()).find((p) => p.name === 'clash')).toMatchObject({ state: 'Created', vm: null });
      expect(JSON.parse(await ok(d, ['list', 'vms', '--json']))).toEqual([]);
      expect(onBridge()).toEqual([]);
      expect(await curl(port)).toBe('held\n');

      // The same on a VM the user holds: it comes back Idle, cleaned, and serves the next start.
      const vm = (await ok(d, ['run-vm'])).trim();
      const held = path.join(dir, 'held.yaml');
      fs.writeFileSync(held, podFile('onheld'));
      r = await podvisor(d, ['run-pod', '--vm', vm, '-f', held]);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`listen tcp4 0.0.0.0:${port}: bind: address already in use`);
      expect(JSON.parse(await ok(d, ['list', 'vms', '--json']))).toEqual([
        expect.objectContaining({ id: vm, state: 'Idle' }),
      ]);
      expect(onBridge()).toEqual([]);

      await release();
      expect(await ok(d, ['start', '--vm', vm, 'onheld'])).toBe(`onheld running on VM ${vm}\n`);
      expect(await curlPage(port)).toBe('hello from onheld\n');
      expect(dockerOk(d, ['port', 'onheld'])).toBe(`80/tcp -> 0.0.0.0:${port}\n80/tcp -> [::]:${port}`);
      // Kept again: off the network (no endpoint, the port free), the VM Idle.
      expect(await ok(d, ['stop', '--keep-vm', '-t', '1', 'onheld'])).toBe(`onheld stopped; VM ${vm} is Idle\n`);
      expect(onBridge()).toEqual([]);
      expect(await curl(port)).toMatch(/^curl exit/);
      // And the pod that failed first starts once the port is free.
      await ok(d, ['start', 'clash']);
      expect(await curlPage(port)).toBe('hello from clash\n');
      await ok(d, ['rm', '-f', 'clash', 'onheld']);
      await ok(d, ['rm-vm', vm]);
    } finally {
      await release();
    }
  });
});
