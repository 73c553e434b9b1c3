/**
 * Real services behind published ports, through the stock docker CLI against the real daemon
 * (real QEMU VMs): the Debian nginx fixture (debian-nginx, built from Debian's packages)
 * published with `-p 127.0.0.1:P:80`, `-p P:80` and `-P` serves its welcome page to curl on the
 * host, and its access log (linked to /dev/stdout, as in the official image) shows in
 * `docker logs`; a UDP echo (perl in debian:bookworm) answers through a published UDP port; a
 * container of an `--internal` network cannot reach a host beyond the host, while one of an
 * ordinary network can. The "outside" host is a network namespace routed from the host by a
 * veth pair, so the test depends on no real outside network.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerSync, dockerOk, type CliResult, freePort } from '../helpers/docker-cli';

jest.setTimeout(240000);

const REG = fixtureRegistry();
const NGINX = `${REG}/debian-nginx`;
const DEBIAN = `${REG}/debian:bookworm`;
const BUSYBOX = `${REG}/busybox`;
const WELCOME = '<title>Welcome to nginx!</title>';
/** A UDP echo server on port 9999 that prefixes each answer, in Debian's perl-base. */
const UDP_ECHO = [
  'perl',
  '-MIO::Socket::INET',
  '-e',
  '$| = 1; my $s = IO::Socket::INET->new(LocalPort => 9999, Proto => "udp") or die "bind: $!"; print "ready\\n"; while (my $peer = $s->recv(my $m, 2048)) { $s->send("echo: $m", 0, $peer) }',
];

const tag = (process.pid % 10000).toString(16).padStart(4, '0');
const OUT_NS = `pvo-${tag}`;
const OUT_VETH = `pvo${tag}`;
const OUT_HOST = '10.251.78.1';
const OUT_ADDR = '10.251.78.2';

let d: TestDaemon;
let outServer: ChildProcess | undefined;

const docker = (args: string[], timeout = 120000): CliResult => dockerSync(d, args, timeout);
const ok = (args: string[]): string => dockerOk(d, args);

/** A non-loopback IPv4 address of the host. */
function hostAddress(): string {
  const a = JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'get', '1.1.1.1'], { encoding: 'utf8' })) as Array<{
    prefsrc: string;
  }>;
  return a[0].prefsrc;
}

/** `curl -s http://host:port/` until it answers with nginx's page (nginx may still be starting). */
async function curlPage(host: string, port: number, ms = 30000): Promise<string> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    const r = spawnSync('curl', ['-s', '-m', '3', `http://${host}:${port}/`], { encoding: 'utf8' });
    last = r.stdout;
    if (last.includes(WELCOME)) return last;
    await new Promise((res) => setTimeout(res, 300));
  }
  return last;
}

/** Ask until answered (UDP may lose a datagram; a client asks again), up to `tries` times. */
async function udpAskRetrying(host: string, port: number, msg: string, tries = 10): Promise<string> {
  let last = 'timeout';
  for (let i = 0; i < tries && last === 'timeout'; i++) last = await udpAsk(host, port, msg);
  return last;
}

/** One UDP datagram to host:port; the answer, or 'timeout'. */
function udpAsk(host: string, port: number, msg: string, ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve('timeout');
    }, ms);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m.toString());
    });
    s.send(msg, port, host);
  });
}

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 1 });
});

afterAll(async () => {
  for (const c of ['ng1', 'ng2', 'ng3', 'udp1', 'i1', 'e1']) docker(['rm', '-f', c]);
  for (const n of ['pvs-int', 'pvs-ext']) docker(['network', 'rm', n]);
  outServer?.kill('SIGKILL');
  spawnSync('ip', ['netns', 'del', OUT_NS]);
  spawnSync('ip', ['link', 'del', OUT_VETH]);
  await stopDaemonLeavingNothing(d);
});

