/**
 * A fresh Debian 12 has no iptables. The daemon's network set-up on such a host must say what
 * is missing and how to install it, and make nothing on the host; before, it made the default
 * bridge and then logged `spawn iptables-restore ENOENT`, leaving a bridge behind and networks
 * down with no word on why. The set-up runs (./helpers/open-networks.ts) in a network namespace
 * of its own, standing for the fresh host, with a PATH that has every program of this one's
 * but the ones taken away. Needs root.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

jest.setTimeout(120000);

const NS = `pvt-${(process.pid % 10000).toString(16).padStart(4, '0')}-tools`;
const REPO = path.join(__dirname, '..', '..', '..');

let dir: string;

/** A directory of links to every program of this process's PATH but those `without` matches. */
function pathWithout(without: RegExp): string {
  const bin = path.join(dir, `bin-${without.source.replace(/\W/g, '')}`);
  fs.mkdirSync(bin);
  for (const d of (process.env.PATH ?? '').split(':').filter((x) => x && fs.existsSync(x))) {
    for (const name of fs.readdirSync(d)) {
      if (without.test(name) || fs.existsSync(path.join(bin, name))) continue;
      fs.symlinkSync(path.join(d, name), path.join(bin, name));
    }
  }
  return bin;
}

/** Run the network set-up in the namespace with PATH `searchPath`: its output. */
function openNetworks(searchPath: string): Promise<string> {
  const root = fs.mkdtempSync(path.join(dir, 'root-'));
  return new Promise((resolve, reject) => {
    execFile(
      'ip',
      [
        'netns',
        'exec',
        NS,
        'env',
        `PATH=${searchPath}`,
        process.execPath,
        path.join(REPO, 'node_modules', 'ts-node', 'dist', 'bin.js'),
        '--transpile-only',
        '-P',
        path.join(REPO, 'tsconfig.json'),
        path.join(__dirname, 'helpers', 'open-networks.ts'),
        root,
      ],
      { encoding: 'utf8' },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

/** The links of the namespace other than lo. */
const linksInNamespace = (): string[] =>
  execFileSync('ip', ['-n', NS, '-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l && !/^\d+: lo:/.test(l));

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-tools-'));
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
});

afterAll(() => {
  execFileSync('ip', ['netns', 'del', NS]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('without iptables the set-up says which programs and package are missing, and makes nothing', async () => {
  const out = await openNetworks(pathWithout(/^(ip6?tables|xtables)/));
  expect(out).toContain('networks: unavailable');
  const line = out.split('\n').find((l) => l.includes('networks unavailable')) ?? '';
  expect(line).toContain('ERROR');
  expect(line).toContain('this host lacks iptables, iptables-restore, iptables-save');
  expect(line).toContain('apt-get install iptables');
  expect(line).not.toContain('ENOENT');
  expect(linksInNamespace()).toEqual([]);
});

test('without iproute2 and iptables it names both packages', async () => {
  const out = await openNetworks(pathWithout(/^(ip|tc|ip6?tables.*|xtables.*)$/));
  expect(out).toContain('networks: unavailable');
  expect(out).toContain('this host lacks ip, iptables, iptables-restore, iptables-save');
  expect(out).toContain('apt-get install iproute2 iptables');
  expect(linksInNamespace()).toEqual([]);
});

test('with every tool there, the same set-up makes the networks', async () => {
  const out = await openNetworks(process.env.PATH ?? '');
  expect(out).toContain('networks: ready');
});
