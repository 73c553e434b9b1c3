import { parseFlags, DEFAULT_HOST } from '../../../src/daemon/flags';
import { InvalidArgumentError } from '../../../src/errors';
import { imageOnDiskIn } from '../../../src/daemon/options';
import type { DaemonOptions } from '../../../src/daemon/options';

describe('podvisord flags', () => {
  test('defaults listen on the podvisor socket with a pool of 2', () => {
    const o = parseFlags([]);
    expect(o).not.toBe('help');
    if (o === 'help') return;
    expect(o.hosts).toEqual([DEFAULT_HOST]);
    expect(o.dataRoot).toBe('/var/lib/podvisor');
    expect(o.vmPoolSize).toBe(2);
    expect(o.accel).toBe('auto');
    // CNI: the kubelet's defaults, then Debian's plugin directory.
    expect(o.cniConfDir).toBe('/etc/cni/net.d');
    expect(o.cniBinDirs).toEqual(['/opt/cni/bin', '/usr/lib/cni']);
    // Block mode is on unless turned off (--rootfs-disk=false).
    expect(o.rootfsDisk).toBe(true);
    // Images are read from their disks (image=disk) unless --storage-opt image=layers: unset here.
    expect(o.imageOnDisk).toBeUndefined();
    // A VM this host cannot confine does not start unless --unconfined-vms says it may.
    expect(o.unconfinedVms).toBe(false);
  });

  test.each([
    [
      ['-H', 'unix:///tmp/a.sock', '--host=tcp://127.0.0.1:2375'],
      'hosts',
      ['unix:///tmp/a.sock', 'tcp://127.0.0.1:2375'],
    ],
    [['--data-root', '/x'], 'dataRoot', '/x'],
    [['--vm-pool-size=0'], 'vmPoolSize', 0],
    [['--vm-memory', '512', '--vm-cpus', '2'], 'vmMemoryMiB', 512],
    [['--accel', 'tcg'], 'accel', 'tcg'],
    [['--log-level', 'debug'], 'logLevel', 'debug'],
    [['--insecure-registry', 'r:5000'], 'insecureRegistries', ['r:5000']],
    [['--cni-conf-dir', '/etc/podvisor/net.d'], 'cniConfDir', '/etc/podvisor/net.d'],
    [['--cni-bin-dir=/opt/cni/bin:/usr/local/lib/cni'], 'cniBinDirs', ['/opt/cni/bin', '/usr/local/lib/cni']],
    [['--rootfs-disk=false'], 'rootfsDisk', false],
    [['--rootfs-disk'], 'rootfsDisk', true],
    [['--unconfined-vms'], 'unconfinedVms', true],
    [['--storage-opt', 'image=disk'], 'imageOnDisk', true],
    [['--storage-opt=image=disk', '--storage-opt', 'IMAGE=layers'], 'imageOnDisk', false],
  ])('%j sets %s', (argv, key, value) => {
    const o = parseFlags(argv as string[]);
    if (o === 'help') throw new Error('unexpected help');
    expect((o as unknown as Record<string, unknown>)[key as string]).toEqual(value);
  });

  test.each([
    [['--vm-pool-size', '-1']],
    [['--vm-memory', 'lots']],
    [['--accel', 'xen']],
    [['-H', 'http://x']],
    [['--log-level', 'loud']],
    [['--bogus']],
    [['--data-root']],
    [['--cni-bin-dir', 'relative/bin']],
    [['--storage-opt', 'overlay2.size=10G']],
    [['--storage-opt', 'image=ram']],
  ])('%j is rejected with a clear error', (argv) => {
    expect(() => parseFlags(argv)).toThrow(InvalidArgumentError);
  });

  test('--help asks for usage', () => {
    expect(parseFlags(['--help'])).toBe('help');
  });
});

test('containers read their image from its disk by default in block mode, and only there', () => {
  const opts = (args: string[]): DaemonOptions => {
    const o = parseFlags(args);
    if (o === 'help') throw new Error('help');
    return o;
  };
  expect(imageOnDiskIn(opts([]), true)).toBe(true);
  expect(imageOnDiskIn(opts([]), false)).toBe(false);
  expect(imageOnDiskIn(opts(['--storage-opt', 'image=layers']), true)).toBe(false);
  expect(imageOnDiskIn(opts(['--storage-opt', 'image=disk']), false)).toBe(false);
});
