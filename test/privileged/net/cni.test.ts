/**
 * CNI for pod sandboxes (src/net/cni) with Debian's real plugins (bridge, host-local, portmap,
 * firewall, loopback) on a private test network: ADD/DEL/CHECK and their results, idempotent
 * DEL, plugin errors, the namespace's life and the sweep, and the tap + tc plumbing that joins
 * a VM's NIC to the CNI interface (a tap opened by a reader process here stands in for QEMU).
 * Needs root.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CniNetworks, cniStateDir, removeAllSandboxNetworks } from '../../../src/net/cni/sandbox-networks';
import { mountsUnder } from '../../helpers/leaks';
import { CniRunner } from '../../../src/net/cni/runner';
import { parseConfig } from '../../../src/net/cni/config';
import { CniPluginError } from '../../../src/net/cni/exec';
import type { Agent } from '../../../src/vm/types';
import { createNetns, removeNetns } from '../../../src/net/cni/netns';
import { DEBIAN_CNI_BIN, iptablesLines, makeCniNet, type TestCniNet } from './helpers/cni-net';

jest.setTimeout(60000);

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
const links = (): string[] =>
  (JSON.parse(sh('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname);
const inNs = (ns: string, cmd: string, args: string[]): string => sh('nsenter', [`--net=${ns}`, '--', cmd, ...args]);

/** Run `fn` while a TCP server answering "hello from the pod" listens on port 8080 in namespace `ns`. */
async function withServer(ns: string, fn: () => Promise<void>): Promise<void> {
  const server = spawn('nsenter', [
    `--net=${ns}`,
    '--',
    process.execPath,
    '-e',
    "require('net').createServer((c) => c.end('hello from the pod\\n')).listen(8080, () => console.log('up'))",
  ]);
  try {
    await new Promise((r) => server.stdout.once('data', r));
    await fn();
  } finally {
    server.kill();
  }
}

let t: TestCniNet;
let cni: CniNetworks;
/** An agent whose interface and route requests succeed: the guest's part of a join, played. */
const answeringAgent = {
  configureInterface: async () => undefined,
  addRoute: async () => undefined,
} as unknown as Agent;

beforeAll(() => {
  t = makeCniNet(11);
  cni = new CniNetworks({ confDir: t.confDir, binDirs: ['/nonexistent/bin', DEBIAN_CNI_BIN], stateDir: t.stateDir });
});

afterAll(async () => {
  for (const id of cni.list()) await cni.tearDown(id);
  t.cleanup();
  // Nothing of the network may be left: no bridge, no rule naming it or its addresses.
  expect(links()).not.toContain(t.name);
  expect([...iptablesLines('nat', t.name), ...iptablesLines('nat', `${t.prefix}.`)]).toEqual([]);
  expect(iptablesLines('filter', `${t.prefix}.`)).toEqual([]);
});

