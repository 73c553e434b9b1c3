/**
 * The network layer on real kernel plumbing: real bridges, iptables rules, DNS servers and
 * published-port proxies made by NetworkManager, with network namespaces joined by veth pairs
 * standing in for containers' VMs (the veth's host end takes the place of the VM's tap). An
 * extra namespace, routed from the host, stands in for the outside world. Needs root.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as dnsPacket from 'dns-packet';
import { NetworkManager } from '../../../src/net/manager';
import { LinuxNetHost, removeAllOwned } from '../../../src/net/host';
import { firewallOwner, listPodvisorRules } from '../../../src/net/firewall';
import { ownedLinks } from '../../../src/net/links';
import { EventBus } from '../../../src/pod/events';

jest.setTimeout(60000);

const sh = (cmd: string): string => execFileSync('bash', ['-c', cmd], { encoding: 'utf8' });
/** The same, without blocking this process's event loop (which serves the DNS and proxies under test). */
const shAsync = (cmd: string): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile('bash', ['-c', cmd], { encoding: 'utf8' }, (err, out) => (err ? reject(err) : resolve(out)));
  });
const tag = (process.pid % 10000).toString(16).padStart(4, '0');
const nsName = (n: string) => `pvt-${tag}-${n}`;

let root: string;
let m: NetworkManager;
let fakeUpstream: dgram.Socket;
const servers: ChildProcess[] = [];
const namespaces: string[] = [];
/** The host's first global IPv4 address (not loopback, not ours). */
let hostAddr: string;
const SERVER = `
const net = require('net'), dgram = require('dgram');
const who = process.argv[2];
net.createServer((c) => c.end('hello from ' + who + ' to ' + c.remoteAddress.replace('::ffff:', '') + '\\n')).listen(80);
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send(Buffer.from('echo ' + who + ': ' + m), r.port, r.address));
u.bind(5353);
`;
const DNSQ = `
const dgram = require('dgram'), net = require('net'), dp = require(process.argv[2]);
const [server, name, proto] = process.argv.slice(3);
const q = dp.encode({ type: 'query', id: 7, flags: dp.RECURSION_DESIRED, questions: [{ type: 'A', name }] });
const done = (buf) => { const a = dp.decode(buf); console.log(JSON.stringify({ rcode: a.rcode, ips: a.answers.map((x) => x.data) })); process.exit(0); };
setTimeout(() => { console.log(JSON.stringify({ timeout: true })); process.exit(0); }, 5000);
if (proto === 'tcp') {
  const c = net.connect(53, server, () => c.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q])));
  let b = Buffer.alloc(0);
  c.on('data', (d) => { b = Buffer.concat([b, d]); if (b.length >= 2 && b.length >= 2 + b.readUInt16BE(0)) done(b.subarray(2)); });
} else {
  const s = dgram.createSocket('udp4'); s.on('message', done); s.send(q, 53, server);
}
`;

/** A namespace on network `netName` as container `cname` (id `cid`), with a server running. */
async function container(
  short: string,
  netName: string,
  cid: string,
  cname: string,
  aliases: string[] = [],
): Promise<string> {
  const ns = nsName(short);
  const hostEnd = `pvt${tag}${short}`;
  sh(`ip netns add ${ns} && ip link add ${hostEnd} type veth peer name eth0 netns ${ns} && ip -n ${ns} link set lo up`);
  namespaces.push(ns);
  const ep = await m.connect(netName, { containerId: cid, name: cname, aliases });
  await m.attachTap(netName, cid, hostEnd);
  sh(
    `ip -n ${ns} link set eth0 address ${ep.mac} mtu ${ep.mtu} up && ip -n ${ns} addr add ${ep.ip}/${ep.prefixLen} dev eth0 && ip -n ${ns} route add default via ${ep.gateway}`,
  );
  const s = spawn('ip', ['netns', 'exec', ns, process.execPath, path.join(root, 'server.js'), cname], {
    stdio: 'ignore',
  });
  servers.push(s);
  await waitFor(() => sh(`ip netns exec ${ns} ss -ltnH 'sport = :80'`).includes(':80'));
  return ep.ip;
}

async function waitFor(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('timed out');
}

/** A TCP request from namespace `ns` (or the host when undefined): the answer, or 'FAILED'. */
async function tcpFrom(ns: string | undefined, ip: string, port: number): Promise<string> {
  const pre = ns ? `ip netns exec ${ns} ` : '';
  try {
    return (await shAsync(`${pre}socat -T3 - TCP:${ip}:${port},connect-timeout=2 </dev/null`)).trim();
  } catch {
    return 'FAILED';
  }
}

async function udpFrom(ns: string | undefined, ip: string, port: number, msg: string): Promise<string> {
  const pre = ns ? `ip netns exec ${ns} ` : '';
  try {
    return (await shAsync(`echo ${msg} | ${pre}socat -T2 - UDP:${ip}:${port}`)).trim();
  } catch {
    return 'FAILED';
  }
}

