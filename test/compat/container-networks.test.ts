/**
 * Containers on networks, through the stock docker CLI against the real daemon (real QEMU VMs,
 * the fixture busybox): an address on the default bridge, published ports (`-p IP:P:C`,
 * `-p P:C`, `-P`) that busybox httpd in the guest answers through, `docker port`, ps PORTS and
 * inspect in dockerd's shape; two containers of a user network finding each other by name and
 * alias while a third on another network cannot; `--network none`; the published ports and
 * `docker port` answering again after a daemon SIGKILL; nothing left on the network after rm.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as http from 'node:http';
import { startDaemon, stopDaemonLeavingNothing, type TestDaemon } from '../helpers/daemon';
import { fixtureRegistry } from '../fixtures/registry';
import { dockerSync, dockerOk, type CliResult, freePort } from '../helpers/docker-cli';

jest.setTimeout(240000);

const IMAGE = `${fixtureRegistry()}/busybox`;
/** busybox httpd serving a page naming the container on port 80 (and 81), in the foreground. */
const WEB = [
  'sh',
  '-c',
  'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && httpd -p 81 -h /www && exec httpd -f -p 80 -h /www',
];

let d: TestDaemon;

const docker = (args: string[], timeout = 120000): CliResult => dockerSync(d, args, timeout);
const ok = (args: string[]): string => dockerOk(d, args);

/** GET http://host:port/ once: the body, or the error's code. */
function get(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', timeout: 3000, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  });
}

/** GET until it answers with a page (the server in the guest may still be starting). */
async function getPage(host: string, port: number, ms = 20000): Promise<string> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    last = await get(host, port);
    if (last.startsWith('hello')) return last;
    await new Promise((r) => setTimeout(r, 300));
  }
  return last;
}

/** A non-loopback IPv4 address of the host. */
function hostAddress(): string {
  const a = JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'get', '1.1.1.1'], { encoding: 'utf8' })) as Array<{
    prefsrc: string;
  }>;
  return a[0].prefsrc;
}

beforeAll(async () => {
  d = await startDaemon({ vmPoolSize: 1 });
});

afterAll(async () => {
  for (const c of ['web', 'a1', 'c1', 'c2', 'reuse1', 'reuse2']) docker(['rm', '-f', c]);
  for (const n of ['pvw-a', 'pvw-b']) docker(['network', 'rm', n]);
  await stopDaemonLeavingNothing(d);
});