describe('the Debian nginx fixture behind published ports', () => {
  test('-p 127.0.0.1:P:80: curl on the host gets the welcome page; the access log is in docker logs', async () => {
    const p = await freePort();
    ok(['run', '-d', '--name', 'ng1', '-p', `127.0.0.1:${p}:80`, NGINX]);
    const page = await curlPage('127.0.0.1', p);
    expect(page).toContain(WELCOME);
    expect(page).toContain('If you see this page, the nginx web server is successfully installed');
    // Not published on the host's other addresses.
    expect(spawnSync('curl', ['-s', '-m', '3', `http://${hostAddress()}:${p}/`]).status).not.toBe(0);
    spawnSync('curl', ['-s', '-m', '3', '-A', 'pv-compat-agent', `http://127.0.0.1:${p}/no-such-page`]);
    // A directory without an index: nginx logs an error (Debian's site answers a missing file
    // with try_files' 404, which logs none).
    ok(['exec', 'ng1', 'mkdir', '/var/www/html/empty']);
    spawnSync('curl', ['-s', '-m', '3', `http://127.0.0.1:${p}/empty/`]);
    // nginx writes its access log to /dev/stdout and errors to /dev/stderr.
    const end = Date.now() + 10000;
    let logs = { out: '', err: '' };
    while (Date.now() < end) {
      const r = spawnSync('docker', ['logs', 'ng1'], { env: d.env, encoding: 'utf8' });
      logs = { out: r.stdout, err: r.stderr };
      if (logs.out.includes('pv-compat-agent') && logs.err.includes('forbidden')) break;
      await new Promise((res) => setTimeout(res, 300));
    }
    expect(logs.out).toMatch(/"GET \/ HTTP\/1\.1" 200 \d+ "-" "curl\//);
    expect(logs.out).toMatch(/"GET \/no-such-page HTTP\/1\.1" 404 \d+ "-" "pv-compat-agent"/);
    expect(logs.out).toMatch(/"GET \/empty\/ HTTP\/1\.1" 403 /);
    expect(logs.err).toContain('directory index of "/var/www/html/empty/" is forbidden');
    ok(['rm', '-f', 'ng1']);
  });

  test('-p P:80 answers on loopback and the host address; -P publishes EXPOSE 80 on a free port', async () => {
    const p = await freePort();
    ok(['run', '-d', '--name', 'ng2', '-p', `${p}:80`, NGINX]);
    expect(await curlPage('127.0.0.1', p)).toContain(WELCOME);
    expect(await curlPage(hostAddress(), p)).toContain(WELCOME);
    ok(['run', '-d', '--name', 'ng3', '-P', NGINX]);
    const mapping = ok(['port', 'ng3']);
    // Every IPv4 and every IPv6 address, on one port (dockerd 20.10).
    const m = /^80\/tcp -> 0\.0\.0\.0:(\d+)\n80\/tcp -> \[::\]:\1$/.exec(mapping);
    expect(m).not.toBeNull();
    const hp = Number(m![1]);
    expect(hp).toBeGreaterThanOrEqual(49153);
    expect(await curlPage('127.0.0.1', hp)).toContain(WELCOME);
    expect(JSON.parse(ok(['inspect', 'ng3']))[0].NetworkSettings.Ports).toEqual({
      '80/tcp': [
        { HostIp: '0.0.0.0', HostPort: String(hp) },
        { HostIp: '::', HostPort: String(hp) },
      ],
    });
    ok(['rm', '-f', 'ng2', 'ng3']);
  });
});

test('a UDP echo answers through a published UDP port, on loopback and the host address', async () => {
  const p = await freePort();
  ok(['run', '-d', '--name', 'udp1', '-p', `${p}:9999/udp`, DEBIAN, ...UDP_ECHO]);
  const end = Date.now() + 60000;
  while (Date.now() < end && !docker(['logs', 'udp1']).out.includes('ready'))
    await new Promise((r) => setTimeout(r, 300));
  const first = await udpAskRetrying('127.0.0.1', p, 'ping');
  if (first !== 'echo: ping') {
    const r = spawnSync('docker', ['logs', 'udp1'], { env: d.env, encoding: 'utf8' });
    process.stderr.write(
      `udp1 logs: ${r.stdout} ${r.stderr}\n${docker(['exec', 'udp1', 'cat', '/proc/net/udp']).out}\n${docker(['inspect', '--format', '{{json .NetworkSettings}}', 'udp1']).out}\n`,
    );
  }
  expect(first).toBe('echo: ping');
  expect(await udpAskRetrying(hostAddress(), p, 'pong')).toBe('echo: pong');
  expect(ok(['port', 'udp1'])).toBe(`9999/udp -> 0.0.0.0:${p}\n9999/udp -> [::]:${p}`);
  ok(['rm', '-f', 'udp1']);
  expect(await udpAsk('127.0.0.1', p, 'gone', 1000)).toBe('timeout');
});

test('--internal: no way to a host beyond this one; an ordinary network reaches it', async () => {
  // "Outside": a namespace routed from the host, serving one line on TCP 8080.
  execFileSync('bash', [
    '-c',
    [
      `ip netns add ${OUT_NS}`,
      `ip link add ${OUT_VETH} type veth peer name eth0 netns ${OUT_NS}`,
      `ip addr add ${OUT_HOST}/30 dev ${OUT_VETH} && ip link set ${OUT_VETH} up`,
      `ip -n ${OUT_NS} link set lo up && ip -n ${OUT_NS} addr add ${OUT_ADDR}/30 dev eth0 && ip -n ${OUT_NS} link set eth0 up`,
      `ip -n ${OUT_NS} route add default via ${OUT_HOST}`,
    ].join(' && '),
  ]);
  outServer = spawn(
    'ip',
    ['netns', 'exec', OUT_NS, 'busybox', 'nc', '-ll', '-p', '8080', '-e', 'echo', 'hello from outside'],
    { stdio: 'ignore' },
  );
  ok(['network', 'create', '--internal', 'pvs-int']);
  ok(['network', 'create', 'pvs-ext']);
  const probe = `nc -w 3 ${OUT_ADDR} 8080 || echo unreachable`;
  expect(ok(['run', '--rm', '--name', 'e1', '--network', 'pvs-ext', BUSYBOX, 'sh', '-c', probe])).toBe(
    'hello from outside',
  );
  expect(ok(['run', '--rm', '--name', 'i1', '--network', 'pvs-int', BUSYBOX, 'sh', '-c', probe])).toBe('unreachable');
  // -p on an internal network: dockerd starts the container and publishes nothing.
  ok(['run', '-d', '--name', 'i1', '--network', 'pvs-int', '-p', '80', BUSYBOX, 'sleep', '60']);
  expect(ok(['port', 'i1'])).toBe('');
  ok(['rm', '-f', 'i1']);
  ok(['network', 'rm', 'pvs-int', 'pvs-ext']);
});