async function dnsFrom(
  ns: string,
  server: string,
  name: string,
  proto: 'udp' | 'tcp' = 'udp',
): Promise<{ rcode?: string; ips?: string[]; timeout?: boolean }> {
  const lib = path.dirname(require.resolve('dns-packet'));
  return JSON.parse(
    await shAsync(
      `ip netns exec ${ns} ${process.execPath} ${path.join(root, 'dnsq.js')} ${lib} ${server} ${name} ${proto}`,
    ),
  ) as { rcode?: string; ips?: string[] };
}

/** This manager's rules (other test files' daemons add and remove theirs at the same time). */
async function ownRules(): Promise<string[]> {
  const chains = firewallOwner(root).forward.slice(0, 11);
  return (await listPodvisorRules()).filter((l) => l.includes(chains) || l.includes(root));
}

let ipA1: string;
let ipA2: string;
let ipB1: string;
const OUT_HOST = '10.251.77.1';
const OUT_NS = '10.251.77.2';

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-nettest-'));
  fs.writeFileSync(path.join(root, 'server.js'), SERVER);
  fs.writeFileSync(path.join(root, 'dnsq.js'), DNSQ);
  hostAddr = (
    JSON.parse(sh('ip -j -4 addr show scope global')) as Array<{ ifname: string; addr_info: Array<{ local: string }> }>
  ).find((l) => !l.ifname.startsWith('pv-') && !l.ifname.startsWith('pvt'))!.addr_info[0].local;
  // A fake upstream resolver on loopback: it knows one outside name.
  fakeUpstream = dgram.createSocket('udp4');
  fakeUpstream.on('message', (msg, r) => {
    const q = dnsPacket.decode(msg);
    fakeUpstream.send(
      dnsPacket.encode({
        type: 'response',
        id: q.id,
        questions: q.questions,
        answers:
          q.questions![0].name === 'outside.example'
            ? [{ type: 'A', name: 'outside.example', data: '192.0.2.99' }]
            : [],
      }),
      r.port,
      r.address,
    );
  });
  await new Promise<void>((r) => fakeUpstream.bind(0, '127.0.0.1', () => r()));
  m = await NetworkManager.open(
    root,
    new LinuxNetHost(root, [`127.0.0.1:${fakeUpstream.address().port}`]),
    new EventBus(),
  );
  await m.create({ name: 'neta', ipam: [{ Subnet: '10.252.1.0/24' }] });
  await m.create({ name: 'netb', ipam: [{ Subnet: '10.252.2.0/24' }] });
  await m.create({ name: 'neti', internal: true, ipam: [{ Subnet: '10.252.3.0/24' }] });
  ipA1 = await container('a1', 'neta', 'a1'.repeat(32), 'web', ['www']);
  ipA2 = await container('a2', 'neta', 'a2'.repeat(32), 'db');
  ipB1 = await container('b1', 'netb', 'b1'.repeat(32), 'other');
  await container('i1', 'neti', 'c1'.repeat(32), 'inner');
  // "Outside": a namespace routed from the host, not on any of our bridges.
  const out = nsName('out');
  sh(
    `ip netns add ${out} && ip link add pvt${tag}o type veth peer name eth0 netns ${out} && ip addr add ${OUT_HOST}/30 dev pvt${tag}o && ip link set pvt${tag}o up && ip -n ${out} link set lo up && ip -n ${out} addr add ${OUT_NS}/30 dev eth0 && ip -n ${out} link set eth0 up && ip -n ${out} route add default via ${OUT_HOST}`,
  );
  namespaces.push(out);
  const s = spawn('ip', ['netns', 'exec', out, process.execPath, path.join(root, 'server.js'), 'outside'], {
    stdio: 'ignore',
  });
  servers.push(s);
  await waitFor(() => sh(`ip netns exec ${out} ss -ltnH 'sport = :80'`).includes(':80'));
});

afterAll(async () => {
  for (const s of servers) s.kill('SIGKILL');
  for (const ns of namespaces) sh(`ip netns del ${ns} || true`);
  sh(`ip link del pvt${tag}o 2>/dev/null || true`);
  await m?.shutdown();
  await removeAllOwned(root);
  fakeUpstream?.close();
  expect(await ownedLinks(root)).toEqual([]);
  expect(await ownRules()).toEqual([]);
  fs.rmSync(root, { recursive: true, force: true });
});

test('containers on one network reach each other; not across networks', async () => {
  expect(await tcpFrom(nsName('a1'), ipA2, 80)).toBe(`hello from db to ${ipA1}`);
  expect(await tcpFrom(nsName('a2'), ipA1, 80)).toBe(`hello from web to ${ipA2}`);
  expect(await tcpFrom(nsName('a1'), ipB1, 80)).toBe('FAILED');
  expect(await tcpFrom(nsName('b1'), ipA1, 80)).toBe('FAILED');
});

