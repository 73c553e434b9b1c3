/**
 * IPv4 forwarding on a fresh host. A fresh Debian host has forwarding off, and then a
 * container's traffic to the outside (NAT) goes nowhere: host.test.ts failed that way on a fresh
 * machine, and passed there only after some dockerd had turned forwarding on. Each case runs a
 * network manager (./helpers/netns-manager.ts) in a network namespace of its own, standing for
 * a fresh host, so the real host's forwarding and FORWARD policy are neither read nor changed;
 * a "container" namespace sits on its network (a veth for the VM's tap), and an "outside"
 * namespace routed from the host answers TCP on port 80. Needs root.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

jest.setTimeout(120000);

const tag = (process.pid % 10000).toString(16).padStart(4, '0');
const HOST = `pvt-${tag}-fwh`;
const CTR = `pvt-${tag}-fwc`;
const OUT = `pvt-${tag}-fwo`;
const OUT_HOST = '10.251.79.1';
const OUT_ADDR = '10.251.79.2';
const SUBNET = '10.252.79.0/24';
const REPO = path.join(__dirname, '..', '..', '..');

const sh = (cmd: string): string => execFileSync('bash', ['-c', cmd], { encoding: 'utf8' });
const inHost = (cmd: string): string => sh(`ip netns exec ${HOST} ${cmd}`);

let root: string;
let manager: ChildProcess | undefined;
let server: ChildProcess | undefined;

/** The "host" namespace (forwarding off), with the outside routed from it and the container's veth in it. */
function makeNamespaces(): void {
  for (const ns of [HOST, CTR, OUT]) sh(`ip netns add ${ns} && ip -n ${ns} link set lo up`);
  // A new namespace takes its IPv4 settings from the host's: a fresh host has forwarding off.
  inHost('sysctl -qw net.ipv4.ip_forward=0');
  sh(
    `ip -n ${HOST} link add fwo type veth peer name eth0 netns ${OUT} && ip -n ${HOST} addr add ${OUT_HOST}/30 dev fwo && ip -n ${HOST} link set fwo up`,
  );
  sh(
    `ip -n ${OUT} addr add ${OUT_ADDR}/30 dev eth0 && ip -n ${OUT} link set eth0 up && ip -n ${OUT} route add default via ${OUT_HOST}`,
  );
  sh(`ip -n ${HOST} link add fwc type veth peer name eth0 netns ${CTR}`);
  server = spawn(
    'ip',
    ['netns', 'exec', OUT, 'socat', 'TCP-LISTEN:80,reuseaddr,fork', 'SYSTEM:echo hello from outside'],
    { stdio: 'ignore' },
  );
}

/** Start the manager in the host namespace; the container's address configured from its endpoint. */
async function startManager(): Promise<void> {
  manager = spawn(
    'ip',
    [
      'netns',
      'exec',
      HOST,
      path.join(REPO, 'node_modules', '.bin', 'ts-node'),
      '--transpile-only',
      '-P',
      path.join(REPO, 'tsconfig.json'),
      path.join(__dirname, 'helpers', 'netns-manager.ts'),
      root,
      SUBNET,
      'fwc',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  manager.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    manager!.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    manager!.once('exit', (code) => reject(new Error(`the manager exited (${code}): ${err}`)));
  });
  const ep = JSON.parse(line) as { ip: string; mac: string; gateway: string; prefixLen: number; mtu: number };
  sh(
    `ip -n ${CTR} link set eth0 address ${ep.mac} mtu ${ep.mtu} up && ip -n ${CTR} addr add ${ep.ip}/${ep.prefixLen} dev eth0 && ip -n ${CTR} route add default via ${ep.gateway}`,
  );
}

/** A TCP request from the container to the outside: the answer, or 'FAILED'. */
function fromContainer(): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['netns', 'exec', CTR, 'socat', '-T3', '-', `TCP:${OUT_ADDR}:80,connect-timeout=2`],
      { encoding: 'utf8' },
      (e, out) => resolve(e ? 'FAILED' : out.trim()),
    );
  });
}

const forwarding = (): string => inHost('cat /proc/sys/net/ipv4/ip_forward').trim();
const forwardPolicy = (): string => /^-P FORWARD (\w+)/m.exec(inHost('iptables -S FORWARD'))![1];

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-netfwd-'));
  makeNamespaces();
});

afterEach(async () => {
  if (manager && manager.exitCode === null) {
    const gone = new Promise((r) => manager!.once('exit', r));
    manager.stdin!.end();
    const t = setTimeout(() => manager!.kill('SIGKILL'), 20000);
    await gone;
    clearTimeout(t);
  }
  manager = undefined;
  server?.kill('SIGKILL');
  // The host namespace takes its bridge, links and rules with it.
  for (const ns of [CTR, OUT, HOST]) sh(`ip netns del ${ns} 2>/dev/null || true`);
  fs.rmSync(root, { recursive: true, force: true });
});

test('on a host with forwarding off, a container reaches the outside: forwarding is turned on, the FORWARD policy set to DROP as dockerd does', async () => {
  expect(forwarding()).toBe('0');
  expect(forwardPolicy()).toBe('ACCEPT');
  await startManager();
  expect(await fromContainer()).toBe('hello from outside');
  expect(forwarding()).toBe('1');
  expect(forwardPolicy()).toBe('DROP');
});

test('on a host that forwards already, the FORWARD policy is left as it was', async () => {
  inHost('sysctl -qw net.ipv4.ip_forward=1');
  await startManager();
  expect(await fromContainer()).toBe('hello from outside');
  expect(forwardPolicy()).toBe('ACCEPT');
});