describe('NetworkReady', () => {
  it('is ready with a configuration whose plugins are all found', () => {
    expect(cni.networkReady()).toEqual({ ready: true });
  });

  it('is not ready without a configuration, in containerd words', () => {
    const empty = fs.mkdtempSync(path.join(t.root, 'empty-'));
    const c = new CniNetworks({ confDir: empty, binDirs: [DEBIAN_CNI_BIN], stateDir: t.stateDir });
    const s = c.networkReady();
    expect(s.ready).toBe(false);
    expect(s.reason).toBe('NetworkPluginNotReady');
    expect(s.message).toMatch(/^Network plugin returns error: cni plugin not initialized: cni config uninitialized/);
    expect(s.message).toContain(empty);
  });

  it('is not ready when a plugin of the configuration is missing, naming it', () => {
    const c = new CniNetworks({ confDir: t.confDir, binDirs: ['/nonexistent/bin'], stateDir: t.stateDir });
    const s = c.networkReady();
    expect(s.ready).toBe(false);
    expect(s.message).toMatch(/bridge, portmap, firewall/);
  });

  it('takes the first usable file by name, skipping one that is not JSON', () => {
    const dir = fs.mkdtempSync(path.join(t.root, 'order-'));
    fs.writeFileSync(path.join(dir, '05-broken.conflist'), '{not json');
    fs.writeFileSync(path.join(dir, '20-b.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'b', type: 'loopback' }));
    fs.writeFileSync(path.join(dir, '10-a.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'a', type: 'loopback' }));
    fs.writeFileSync(path.join(dir, '00-ignored.txt'), 'x');
    const c = new CniNetworks({ confDir: dir, binDirs: [DEBIAN_CNI_BIN], stateDir: t.stateDir });
    expect(c.networkReady()).toEqual({ ready: true });
  });
});

describe('a sandbox on the CNI bridge', () => {
  it('gets an address, a veth in its namespace and a route, and loses them all on tear-down', async () => {
    const sb = await cni.setUp({
      id: 'sb-basic',
      pod: { namespace: 'default', name: 'web', uid: '0f0e-uid' },
    });
    expect(sb.ip).toMatch(new RegExp(`^${t.prefix.replace(/\./g, '\\.')}\\.\\d+$`));
    expect(sb.network).toBe(t.name);
    expect(sb.ifName).toBe('eth0');
    expect(sb.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(sb.result.cniVersion).toBe('1.0.0');
    expect(sb.result.ips[0]).toMatchObject({ address: `${sb.ip}/24`, gateway: `${t.prefix}.1` });
    expect(sb.result.routes).toEqual([{ dst: '0.0.0.0/0' }]);
    const eth0 = sb.result.interfaces[sb.result.ips[0].interface!];
    expect(eth0).toEqual({ name: 'eth0', mac: sb.mac, sandbox: sb.netns });
    // The namespace has it, as the result says.
    const addr = JSON.parse(inNs(sb.netns, 'ip', ['-j', '-4', 'addr', 'show', 'dev', 'eth0'])) as Array<{
      addr_info: Array<{ local: string; prefixlen: number }>;
    }>;
    expect(addr[0].addr_info[0]).toMatchObject({ local: sb.ip, prefixlen: 24 });
    expect(inNs(sb.netns, 'ip', ['route', 'show', 'default'])).toContain(`via ${t.prefix}.1`);
    // The host reaches it across the bridge the plugin made.
    expect(links()).toContain(t.name);
    await withServer(sb.netns, async () => {
      expect(sh('curl', ['-s', '--http0.9', '--max-time', '10', `http://${sb.ip}:8080/`])).toBe('hello from the pod\n');
    });
    // CHECK agrees with the state; then a change it must notice.
    await cni.check('sb-basic');
    inNs(sb.netns, 'ip', ['addr', 'flush', 'dev', 'eth0']);
    await expect(cni.check('sb-basic')).rejects.toThrow(/CNI plugin .*bridge \(CHECK\) failed/);
    // Put it back: bridge's DEL finds the addresses whose masquerade rules it removes on the interface.
    inNs(sb.netns, 'ip', ['addr', 'add', `${sb.ip}/24`, 'dev', 'eth0']);
    // The ipMasq rule names the network and the sandbox.
    expect(iptablesLines('nat', 'sb-basic').length).toBeGreaterThan(0);

    await cni.tearDown('sb-basic');
    expect(fs.existsSync(sb.netns)).toBe(false);
    expect(iptablesLines('nat', 'sb-basic')).toEqual([]);
    expect(iptablesLines('filter', `${sb.ip}/32`)).toEqual([]);
    expect(fs.existsSync(path.join(t.root, 'ipam', t.name, sb.ip!))).toBe(false);
    expect(await cni.get('sb-basic')).toBeUndefined();
    // DEL again (and of a sandbox never set up) is fine.
    await cni.tearDown('sb-basic');
    await cni.tearDown('sb-never');
  });

  it('gives two sandboxes different addresses that reach each other', async () => {
    const a = await cni.setUp({ id: 'sb-a' });
    const b = await cni.setUp({ id: 'sb-b' });
    try {
      expect(a.ip).not.toBe(b.ip);
      await withServer(b.netns, async () => {
        expect(inNs(a.netns, 'curl', ['-s', '--http0.9', '--max-time', '10', `http://${b.ip}:8080/`])).toBe(
          'hello from the pod\n',
        );
      });
    } finally {
      await cni.tearDown('sb-a');
      await cni.tearDown('sb-b');
    }
  });

  it('publishes a hostPort to the sandbox through the portmap plugin, and withdraws it on DEL', async () => {
    const sb = await cni.setUp({
      id: 'sb-ports',
      portMappings: [{ hostPort: 18931, containerPort: 8080, protocol: 'tcp' }],
    });
    try {
      const dnat = iptablesLines('nat', `--dport 18931`);
      expect(dnat.some((l) => l.includes(`${sb.ip}:8080`))).toBe(true);
      // From the host's address on the bridge (portmap does not serve 127.0.0.1 without its hairpin option).
      await withServer(sb.netns, async () => {
        expect(sh('curl', ['-s', '--http0.9', '--max-time', '10', `http://${t.prefix}.1:18931/`])).toBe(
          'hello from the pod\n',
        );
      });
    } finally {
      await cni.tearDown('sb-ports');
    }
    expect(iptablesLines('nat', `--dport 18931`)).toEqual([]);
  });
});

describe('plugin errors', () => {
  it('turns a plugin JSON error into a clear error and undoes the set-up', async () => {
    const dir = fs.mkdtempSync(path.join(t.root, 'bad-'));
    // A subnet host-local refuses: the bridge plugin reports its delegate's error as JSON.
    const conf = JSON.parse(fs.readFileSync(path.join(t.confDir, '10-test.conflist'), 'utf8'));
    conf.plugins[0].ipam.ranges = [[{ subnet: '10.99.300.0/24' }]];
    fs.writeFileSync(path.join(dir, '10-bad.conflist'), JSON.stringify(conf));
    const c = new CniNetworks({ confDir: dir, binDirs: [DEBIAN_CNI_BIN], stateDir: t.stateDir });
    const err = await c.setUp({ id: 'sb-bad' }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(CniPluginError);
    expect(err!.message).toMatch(/^CNI plugin \/usr\/lib\/cni\/bridge \(ADD\) failed: .*10\.99\.300\.0/);
    expect((err as CniPluginError).code).toBeGreaterThan(0);
    // Nothing of it stays: no namespace, no record, no veth on the host's side.
    expect(c.list()).not.toContain('sb-bad');
    expect(fs.existsSync(path.join(t.stateDir, 'sb-bad'))).toBe(false);
  });

  it('runs the loopback plugin of a .conf (spec 0.4.0) in a namespace of ours', async () => {
    const ns = await createNetns(path.join(t.root, 'lo'), 'sb-lo');
    try {
      inNs(ns, 'ip', ['link', 'set', 'dev', 'lo', 'down']);
      const list = parseConfig(JSON.stringify({ cniVersion: '0.4.0', name: 'lo', type: 'loopback' }), 'lo.conf');
      const runner = new CniRunner([DEBIAN_CNI_BIN]);
      const r = await runner.add(list, { id: 'sb-lo', netns: ns });
      expect(r.cniVersion).toBe('0.4.0');
      expect(r.interfaces).toEqual([{ name: 'lo', mac: '00:00:00:00:00:00', sandbox: ns }]);
      expect(r.ips.map((ip) => ip.address)).toContain('127.0.0.1/8');
      expect(inNs(ns, 'ip', ['-o', 'link', 'show', 'dev', 'lo'])).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
      await runner.check(list, { id: 'sb-lo', netns: ns }, r.raw);
      await runner.del(list, { id: 'sb-lo', netns: ns }, r.raw);
      expect(inNs(ns, 'ip', ['-o', 'link', 'show', 'dev', 'lo'])).not.toMatch(/,UP/);
    } finally {
      await removeNetns(path.join(t.root, 'lo'), 'sb-lo');
    }
    expect(fs.existsSync(ns)).toBe(false);
  });

  it('refuses a network that makes no eth0 in the sandbox, and undoes it', async () => {
    const dir = fs.mkdtempSync(path.join(t.root, 'lo-only-'));
    fs.writeFileSync(
      path.join(dir, '10-lo.conf'),
      JSON.stringify({ cniVersion: '1.0.0', name: 'lo', type: 'loopback' }),
    );
    const c = new CniNetworks({ confDir: dir, binDirs: [DEBIAN_CNI_BIN], stateDir: t.stateDir });
    await expect(c.setUp({ id: 'sb-noeth' })).rejects.toThrow(
      /the CNI network lo \(.*10-lo\.conf\) left no usable eth0/,
    );
    expect(c.list()).not.toContain('sb-noeth');
  });

  it('reports a plugin that fails without JSON by its exit status and stderr, and one that hangs by its deadline', async () => {
    const bin = fs.mkdtempSync(path.join(t.root, 'bin-'));
    fs.writeFileSync(path.join(bin, 'crash'), '#!/bin/sh\necho "it broke: $CNI_COMMAND $CNI_IFNAME" >&2\nexit 3\n', {
      mode: 0o755,
    });
    fs.writeFileSync(path.join(bin, 'hang'), '#!/bin/sh\nexec sleep 30\n', { mode: 0o755 });
    const sbx = { id: 'sb-x', netns: '/nonexistent' };
    const runner = new CniRunner([bin], 500);
    const crash = parseConfig(JSON.stringify({ cniVersion: '1.0.0', name: 'x', type: 'crash' }), 'x.conf');
    await expect(runner.add(crash, sbx)).rejects.toThrow(
      `CNI plugin ${bin}/crash (ADD) failed (exit status 3): it broke: ADD eth0`,
    );
    const hang = parseConfig(JSON.stringify({ cniVersion: '1.0.0', name: 'x', type: 'hang' }), 'x.conf');
    const t0 = Date.now();
    await expect(runner.add(hang, sbx)).rejects.toThrow(
      `CNI plugin ${bin}/hang (ADD): no answer within 500 ms (killed)`,
    );
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('passes the CNI environment, the pod in CNI_ARGS and runtimeConfig only to plugins that declare the capability', async () => {
    const bin = fs.mkdtempSync(path.join(t.root, 'bin-'));
    const out = path.join(bin, 'seen');
    // A plugin that records what it was given and answers with its prevResult (or a result).
    fs.writeFileSync(
      path.join(bin, 'record'),
      `#!/bin/sh\nin=$(cat)\nprintf '%s\\n' "$CNI_COMMAND|$CNI_CONTAINERID|$CNI_NETNS|$CNI_IFNAME|$CNI_ARGS|$CNI_PATH|$in" >> ${out}\n` +
        `echo '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"02:00:00:00:00:01","sandbox":"/ns"}],"ips":[{"address":"10.0.0.2/24","gateway":"10.0.0.1","interface":0}]}'\n`,
      { mode: 0o755 },
    );
    const list = parseConfig(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'rec',
        plugins: [{ type: 'record' }, { type: 'record', capabilities: { portMappings: true, bandwidth: false } }],
      }),
      'rec.conflist',
    );
    const runner = new CniRunner([bin, '/usr/lib/cni']);
    const sbx = {
      id: 'abc123',
      netns: '/run/x/ns',
      pod: { namespace: 'ns1', name: 'p1', uid: 'u-1' },
      portMappings: [{ hostPort: 80, containerPort: 8080, protocol: 'tcp' as const }],
      bandwidth: { ingressRate: 1000 },
    };
    const r = await runner.add(list, sbx);
    expect(r.ips).toEqual([{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }]);
    await runner.del(list, sbx, r.raw);
    const lines = fs
      .readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('|'));
    expect(lines.map((l) => l[0])).toEqual(['ADD', 'ADD', 'DEL', 'DEL']);
    for (const l of lines) {
      expect(l.slice(1, 6)).toEqual([
        'abc123',
        '/run/x/ns',
        'eth0',
        'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p1;K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=u-1',
        `${bin}:/usr/lib/cni`,
      ]);
    }
    const stdin = lines.map((l) => JSON.parse(l.slice(6).join('|')));
    expect(stdin[0]).toEqual({ type: 'record', name: 'rec', cniVersion: '1.0.0' });
    expect(stdin[1]).toMatchObject({
      runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: 'tcp' }] },
      prevResult: { ips: [{ address: '10.0.0.2/24' }] },
    });
    expect(stdin[1].runtimeConfig.bandwidth).toBeUndefined();
    // DEL runs in reverse order, each with the network's result.
    expect(stdin[2].capabilities).toBeDefined();
    expect(stdin[2].prevResult).toEqual(r.raw);
    expect(stdin[3].capabilities).toBeUndefined();
  });
});

describe('namespaces', () => {
  it('are swept at start unless kept, running DEL with what the ADD had', async () => {
    const keep = await cni.setUp({ id: 'sb-keep' });
    const lost = await cni.setUp({ id: 'sb-lost' });
    // A daemon killed meanwhile: a new CniNetworks over the same state, and the configuration gone.
    const dir = fs.mkdtempSync(path.join(t.root, 'gone-'));
    const next = new CniNetworks({ confDir: dir, binDirs: [DEBIAN_CNI_BIN], stateDir: t.stateDir });
    expect((await next.get('sb-keep'))?.ip).toBe(keep.ip);
    expect(await next.sweep((id) => id === 'sb-keep')).toEqual(['sb-lost']);
    expect(next.list()).toEqual(['sb-keep']);
    expect(fs.existsSync(lost.netns)).toBe(false);
    expect(iptablesLines('filter', `${lost.ip}/32`)).toEqual([]);
    expect(fs.existsSync(path.join(t.root, 'ipam', t.name, lost.ip!))).toBe(false);
    expect(fs.existsSync(keep.netns)).toBe(true);
    await next.tearDown('sb-keep');
    expect(next.list()).toEqual([]);
  });

  it('a tear-down that DELeted and unmounted the namespace, then failed, is finished by the next one', async () => {
    const sb = await cni.setUp({
      id: 'sb-half',
      portMappings: [{ hostPort: 18934, containerPort: 80, protocol: 'tcp' }],
    });
    expect(iptablesLines('filter', `${sb.ip}/32`).length).toBeGreaterThan(0);
    // What such a tear-down leaves: the DEL done, the record still there, and the namespace's
    // file with no namespace on it. A DEL given that path failed in bridge ("unknown FS magic"),
    // so the sandbox could never be stopped.
    const rec = JSON.parse(fs.readFileSync(path.join(t.stateDir, 'sb-half', 'network.json'), 'utf8')) as {
      config: Parameters<CniRunner['del']>[0];
      result: Record<string, unknown>;
    };
    await new CniRunner([DEBIAN_CNI_BIN]).del(
      rec.config,
      { id: 'sb-half', netns: sb.netns, ifName: 'eth0' },
      rec.result,
    );
    execFileSync('umount', [sb.netns]);
    expect(fs.existsSync(sb.netns)).toBe(true);
    await cni.tearDown('sb-half');
    expect(cni.list()).not.toContain('sb-half');
    expect(fs.existsSync(path.join(t.root, 'ipam', t.name, sb.ip!))).toBe(false);
    expect(iptablesLines('filter', `${sb.ip}/32`)).toEqual([]);
    expect(iptablesLines('nat', '--dport 18934')).toEqual([]);
  });

  it('a namespace file with mounts stacked on it is removed whole, each mount taken off', async () => {
    const file = await createNetns(t.stateDir, 'sb-stacked');
    // A second namespace bound on top of the first (seen once under a full run's load: one
    // unmount left the file a mount point, and its removal failed with EBUSY).
    execFileSync('unshare', [`--net=${file}`, 'true']);
    expect(mountsUnder(path.dirname(file))).toEqual([file, file]);
    await removeNetns(t.stateDir, 'sb-stacked');
    expect(mountsUnder(path.dirname(file))).toEqual([]);
    expect(fs.existsSync(path.dirname(file))).toBe(false);
  });

  it("are all removed, DEL run, by removeAllSandboxNetworks of a killed daemon's exec root", async () => {
    const execRoot = path.join(t.root, 'exec');
    const nets = new CniNetworks({ confDir: t.confDir, binDirs: [DEBIAN_CNI_BIN], stateDir: cniStateDir(execRoot) });
    const a = await nets.setUp({ id: 'sb-left1' });
    const b = await nets.setUp({
      id: 'sb-left2',
      portMappings: [{ hostPort: 18933, containerPort: 80, protocol: 'tcp' }],
    });
    await removeAllSandboxNetworks(execRoot);
    expect(nets.list()).toEqual([]);
    expect(mountsUnder(execRoot)).toEqual([]);
    for (const ip of [a.ip, b.ip]) expect(iptablesLines('filter', `${ip}/32`)).toEqual([]);
    expect(iptablesLines('nat', '--dport 18933')).toEqual([]);
  });

  it('refuses a sandbox id that is not a plain name', async () => {
    await expect(cni.setUp({ id: '../etc' })).rejects.toThrow(/unusable sandbox id/);
    await expect(cni.tearDown('a/b')).rejects.toThrow(/unusable sandbox id/);
  });
});

/** The IPv4 header checksum of `hexHeader` (its checksum field zero), as 4 hex digits. */
function checksum(hexHeader: string): string {
  const b = Buffer.from(hexHeader, 'hex');
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += b.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  return (~sum & 0xffff).toString(16).padStart(4, '0');
}

describe('joining a tap to the CNI interface', () => {
  /**
   * A TAP reader: opens /dev/net/tun as `name` (IFF_TAP|IFF_NO_PI), prints each frame it gets
   * as hex on a line, and writes each hex line of stdin as a frame.
   */
  const TAP_READER = `
import fcntl, os, struct, sys, select
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', sys.argv[1].encode(), 0x0002 | 0x1000))
print('ready', flush=True)
while True:
    r, _, _ = select.select([fd, sys.stdin], [], [])
    if fd in r:
        print(os.read(fd, 65536).hex(), flush=True)
    if sys.stdin in r:
        l = sys.stdin.readline()
        if not l: break
        os.write(fd, bytes.fromhex(l.strip()))
`;

  it('carries frames both ways between the veth CNI made and the tap', async () => {
    const sb = await cni.setUp({ id: 'sb-tap' });
    const tap = `pvtcnitap${process.pid % 1000}`;
    const reader = spawn('python3', ['-c', TAP_READER, tap], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const hex = (ip: string) =>
        ip
          .split('.')
          .map((o) => Number(o).toString(16).padStart(2, '0'))
          .join('');
      const podIp = hex(sb.ip!);
      const podMac = sb.mac.replace(/:/g, '');
      // The guest's part: an ARP request for the pod's address is answered from the pod's MAC,
      // written into the tap (so the host learns the pod at the MAC CNI gave it).
      function answerArp(l: string): void {
        if (l.slice(24, 28) !== '0806' || l.slice(40, 44) !== '0001' || l.slice(76, 84) !== podIp) return;
        const asker = l.slice(44, 56);
        const askerIp = l.slice(56, 64);
        reader.stdin!.write(
          asker + podMac + '0806' + '0001080006040002' + podMac + podIp + asker + askerIp + '00'.repeat(18) + '\n',
        );
      }
      let buf = '';
      const lines: string[] = [];
      let wake: () => void = () => undefined;
      reader.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        lines.push(...parts);
        for (const l of parts) answerArp(l);
        wake();
      });
      const next = async (match: (l: string) => boolean, ms = 10_000): Promise<string> => {
        const deadline = Date.now() + ms;
        for (;;) {
          const i = lines.findIndex(match);
          if (i >= 0) return lines.splice(i, 1)[0];
          if (Date.now() > deadline)
            throw new Error(`no frame matched within ${ms} ms; saw ${lines.map((l) => l.slice(0, 100)).join(' ')}`);
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 200);
          });
        }
      };
      await next((l) => l === 'ready');
      // The tap is made in the host's namespace, as QEMU makes a VM's, then moved in (a VM
      // joined after the set-up: attachVm; the guest's part is a stand-in that answers).
      const vm = { tap, guestName: 'eth0', agent: answeringAgent };
      const facts = await cni.attachVm('sb-tap', vm);
      expect({ mac: facts.mac, mtu: facts.mtu }).toEqual({ mac: sb.mac, mtu: 1500 });
      expect(links()).not.toContain(tap);
      expect(inNs(sb.netns, 'tc', ['filter', 'show', 'dev', 'eth0', 'ingress'])).toMatch(
        new RegExp(`Redirect to device ${tap}\\b`),
      );
      // Joining again changes nothing.
      await cni.attachVm('sb-tap', vm);
      expect(inNs(sb.netns, 'tc', ['filter', 'show', 'dev', tap, 'ingress'])).toMatch(/Redirect to device eth0\b/);

      const gwIp = `${t.prefix}.1`;

      // Host -> pod: a connection from the host to the pod's address; its TCP SYN (IPv4,
      // protocol 6, flags 0x02) to the pod's MAC arrives on the tap, taken by the redirect
      // before the namespace's own stack could answer it.
      const curl = spawn('curl', ['-s', '--max-time', '8', `http://${sb.ip}:8080/`], { stdio: 'ignore' });
      let syn: string;
      try {
        syn = await next(
          (l) =>
            l.startsWith(podMac) &&
            l.slice(24, 28) === '0800' &&
            l.slice(46, 48) === '06' &&
            l.slice(60, 68) === podIp &&
            l.slice(94, 96) === '02',
        );
      } finally {
        curl.kill();
      }
      const bridgeMac = syn.slice(12, 24);

      // Pod -> host: a UDP datagram written into the tap, from the pod's MAC and address to the
      // bridge's, reaches a socket on the host.
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, gwIp, () => r()));
      try {
        const got = new Promise<{ msg: string; from: string }>((r) =>
          sock.once('message', (m, rinfo) => r({ msg: m.toString(), from: rinfo.address })),
        );
        const payload = Buffer.from('hello from the tap').toString('hex');
        const udp =
          '3039' +
          sock.address().port.toString(16).padStart(4, '0') +
          (8 + payload.length / 2).toString(16).padStart(4, '0') +
          '0000' +
          payload;
        const ipHeader = (csum: string) =>
          '4500' + (20 + udp.length / 2).toString(16).padStart(4, '0') + '00004000' + '4011' + csum + podIp + hex(gwIp);
        reader.stdin!.write(bridgeMac + podMac + '0800' + ipHeader(checksum(ipHeader('0000'))) + udp + '\n');
        await expect(got).resolves.toEqual({ msg: 'hello from the tap', from: sb.ip });
        // The host knows the pod at CNI's MAC (learnt from the tap's answers, or from the
        // plugin's gratuitous ARP before the tap was joined).
        expect(sh('ip', ['neigh', 'show', sb.ip!, 'dev', t.name])).toContain(`lladdr ${sb.mac}`);
      } finally {
        sock.close();
      }
    } finally {
      reader.kill();
      await cni.tearDown('sb-tap');
    }
    expect(links()).not.toContain(tap);
  });
});
