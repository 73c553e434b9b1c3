/**
 * vmOfArgv: which argv belongs to a VM under which exec root (the reconciler's only test of
 * ownership). Real QEMU and virtiofsd command lines come from cmdline.ts.
 */
import { qemuArgs, virtiofsdArgs } from '../../../src/vm/qemu/cmdline';
import { vmPaths } from '../../../src/vm/qemu/runtime-dir';
import { capabilityArgs } from '../../../src/vm/qemu/confinement/confinement';
import { vmOfArgv } from '../../../src/vm/qemu/processes/vm-processes';

const paths = vmPaths('/run/pv-a', '0123456789ab');
const qemu = [
  '/usr/bin/qemu-system-x86_64',
  ...qemuArgs({
    id: '0123456789ab',
    size: { memoryMiB: 256, cpus: 1 },
    accel: 'tcg',
    kernel: '/k',
    initrd: '/i',
    cmdline: 'console=hvc0',
    paths,
    splitWx: false,
  }),
];
const vfs = ['/usr/libexec/virtiofsd', ...virtiofsdArgs(paths)];

test('QEMU and virtiofsd of a VM under the exec root are found, with the VM id', () => {
  expect(vmOfArgv(qemu, '/run/pv-a')).toEqual({ vmId: '0123456789ab', kind: 'qemu' });
  expect(vmOfArgv(vfs, '/run/pv-a')).toEqual({ vmId: '0123456789ab', kind: 'virtiofsd' });
});

test('another exec root, even one whose path starts like ours, is never matched', () => {
  expect(vmOfArgv(qemu, '/run/pv')).toBeUndefined();
  expect(vmOfArgv(vfs, '/run/pv-')).toBeUndefined();
  expect(vmOfArgv(qemu, '/run/pv-a/vms')).toBeUndefined();
});

test('other programs naming our directory, and malformed ids, are not ours', () => {
  expect(vmOfArgv(['/bin/sleep', `${paths.dir}/x`], '/run/pv-a')).toBeUndefined();
  expect(
    vmOfArgv(['/usr/bin/qemu-system-x86_64', '-qmp', 'unix:/run/pv-a/vms/../../etc/x'], '/run/pv-a'),
  ).toBeUndefined();
  expect(vmOfArgv([], '/run/pv-a')).toBeUndefined();
});

test("QEMU's setpriv, before it has exec'd QEMU, is found as that VM's QEMU (a daemon killed right after the spawn)", () => {
  const setpriv = ['/usr/bin/setpriv', ...capabilityArgs(), ...qemu];
  expect(vmOfArgv(setpriv, '/run/pv-a')).toEqual({ vmId: '0123456789ab', kind: 'qemu' });
  expect(vmOfArgv(setpriv, '/run/pv-b')).toBeUndefined();
  // setpriv running anything else (a container's entrypoint) is not ours.
  expect(vmOfArgv(['/usr/bin/setpriv', '--reuid=1', '--', '/bin/sh', `${paths.dir}/x`], '/run/pv-a')).toBeUndefined();
  expect(vmOfArgv(['/usr/bin/setpriv', ...capabilityArgs()], '/run/pv-a')).toBeUndefined();
});

test("QEMU's jail, before it has exec'd QEMU, is found as that VM's QEMU; the jail running anything else is not", () => {
  const jail = ['/opt/podvisor/host/out/podvisor-jail', '--rw', paths.dir, '--caps', 'chown', '--', ...qemu];
  expect(vmOfArgv(jail, '/run/pv-a')).toEqual({ vmId: '0123456789ab', kind: 'qemu' });
  expect(vmOfArgv(jail, '/run/pv-b')).toBeUndefined();
  expect(
    vmOfArgv(['/x/podvisor-jail', '--rw', paths.dir, '--', '/bin/sh', `${paths.dir}/x`], '/run/pv-a'),
  ).toBeUndefined();
  expect(vmOfArgv(['/x/podvisor-jail', '--rw', paths.dir], '/run/pv-a')).toBeUndefined();
});
