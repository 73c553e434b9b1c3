/**
 * A private CNI set-up for tests: a configuration directory holding one conflist for Debian's
 * containernetworking-plugins (bridge with host-local, portmap, firewall) on network
 * `pvtcni<n>` (its bridge has that name too) with subnet 10.99.<n>.0/24 and host-local's
 * leases in a temp directory, so tests of different files cannot collide and leave no lease.
 * `cleanup` removes the bridge the plugin made. The shared chains the plugins create once and
 * never remove (CNI-HOSTPORT-*, CNI-FORWARD, CNI-ADMIN) go in the run's global teardown, when
 * nothing is left in them (removeIdleCniChains): removed by one test file's cleanup, they
 * vanished under another file's portmap ADD running at the same time (seen in a fresh-clone CI
 * run: "Chain 'CNI-HOSTPORT-DNAT' does not exist").
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where Debian's package puts the plugins. */
export const DEBIAN_CNI_BIN = '/usr/lib/cni';

/** A test network. */
export interface TestCniNet {
  /** Network and bridge name. */
  name: string;
  /** "10.99.<n>" */
  prefix: string;
  confDir: string;
  /** Temp root (the conf dir, host-local's data, the state dir are under it). */
  root: string;
  stateDir: string;
  cleanup(): void;
}

const sh = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
};

/** Make the set-up of network number `n` (1..250), with `extra` plugins appended to the list. */
export function makeCniNet(n: number, opts: { cniVersion?: string; extra?: object[] } = {}): TestCniNet {
  const name = `pvtcni${n}`;
  const prefix = `10.99.${n}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cni-'));
  const confDir = path.join(root, 'net.d');
  fs.mkdirSync(confDir);
  const conf = {
    cniVersion: opts.cniVersion ?? '1.0.0',
    name,
    plugins: [
      {
        type: 'bridge',
        bridge: name,
        isGateway: true,
        ipMasq: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: `${prefix}.0/24` }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: path.join(root, 'ipam'),
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'firewall' },
      ...(opts.extra ?? []),
    ],
  };
  fs.writeFileSync(path.join(confDir, '10-test.conflist'), JSON.stringify(conf, null, 2));
  return {
    name,
    prefix,
    confDir,
    root,
    stateDir: path.join(root, 'state'),
    cleanup() {
      sh('ip', ['link', 'del', 'dev', name]);
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** iptables-save lines of table `t` that mention `needle`. */
export function iptablesLines(t: 'nat' | 'filter', needle: string): string[] {
  return sh('iptables-save', ['-t', t])
    .split('\n')
    .filter((l) => l.startsWith('-A ') && l.includes(needle));
}

/**
 * The chains the portmap and firewall plugins share between networks and never remove: gone,
 * with the jumps into them, once they hold only the plugins' fixed rules (another sandbox's
 * rules, anyone's, keep them). Only once no test runs any more (the global teardown): a plugin
 * makes a chain and then its jump in separate iptables calls.
 */
export function removeIdleCniChains(): void {
  const tables = [
    {
      table: 'nat',
      chains: ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'],
      fixed: [
        /^-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000\/0x2000 -j MASQUERADE$/,
        /^-A CNI-HOSTPORT-SETMARK .*-j MARK --set-xmark 0x2000\/0x2000$/,
      ],
    },
    { table: 'filter', chains: ['CNI-FORWARD', 'CNI-ADMIN'], fixed: [/^-A CNI-FORWARD .*-j CNI-ADMIN$/] },
  ];
  for (const { table, chains, fixed } of tables) {
    const lines = sh('iptables-save', ['-t', table]).split('\n');
    const inside = lines.filter((l) => chains.some((c) => l.startsWith(`-A ${c} `)) || l.startsWith('-A CNI-DN-'));
    if (inside.some((l) => !fixed.some((f) => f.test(l)))) continue;
    for (const l of lines)
      if (
        l.startsWith('-A ') &&
        chains.some((c) => l.endsWith(`-j ${c}`)) &&
        !chains.some((c) => l.startsWith(`-A ${c} `))
      )
        sh('iptables', [
          '-t',
          table,
          ...l
            .replace(/^-A /, '-D ')
            .match(/"(?:[^"\\]|\\.)*"|\S+/g)!
            .map(unquote),
        ]);
    for (const c of chains) sh('iptables', ['-t', table, '-F', c]);
    for (const c of chains) sh('iptables', ['-t', table, '-X', c]);
  }
}

function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s;
}