test('outbound traffic is NATed through the host; an --internal network has no way out', async () => {
  expect(await tcpFrom(nsName('a1'), OUT_NS, 80)).toBe(`hello from outside to ${OUT_HOST}`);
  expect(await tcpFrom(nsName('b1'), OUT_NS, 80)).toBe(`hello from outside to ${OUT_HOST}`);
  expect(await tcpFrom(nsName('i1'), OUT_NS, 80)).toBe('FAILED');
});

test('published ports: loopback and host addresses, from outside, hairpin, TCP and UDP', async () => {
  const b = await m.publish('neta', 'a1'.repeat(32), [
    { proto: 'tcp', containerPort: 80, hostIp: '127.0.0.1', hostPortMin: 0, hostPortMax: 0 },
    { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0 },
    { proto: 'udp', containerPort: 5353, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0 },
  ]);
  const [lo, all, udp] = b.map((x) => x.hostPort);
  expect(lo).toBeGreaterThan(0);
  const gw = m.get('neta').ipam.gateway;
  // From the host (userland proxy): the container sees its gateway as the peer.
  expect(await tcpFrom(undefined, '127.0.0.1', lo)).toBe(`hello from web to ${gw}`);
  expect(await tcpFrom(undefined, '127.0.0.1', all)).toBe(`hello from web to ${gw}`);
  expect(await tcpFrom(undefined, hostAddr, all)).toBe(`hello from web to ${gw}`);
  // A loopback bind is not reachable from outside.
  expect(await tcpFrom(nsName('out'), OUT_HOST, lo)).toBe('FAILED');
  // From outside (DNAT): the container sees the real client.
  expect(await tcpFrom(nsName('out'), OUT_HOST, all)).toBe(`hello from web to ${OUT_NS}`);
  // Hairpin: a container of the same network through a host address.
  expect(await tcpFrom(nsName('a2'), hostAddr, all)).toBe(`hello from web to ${gw}`);
  // UDP, from the host and from outside.
  expect(await udpFrom(undefined, '127.0.0.1', udp, 'ping')).toBe('echo web: ping');
  expect(await udpFrom(nsName('out'), OUT_HOST, udp, 'pong')).toBe('echo web: pong');
  // A port another endpoint publishes: dockerd's allocator error (as run-network-flags shows
  // beside dockerd), and nothing of the failed request is left.
  const rulesBefore = await ownRules();
  expect(rulesBefore.length).toBeGreaterThan(0);
  await expect(
    m.publish('neta', 'a2'.repeat(32), [
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: 0, hostPortMax: 0 },
      { proto: 'tcp', containerPort: 80, hostIp: '0.0.0.0', hostPortMin: all, hostPortMax: all },
    ]),
  ).rejects.toThrow(
    `driver failed programming external connectivity on endpoint db (${m.endpointsOf('a2'.repeat(32))[0].id}): Bind for 0.0.0.0:${all} failed: port is already allocated`,
  );
  expect(await ownRules()).toEqual(rulesBefore);
  expect(m.endpointsOf('a2'.repeat(32))[0].ports).toEqual([]);
  // The failed request's first port (a free one after ours) was given back: this process
  // listens on TCP on its two published ports and its DNS servers' alone. (Probing the port
  // with a bind of our own would race with other daemons on the host taking it.)
  const listening = (await shAsync('ss -Hltnp'))
    .split('\n')
    .filter((l) => l.includes(`pid=${process.pid},`))
    .map((l) => Number(/:(\d+)\s/.exec(l)![1]));
  expect(listening.filter((p) => p !== 53).sort((x, y) => x - y)).toEqual([lo, all].sort((x, y) => x - y));
});

test("DNS on the gateway: names, aliases, short ids of the asker's networks; others forwarded", async () => {
  const gwA = m.get('neta').ipam.gateway;
  const gwB = m.get('netb').ipam.gateway;
  expect(await dnsFrom(nsName('a1'), gwA, 'db')).toEqual({ rcode: 'NOERROR', ips: [ipA2] });
  expect(await dnsFrom(nsName('a2'), gwA, 'www')).toEqual({ rcode: 'NOERROR', ips: [ipA1] });
  expect(await dnsFrom(nsName('a2'), gwA, 'a1a1a1a1a1a1', 'tcp')).toEqual({ rcode: 'NOERROR', ips: [ipA1] });
  expect(await dnsFrom(nsName('a1'), gwA, 'outside.example')).toEqual({ rcode: 'NOERROR', ips: ['192.0.2.99'] });
  // b1 is not on neta: the name is not ours to answer there (the upstream knows nothing of it).
  expect((await dnsFrom(nsName('b1'), gwB, 'db')).ips).toEqual([]);
});

test("disconnect removes the endpoint's ports and rules; the name goes from DNS", async () => {
  const before = (await ownRules()).filter((l) => l.includes('DNAT --to-destination'));
  expect(before.length).toBe(2);
  await m.disconnect('neta', 'a1'.repeat(32));
  expect((await ownRules()).filter((l) => l.includes(`--to-destination ${ipA1}`))).toEqual([]);
  expect((await dnsFrom(nsName('a2'), m.get('neta').ipam.gateway, 'www')).ips).toEqual([]);
});
