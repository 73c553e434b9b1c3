import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDaemonOptions } from '../../../src/daemon/config-file';
import { parseFlags } from '../../../src/daemon/flags';
import { InvalidArgumentError } from '../../../src/errors';

describe('daemon configuration file (dockerd daemon.json rules)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-config-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const file = (doc: unknown): string => {
    const f = path.join(dir, 'daemon.json');
    fs.writeFileSync(f, typeof doc === 'string' ? doc : JSON.stringify(doc));
    return f;
  };
  const load = (argv: string[]) => {
    const o = loadDaemonOptions(argv);
    if (o === 'help') throw new Error('unexpected help');
    return o;
  };

  test('keys of the file set the options, with dockerd names', () => {
    const f = file({
      'data-root': '/srv/pv',
      'exec-root': '/run/pv',
      'log-level': 'debug',
      hosts: ['unix:///tmp/a.sock', 'tcp://127.0.0.1:2376'],
      'insecure-registries': ['r:5000'],
      'registry-mirrors': ['http://m'],
      tlsverify: true,
      tlscacert: '/c/ca.pem',
      tlscert: '/c/cert.pem',
      tlskey: '/c/key.pem',
      group: 'adm',
      'log-driver': 'json-file',
      'log-opts': { 'max-size': '10m', 'max-file': '3' },
      'vm-pool-size': 0,
      'vm-memory': 512,
      'vm-cpus': 2,
      accel: 'tcg',
      'rootfs-disk': false,
      'storage-opts': ['image=disk'],
    });
    const o = load(['--config-file', f]);
    expect(o).toMatchObject({
      dataRoot: '/srv/pv',
      execRoot: '/run/pv',
      logLevel: 'debug',
      hosts: ['unix:///tmp/a.sock', 'tcp://127.0.0.1:2376'],
      insecureRegistries: ['r:5000'],
      registryMirrors: ['http://m'],
      tls: true,
      tlsVerify: true,
      tlsCaCert: '/c/ca.pem',
      tlsCert: '/c/cert.pem',
      tlsKey: '/c/key.pem',
      group: 'adm',
      groupIsDefault: false,
      rootfsDisk: false,
      imageOnDisk: true,
      logDriver: 'json-file',
      logOpts: { 'max-size': '10m', 'max-file': '3' },
      vmPoolSize: 0,
      vmMemoryMiB: 512,
      vmCpus: 2,
      accel: 'tcg',
    });
  });

  test('a key set both by a flag and in the file is refused, naming both values', () => {
    const f = file({ 'data-root': '/from/file', hosts: ['unix:///f.sock'] });
    expect(() => load(['--config-file', f, '--data-root', '/from/flag', '-H', 'unix:///g.sock'])).toThrow(
      `unable to configure the Docker daemon with file ${f}: the following directives are specified both as a flag and in the configuration file: ` +
        'data-root: (from flag: /from/flag, from file: /from/file), hosts: (from flag: [unix:///g.sock], from file: [unix:///f.sock])',
    );
  });

  test('unknown keys are refused, sorted', () => {
    const f = file({ foo: 1, bar: 2, 'data-root': '/x' });
    expect(() => load(['--config-file', f])).toThrow(
      `unable to configure the Docker daemon with file ${f}: the following directives don't match any configuration option: bar, foo`,
    );
  });

  test.each([
    [{ tls: 'yes' }, 'json: cannot unmarshal string into Go struct field Config.tls of type bool'],
    [{ hosts: 'unix:///x' }, 'json: cannot unmarshal string into Go struct field Config.hosts of type []string'],
    [
      { 'log-opts': { 'max-file': 3 } },
      'json: cannot unmarshal object into Go struct field Config.log-opts of type map[string]string',
    ],
    [{ 'vm-cpus': 1.5 }, 'json: cannot unmarshal number into Go struct field Config.vm-cpus of type int'],
    ['{"log-level": "info"', 'JSON'],
    [{ 'log-level': 'loud' }, 'not a valid log level'],
    [{ 'log-opts': { foo: '1' } }, "failed to set log opts: unknown log opt 'foo' for json-file log driver"],
    [
      { 'log-driver': 'bogus' },
      'failed to set log opts: error looking up logging plugin bogus: plugin "bogus" not found',
    ],
    [{ 'log-opts': { 'max-size': 'abc' } }, "invalid size: 'abc'"],
    [{ hosts: ['tcp://127.0.0.1:2375'] }, 'refusing to serve tcp://127.0.0.1:2375 without TLS'],
  ])('%j is refused: %s', (doc, msg) => {
    const f = file(doc);
    let err: unknown;
    try {
      load(['--config-file', f]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(msg);
  });

  test('a missing default file is fine; a missing named file is an error', () => {
    const o = load(['--data-root', '/x']);
    expect(o.dataRoot).toBe('/x');
    const missing = path.join(dir, 'none.json');
    expect(() => load(['--config-file', missing])).toThrow(
      `unable to configure the Docker daemon with file ${missing}: open ${missing}: no such file or directory`,
    );
  });

  test('plain tcp is served only with --insecure-tcp; --tlsverify implies --tls', () => {
    expect(() => load(['-H', 'tcp://0.0.0.0:2375'])).toThrow(
      'refusing to serve tcp://0.0.0.0:2375 without TLS: whoever reaches it is root on this machine. ' +
        'Use --tlsverify with --tlscacert, --tlscert and --tlskey (or --tls), or --insecure-tcp to serve it without TLS anyway',
    );
    expect(load(['-H', 'tcp://0.0.0.0:2375', '--insecure-tcp']).insecureTcp).toBe(true);
    const o = load(['-H', 'tcp://0.0.0.0:2376', '--tlsverify']);
    expect(o).toMatchObject({ tls: true, tlsVerify: true });
    expect(load(['-H', 'tcp://0.0.0.0:2376', '--tls=true', '--tlsverify=false'])).toMatchObject({
      tls: true,
      tlsVerify: false,
    });
  });

  test('flags: -G, --log-driver, --log-opt, bad bool and log-opt values', () => {
    const o = parseFlags(['-G', 'adm', '--log-driver', 'none', '--log-opt', 'max-size=1k', '--log-opt=max-file=2']);
    if (o === 'help') throw new Error('help');
    expect(o).toMatchObject({
      group: 'adm',
      groupIsDefault: false,
      logDriver: 'none',
      logOpts: { 'max-size': '1k', 'max-file': '2' },
    });
    expect(() => parseFlags(['--tls=maybe'])).toThrow(InvalidArgumentError);
    expect(() => parseFlags(['--log-opt', 'novalue'])).toThrow(/invalid key value pair format/);
  });
});
