/**
 * The CRI's daemon options: --cri-host (repeatable, unix only; default in the exec root),
 * --no-cri, --registries-conf, and their daemon.json keys (cri-hosts, no-cri, registries-conf).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseFlags } from '../../../src/daemon/flags';
import { loadDaemonOptions } from '../../../src/daemon/config-file';
import { InvalidArgumentError } from '../../../src/errors';
import type { DaemonOptions } from '../../../src/daemon/options';

function flags(argv: string[]): DaemonOptions {
  const o = parseFlags(argv);
  if (o === 'help') throw new Error('unexpected help');
  return o;
}

test('by default the CRI is served on <exec-root>/cri.sock and registries.conf is /etc/containers', () => {
  expect(flags([]).criHosts).toEqual(['unix:///run/podvisor/cri.sock']);
  expect(flags(['--exec-root', '/tmp/x']).criHosts).toEqual(['unix:///tmp/x/cri.sock']);
  expect(flags([]).registriesConf).toBe('/etc/containers/registries.conf');
});

test('--cri-host is repeatable; --no-cri serves none; --registries-conf names the file', () => {
  expect(flags(['--cri-host', 'unix:///a.sock', '--cri-host=unix:///b.sock']).criHosts).toEqual([
    'unix:///a.sock',
    'unix:///b.sock',
  ]);
  expect(flags(['--no-cri']).criHosts).toEqual([]);
  expect(flags(['--no-cri=false']).criHosts).toEqual(['unix:///run/podvisor/cri.sock']);
  expect(flags(['--registries-conf', '/etc/r.conf']).registriesConf).toBe('/etc/r.conf');
});

test.each([
  [['--cri-host', 'tcp://127.0.0.1:1234'], 'invalid argument "tcp://127.0.0.1:1234" for "--cri-host" flag'],
  [['--cri-host', '/run/cri.sock'], 'want unix:///path/to/socket'],
  [['--no-cri', '--cri-host', 'unix:///a.sock'], '--no-cri and --cri-host (cri-hosts) cannot be used together'],
  [['--no-cri=maybe'], 'invalid argument "maybe" for "--no-cri" flag'],
])('%j is refused', (argv, message) => {
  expect(() => flags(argv)).toThrow(InvalidArgumentError);
  expect(() => flags(argv)).toThrow(message);
});

describe('daemon.json', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-cri-config-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const load = (doc: object, argv: string[] = []): DaemonOptions => {
    const f = path.join(dir, 'daemon.json');
    fs.writeFileSync(f, JSON.stringify(doc));
    const o = loadDaemonOptions(['--config-file', f, ...argv]);
    if (o === 'help') throw new Error('unexpected help');
    return o;
  };

  test('cri-hosts, no-cri and registries-conf set the options', () => {
    const o = load({ 'cri-hosts': ['unix:///k.sock'], 'registries-conf': '/r.conf' });
    expect(o.criHosts).toEqual(['unix:///k.sock']);
    expect(o.registriesConf).toBe('/r.conf');
    expect(load({ 'no-cri': true }).criHosts).toEqual([]);
  });

  test('a key set by a flag too, or of the wrong type, is refused', () => {
    expect(() => load({ 'cri-hosts': ['unix:///k.sock'] }, ['--cri-host', 'unix:///j.sock'])).toThrow(
      'the following directives are specified both as a flag and in the configuration file: cri-hosts: (from flag: [unix:///j.sock], from file: [unix:///k.sock])',
    );
    expect(() => load({ 'no-cri': 'yes' })).toThrow(
      'json: cannot unmarshal string into Go struct field Config.no-cri of type bool',
    );
  });
});