describe('default bridge and published ports', () => {
  let p1 = 0;
  let p2 = 0;

  test('docker run -p 127.0.0.1:P:80 -p P2:80 --expose 81 -P: httpd in the guest answers on the host', async () => {
    p1 = await freePort();
    p2 = await freePort();
    const id = ok([
      'run',
      '-d',
      '--name',
      'web',
      '--hostname',
      'webhost',
      '-p',
      `127.0.0.1:${p1}:80`,
      '-p',
      `${p2}:80`,
      '--expose',
      '81',
      '-P',
      IMAGE,
      ...WEB,
    ]);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await getPage('127.0.0.1', p1)).toBe('hello from webhost\n');
    // 0.0.0.0 binds answer on loopback and on the host's own address.
    expect(await getPage('127.0.0.1', p2)).toBe('hello from webhost\n');
    expect(await getPage(hostAddress(), p2)).toBe('hello from webhost\n');
    // The loopback bind is not on the host's other addresses.
    expect(await get(hostAddress(), p1)).toMatch(/^error ECONNREFUSED/);
    // -P: the exposed 81 on a host port from 49153 up.
    const port = ok(['port', 'web']).split('\n').sort();
    const p81 = port.find((l) => l.startsWith('81/tcp'))!;
    const hp81 = Number(/:(\d+)$/.exec(p81)![1]);
    expect(hp81).toBeGreaterThanOrEqual(49153);
    // A port published with no address is on every IPv4 and every IPv6 address (dockerd 20.10).
    expect(port).toEqual(
      [
        `80/tcp -> 0.0.0.0:${p2}`,
        `80/tcp -> [::]:${p2}`,
        `80/tcp -> 127.0.0.1:${p1}`,
        `81/tcp -> 0.0.0.0:${hp81}`,
        `81/tcp -> [::]:${hp81}`,
      ].sort(),
    );
    expect(await getPage('127.0.0.1', hp81)).toBe('hello from webhost\n');
    expect(await getPage('::1', p2)).toBe('hello from webhost\n');
    expect(ok(['port', 'web', '80/tcp']).split('\n').sort()).toEqual(
      [`0.0.0.0:${p2}`, `[::]:${p2}`, `127.0.0.1:${p1}`].sort(),
    );
  });

  test('ps PORTS, inspect NetworkSettings and the guest agree on address and MAC', () => {
    const ports = ok(['ps', '--filter', 'name=web', '--format', '{{.Ports}}']);
    const hp81 = /0\.0\.0\.0:(\d+)->81\/tcp/.exec(ports)?.[1];
    expect(ports.split(', ').sort()).toEqual(
      [
        `0.0.0.0:${p2}->80/tcp`,
        `[::]:${p2}->80/tcp`,
        `127.0.0.1:${p1}->80/tcp`,
        `0.0.0.0:${hp81}->81/tcp`,
        `[::]:${hp81}->81/tcp`,
      ].sort(),
    );
    const ns = JSON.parse(ok(['inspect', 'web']))[0].NetworkSettings;
    const bridge = JSON.parse(ok(['network', 'inspect', 'bridge']))[0];
    const [cfg] = bridge.IPAM.Config;
    expect(ns.Networks.bridge).toEqual(
      expect.objectContaining({
        NetworkID: bridge.Id,
        Gateway: cfg.Gateway,
        IPAddress: ns.IPAddress,
        IPPrefixLen: Number(cfg.Subnet.split('/')[1]),
        MacAddress: ns.MacAddress,
        Aliases: null,
      }),
    );
    expect(ns.Gateway).toBe(cfg.Gateway);
    expect(ns.EndpointID).toMatch(/^[0-9a-f]{64}$/);
    expect(
      ns.Ports['80/tcp'].sort((a: { HostIp: string }, b: { HostIp: string }) => (a.HostIp < b.HostIp ? -1 : 1)),
    ).toEqual([
      { HostIp: '0.0.0.0', HostPort: String(p2) },
      { HostIp: '127.0.0.1', HostPort: String(p1) },
      { HostIp: '::', HostPort: String(p2) },
    ]);
    // The guest's eth0 has that address and MAC; the hosts file names the container by it.
    const addr = ok(['exec', 'web', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    expect(addr).toContain(`inet ${ns.IPAddress}/${ns.IPPrefixLen}`);
    expect(ok(['exec', 'web', 'cat', '/sys/class/net/eth0/address'])).toBe(ns.MacAddress);
    expect(ok(['exec', 'web', 'cat', '/etc/hosts'])).toContain(`${ns.IPAddress}\twebhost`);
    expect(ok(['exec', 'web', 'ip', 'route'])).toContain(`default via ${cfg.Gateway}`);
    // The network lists it.
    expect(Object.values(bridge.Containers).map((c) => (c as { Name: string }).Name)).toEqual(['web']);
  });

  test('stats: per-interface counters of eth0, from the host side of its tap, grow with traffic', async () => {
    const stats = async () => {
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get({ socketPath: d.socketPath, path: '/v1.41/containers/web/stats?stream=false&one-shot=true' }, (res) => {
            let b = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (b += c));
            res.on('end', () => resolve(b));
          })
          .on('error', reject);
      });
      return JSON.parse(body).networks as Record<
        string,
        { rx_bytes: number; tx_bytes: number; rx_packets: number; tx_packets: number }
      >;
    };
    const before = await stats();
    expect(Object.keys(before)).toEqual(['eth0']);
    for (let i = 0; i < 20; i++) expect(await get('127.0.0.1', p1)).toBe('hello from webhost\n');
    const after = await stats();
    // Each answer carries the page and its headers out of the guest (tx), each request comes in (rx).
    expect(after.eth0.tx_bytes - before.eth0.tx_bytes).toBeGreaterThan(20 * 'hello from webhost\n'.length);
    expect(after.eth0.rx_bytes - before.eth0.rx_bytes).toBeGreaterThan(20 * 'GET / HTTP/1.1\r\n'.length);
    expect(after.eth0.rx_packets).toBeGreaterThan(before.eth0.rx_packets);
    expect(ok(['stats', '--no-stream', '--format', '{{.NetIO}}', 'web'])).toMatch(/^[1-9][\d.]*k?B \/ [1-9][\d.]*k?B$/);
  });

  test("a host port in use gives dockerd's error, and the container does not start", async () => {
    const r = docker(['run', '-d', '--name', 'clash', '-p', `127.0.0.1:${p1}:80`, IMAGE, 'sleep', '30']);
    expect(r.code).not.toBe(0);
    // Another container of the daemon holds it: dockerd's allocator answers, before any bind.
    expect(r.err).toMatch(
      new RegExp(
        `driver failed programming external connectivity on endpoint clash \\([0-9a-f]{64}\\): Bind for 127\\.0\\.0\\.1:${p1} failed: port is already allocated`,
      ),
    );
    expect(JSON.parse(ok(['inspect', 'clash']))[0].State.Running).toBe(false);
    ok(['rm', '-f', 'clash']);
    expect(Object.keys(JSON.parse(ok(['network', 'inspect', 'bridge']))[0].Containers)).toHaveLength(1);
    expect(await getPage('127.0.0.1', p1)).toBe('hello from webhost\n');
  });

  test('after a daemon SIGKILL and restart the published ports answer again', async () => {
    await d.kill9();
    await d.restart();
    const page = await getPage('127.0.0.1', p1, 30000);
    // Should it fail, the daemon's log says why (a port not bound again, an endpoint dropped).
    if (page !== 'hello from webhost\n')
      process.stderr.write(`127.0.0.1:${p1} after restart: ${page}\n${d.logs().slice(-6000)}\n`);
    expect(page).toBe('hello from webhost\n');
    expect(await getPage('127.0.0.1', p2)).toBe('hello from webhost\n');
    const t0 = Date.now();
    const r = docker(['port', 'web', '80/tcp'], 60000);
    if (r.code !== 0)
      process.stderr.write(`docker port after restart (${Date.now() - t0} ms): ${r.err}\n${d.logs().slice(-6000)}\n`);
    expect(r.out.split('\n').sort()).toEqual([`0.0.0.0:${p2}`, `[::]:${p2}`, `127.0.0.1:${p1}`].sort());
  });

  test('rm -f frees the ports and the address', async () => {
    ok(['rm', '-f', 'web']);
    // The removal answers before its VM's teardown ends: the ports go within moments.
    const end = Date.now() + 10000;
    while (Date.now() < end && Object.keys(JSON.parse(ok(['network', 'inspect', 'bridge']))[0].Containers).length > 0)
      await new Promise((r) => setTimeout(r, 200));
    expect(JSON.parse(ok(['network', 'inspect', 'bridge']))[0].Containers).toEqual({});
    expect(await get('127.0.0.1', p1)).toMatch(/^error ECONNREFUSED/);
    expect(await get('127.0.0.1', p2)).toMatch(/^error ECONNREFUSED/);
  });

  test("an address handed to the next container keeps its MAC (dockerd's, 02:42 and the address), so it answers at once", async () => {
    const macOf = (ip: string) =>
      `02:42:${ip
        .split('.')
        .map((b) => Number(b).toString(16).padStart(2, '0'))
        .join(':')}`;
    const run = async (name: string) => {
      const port = await freePort();
      ok(['run', '-d', '--name', name, '--hostname', name, '-p', `${port}:80`, IMAGE, ...WEB]);
      const ns = JSON.parse(ok(['inspect', name]))[0].NetworkSettings;
      return { port, ip: ns.IPAddress as string, mac: ns.MacAddress as string };
    };
    try {
      const first = await run('reuse1');
      expect(first.mac).toBe(macOf(first.ip));
      expect(ok(['exec', 'reuse1', 'cat', '/sys/class/net/eth0/address'])).toBe(first.mac);
      // The host now holds an ARP entry for the address (the proxy connected to it).
      expect(await getPage('127.0.0.1', first.port)).toBe('hello from reuse1\n');
      ok(['rm', '-f', 'reuse1']);
      const end = Date.now() + 10000;
      while (Date.now() < end && Object.keys(JSON.parse(ok(['network', 'inspect', 'bridge']))[0].Containers).length > 0)
        await new Promise((r) => setTimeout(r, 200));
      const second = await run('reuse2');
      expect(second.ip).toBe(first.ip);
      expect(second.mac).toBe(first.mac);
      // With another MAC the host's entry, still REACHABLE, would send to the removed VM's
      // and connections would hang for 20-50 s, until the kernel probed again.
      expect(await getPage('127.0.0.1', second.port, 8000)).toBe('hello from reuse2\n');
    } finally {
      for (const c of ['reuse1', 'reuse2']) docker(['rm', '-f', c]);
    }
  });
});

describe('user networks', () => {
  test('two containers reach each other by name and alias; one on another network cannot', () => {
    ok(['network', 'create', 'pvw-a']);
    ok(['network', 'create', 'pvw-b']);
    ok([
      'run',
      '-d',
      '--name',
      'a1',
      '--hostname',
      'a1host',
      '--network',
      'pvw-a',
      '--network-alias',
      'svc',
      IMAGE,
      ...WEB,
    ]);
    const a1ip = JSON.parse(ok(['inspect', 'a1']))[0].NetworkSettings.Networks['pvw-a'].IPAddress as string;
    expect(a1ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // By name and by alias, from a second container on pvw-a: our DNS server answers (busybox
    // nslookup asks it; the static busybox's wget crashes, so nc speaks HTTP), and the
    // address answers (retries while httpd starts).
    const script = [
      'lookup() { nslookup "$1" | awk \'/^Address/ { a = $NF } END { print a }\'; }',
      'n=$(lookup a1); s=$(lookup svc); echo "$n $s"',
      'get() { printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 "$1" 80 | tail -n 1; }',
      'for i in 1 2 3 4 5 6 7 8 9 10; do b=$(get "$s"); [ -n "$b" ] && break; sleep 1; done; echo "$b"',
    ].join('\n');
    const out = ok(['run', '--rm', '--network', 'pvw-a', IMAGE, 'sh', '-c', script]).split('\n');
    expect(out).toEqual([`${a1ip} ${a1ip}`, 'hello from a1host']);
    // From pvw-b: neither the name nor the address.
    const r = docker([
      'run',
      '--rm',
      '--network',
      'pvw-b',
      IMAGE,
      'sh',
      '-c',
      `nslookup a1; printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 ${a1ip} 80 || echo unreachable`,
    ]);
    expect(r.out).not.toContain(a1ip.replace(/^/, 'Address: '));
    expect(r.out.split('\n').pop()).toBe('unreachable');
  });

  test('connect and disconnect a running container: its spare NIC joins the other network, names follow, events are sent', () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    ok(['network', 'connect', '--alias', 'back-svc', 'pvw-b', 'a1']);
    const nets = JSON.parse(ok(['inspect', 'a1']))[0].NetworkSettings.Networks;
    expect(Object.keys(nets).sort()).toEqual(['pvw-a', 'pvw-b']);
    const bip = nets['pvw-b'].IPAddress as string;
    expect(nets['pvw-b'].Aliases).toEqual(expect.arrayContaining(['back-svc']));
    expect(
      Object.values(JSON.parse(ok(['network', 'inspect', 'pvw-b']))[0].Containers).map(
        (c) => (c as { Name: string }).Name,
      ),
    ).toEqual(['a1']);
    expect(ok(['exec', 'a1', 'ip', '-o', '-4', 'addr', 'show', 'eth1'])).toContain(`inet ${bip}/`);
    // A second connect to the same network is dockerd's error.
    expect(docker(['network', 'connect', 'pvw-b', 'a1']).err).toContain(
      'endpoint with name a1 already exists in network pvw-b',
    );
    // From pvw-b, a1 now answers by its name and the alias given at connect.
    const script =
      'for n in a1 back-svc; do nslookup $n | awk \'/^Address/ { a = $NF } END { print a }\'; done; printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 back-svc 80 | tail -n 1';
    expect(ok(['run', '--rm', '--network', 'pvw-b', IMAGE, 'sh', '-c', script]).split('\n')).toEqual([
      bip,
      bip,
      'hello from a1host',
    ]);
    ok(['network', 'disconnect', 'pvw-b', 'a1']);
    expect(Object.keys(JSON.parse(ok(['inspect', 'a1']))[0].NetworkSettings.Networks)).toEqual(['pvw-a']);
    expect(JSON.parse(ok(['network', 'inspect', 'pvw-b']))[0].Containers).toEqual({});
    expect(ok(['exec', 'a1', 'cat', '/sys/class/net/eth1/operstate'])).toBe('down');
    expect(docker(['network', 'disconnect', 'pvw-b', 'a1']).err).toMatch(
      /container [0-9a-f]{64} is not connected to the network pvw-b/,
    );
    const a1id = JSON.parse(ok(['inspect', 'a1']))[0].Id as string;
    const events = ok([
      'events',
      '--since',
      since,
      '--until',
      String(Math.floor(Date.now() / 1000) + 1),
      '--filter',
      'type=network',
      '--filter',
      'network=pvw-b',
      '--format',
      '{{.Action}} {{.Actor.Attributes.container}}',
    ]).split('\n');
    expect(events.filter((l) => l.endsWith(` ${a1id}`))).toEqual([`connect ${a1id}`, `disconnect ${a1id}`]);
    // Connected again, the same spare NIC (given its boot MAC back at the disconnect) serves
    // once more, with the MAC of its new address.
    ok(['network', 'connect', 'pvw-b', 'a1']);
    const again = JSON.parse(ok(['inspect', 'a1']))[0].NetworkSettings.Networks['pvw-b'];
    expect(ok(['exec', 'a1', 'cat', '/sys/class/net/eth1/address'])).toBe(again.MacAddress);
    expect(ok(['exec', 'a1', 'ip', '-o', '-4', 'addr', 'show', 'eth1'])).toContain(`inet ${again.IPAddress}/`);
    ok(['network', 'disconnect', 'pvw-b', 'a1']);
  });

  test('a created container connected to a second network starts on both; --network none refuses connect', () => {
    ok(['create', '--name', 'c1', '--network', 'pvw-a', IMAGE, 'sleep', '300']);
    ok(['network', 'connect', 'pvw-b', 'c1']);
    ok(['start', 'c1']);
    const nets = JSON.parse(ok(['inspect', 'c1']))[0].NetworkSettings.Networks;
    expect(Object.keys(nets).sort()).toEqual(['pvw-a', 'pvw-b']);
    const addrs = ok(['exec', 'c1', 'sh', '-c', 'ip -o -4 addr | awk \'$2 != "lo" {print $2, $4}\'']).split('\n');
    expect(addrs).toEqual([
      `eth0 ${nets['pvw-a'].IPAddress}/${nets['pvw-a'].IPPrefixLen}`,
      `eth1 ${nets['pvw-b'].IPAddress}/${nets['pvw-b'].IPPrefixLen}`,
    ]);
    ok(['rm', '-f', 'c1']);
    ok(['create', '--name', 'c1', '--network', 'none', IMAGE, 'true']);
    expect(docker(['network', 'connect', 'pvw-a', 'c1']).err).toContain(
      'container cannot be connected to multiple networks with one of the networks in private (none) mode',
    );
    ok(['rm', '-f', 'c1']);
  });

  test('docker-py: a compose-style service alias in NetworkingConfig resolves for a peer', () => {
    // What compose does for a service: create with the service name as an alias on the network.
    const py = [
      'import sys, docker',
      'api = docker.APIClient(base_url=sys.argv[1], version="1.41")',
      'nc = api.create_networking_config({"pvw-a": api.create_endpoint_config(aliases=["db"])})',
      'c = api.create_container(sys.argv[2], ["sleep", "300"], name="c2", host_config=api.create_host_config(network_mode="pvw-a"), networking_config=nc)',
      'api.start(c["Id"])',
      'n = api.inspect_container(c["Id"])["NetworkSettings"]["Networks"]["pvw-a"]',
      'print(n["IPAddress"], " ".join(sorted(n["Aliases"])))',
    ].join('\n');
    const r = spawnSync('python3', ['-c', py, d.dockerHost, IMAGE], { encoding: 'utf8', timeout: 120000 });
    if (r.status !== 0) throw new Error(`docker-py: ${r.stderr}`);
    const [ip, ...aliases] = r.stdout.trim().split(' ');
    const id = ok(['inspect', '--format', '{{.Id}}', 'c2']);
    expect(aliases).toEqual(['db', id.slice(0, 12)].sort());
    // From a1 (same network): the service name answers with c2's address.
    expect(ok(['exec', 'a1', 'sh', '-c', "nslookup db | awk '/^Address/ { a = $NF } END { print a }'"])).toBe(ip);
    ok(['rm', '-f', 'c2']);
  });

  test('--network none has loopback only; --network host is a clear error', () => {
    const out = ok(['run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', "ip -o -4 addr | awk '{print $2, $4}'"]);
    expect(out).toBe('lo 127.0.0.1/8');
    const r = docker(['run', '--rm', '--network', 'host', IMAGE, 'true']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('--network host is not supported');
  });

  test('--dns, --dns-search, --dns-option, --add-host (host-gateway too), --hostname, --domainname land in /etc', () => {
    const out = ok([
      'run',
      '--rm',
      '--add-host',
      'foo:1.2.3.4',
      '--add-host',
      'gw:host-gateway',
      '--hostname',
      'h1',
      '--domainname',
      'example.org',
      '--dns',
      '9.9.9.9',
      '--dns-search',
      's.example',
      '--dns-option',
      'ndots:3',
      IMAGE,
      'sh',
      '-c',
      "cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; cat /etc/hostname; ip route | awk '/default/ {print $3}'",
    ]);
    const [hosts, resolv, tail] = out.split('---\n');
    const [hostname, gw] = tail.trim().split('\n');
    const lines = hosts.trim().split('\n');
    expect(lines.slice(-3, -1)).toEqual(['1.2.3.4\tfoo', `${gw}\tgw`]);
    expect(lines[lines.length - 1]).toMatch(/^\d+\.\d+\.\d+\.\d+\th1\.example\.org h1$/);
    // As dockerd 26 writes it (the CLI speaks 1.45): its comments, the nameserver first.
    expect(resolv.trim().split('\n')).toEqual([
      '# Generated by Docker Engine.',
      '# This file can be edited; Docker Engine will not make further changes once it',
      '# has been modified.',
      '',
      'nameserver 9.9.9.9',
      'search s.example',
      'options ndots:3',
      '',
      "# Based on host file: '/etc/resolv.conf' (legacy)",
      '# Overrides: [nameservers search options]',
      '# Option ndots from: override',
    ]);
    expect(hostname).toBe('h1');
    expect(docker(['create', '--add-host', 'foo:1.2.3', IMAGE]).err).toContain('invalid IP address in add-host');
  });
});
