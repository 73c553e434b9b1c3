/**
 * The QEMU and kernel command lines, the host TSC reading and vm.json validation: the pure
 * parts of the QEMU hypervisor.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { kernelCmdline, qemuArgs, virtiofsdArgs } from '../../../src/vm/qemu/cmdline';
import { capabilityArgs } from '../../../src/vm/qemu/confinement/confinement';
import { hostTscKhz } from '../../../src/vm/qemu/host-tsc';
import { vmPaths } from '../../../src/vm/qemu/runtime-dir';
import { readVmRecord, writeVmRecord, type VmRecord } from '../../../src/vm/qemu/vm-record';
import { planDevices } from '../../../src/vm/devices';

/** Value following `flag` each time it occurs. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
}

describe('qemuArgs', () => {
  const paths = vmPaths('/run/podvisor', 'abcdef012345');
  const base = {
    id: 'abcdef012345',
    size: { memoryMiB: 512, cpus: 2 },
    kernel: '/k',
    initrd: '/i',
    cmdline: 'console=ttyS0',
    paths,
  };

  it('builds a microvm with shared memfd RAM, modern virtio-mmio and no defaults', () => {
    const args = qemuArgs({ ...base, accel: 'tcg' });
    expect(values(args, '-M')).toEqual(['microvm,memory-backend=mem']);
    expect(values(args, '-object')).toEqual(['memory-backend-memfd,id=mem,size=512M,share=on']);
    expect(values(args, '-m')).toEqual(['512M']);
    expect(values(args, '-smp')).toEqual(['2']);
    expect(values(args, '-global')).toEqual(['virtio-mmio.force-legacy=false']);
    expect(values(args, '-accel')).toEqual(['tcg,tb-size=32']);
    // A split-wx code buffer (a memfd the idle trim can cut: jit-trim.ts) when asked for.
    expect(values(qemuArgs({ ...base, accel: 'tcg', splitWx: true }), '-accel')).toEqual([
      'tcg,tb-size=32,split-wx=on',
    ]);
    expect(args).toEqual(expect.arrayContaining(['-nodefaults', '-no-user-config', '-nographic', '-no-reboot']));
    expect(values(args, '-kernel')).toEqual(['/k']);
    expect(values(args, '-initrd')).toEqual(['/i']);
    expect(values(args, '-append')).toEqual(['console=ttyS0']);
  });

  it('puts every socket and the console in the runtime directory', () => {
    const args = qemuArgs({ ...base, accel: 'tcg' });
    expect(values(args, '-qmp')).toEqual(['unix:/run/podvisor/vms/abcdef012345/run/qmp.sock,server=on,wait=off']);
    expect(values(args, '-chardev')).toEqual([
      'file,id=console,path=/run/podvisor/vms/abcdef012345/run/console.log,append=on',
      'socket,id=vfs,path=/run/podvisor/vms/abcdef012345/run/virtiofsd.sock',
      'socket,id=ctl,path=/run/podvisor/vms/abcdef012345/run/ctl.sock,server=on,wait=off',
      'socket,id=io,path=/run/podvisor/vms/abcdef012345/run/io.sock,server=on,wait=off',
      'socket,id=locks,path=/run/podvisor/vms/abcdef012345/run/locks.sock,server=on,wait=off',
      'file,id=status,path=/run/podvisor/vms/abcdef012345/run/agent-status',
    ]);
    expect(values(args, '-device')).toEqual([
      'vhost-user-fs-device,chardev=vfs,tag=podvisor',
      'virtio-serial-device',
      'virtserialport,chardev=ctl,name=org.podvisor.ctl',
      'virtserialport,chardev=io,name=org.podvisor.io',
      'virtserialport,chardev=locks,name=org.podvisor.locks',
      'virtserialport,chardev=status,name=org.podvisor.status',
      'virtio-balloon-device,free-page-reporting=on',
    ]);
    expect(values(args, '-serial')).toEqual(['chardev:console']);
  });

  it("a template or a clone: 9p shares served by QEMU, RAM in the template's file, no balloon unless asked", () => {
    const devices = planDevices('abcdef012345', { nics: 1, volumes: true }, paths);
    const tpl = qemuArgs({
      ...base,
      accel: 'tcg',
      devices,
      transport: '9p',
      ram: { file: '/run/podvisor/templates/k/ram', share: true },
    });
    expect(values(tpl, '-object')).toEqual([
      'memory-backend-file,id=mem,size=512M,mem-path=/run/podvisor/templates/k/ram,share=on',
    ]);
    expect(values(tpl, '-fsdev')).toEqual([
      'local,id=fsroot,path=/run/podvisor/vms/abcdef012345/share,security_model=passthrough,multidevs=remap',
      'local,id=fsvol,path=/run/podvisor/vms/abcdef012345/volumes,security_model=passthrough,multidevs=remap',
    ]);
    const dev = values(tpl, '-device');
    expect(dev).toContain('virtio-9p-device,fsdev=fsroot,mount_tag=podvisor');
    expect(dev).toContain('virtio-9p-device,fsdev=fsvol,mount_tag=podvisor-vol');
    // No balloon unless asked (a QEMU with the RAM shim, below): a clone's RAM is the template's
    // file, which a reported free page would punch.
    expect(dev.filter((d) => /vhost-user|balloon/.test(d))).toEqual([]);
    expect(values(tpl, '-chardev').filter((c) => /virtiofsd|volumes\.sock/.test(c))).toEqual([]);
    expect(tpl).not.toContain('-incoming');
    // A clone: the same devices in the same order (they must match the saved state), the RAM
    // file mapped privately, and QEMU waiting for the state.
    const clone = qemuArgs({
      ...base,
      accel: 'tcg',
      devices,
      transport: '9p',
      ram: { file: '/run/podvisor/templates/k/ram', share: false },
      incoming: true,
    });
    expect(values(clone, '-object')).toEqual([
      'memory-backend-file,id=mem,size=512M,mem-path=/run/podvisor/templates/k/ram,share=off',
    ]);
    expect(values(clone, '-device')).toEqual(dev);
    expect(values(clone, '-incoming')).toEqual(['defer']);
    expect(() => qemuArgs({ ...base, accel: 'tcg', transport: '9p' })).toThrow(/RAM file/);
    // A jailed clone's template RAM file is read-only: opened so, its mapping still writable.
    const jailed = qemuArgs({
      ...base,
      accel: 'tcg',
      devices,
      transport: '9p',
      ram: { file: '/t/ram', share: false, readOnlyFile: true },
      incoming: true,
    });
    expect(values(jailed, '-object')).toEqual([
      'memory-backend-file,id=mem,size=512M,mem-path=/t/ram,share=off,readonly=on,rom=off',
    ]);
    // A restore of a checkpoint's own state: anonymous RAM, the same devices.
    const restored = qemuArgs({ ...base, accel: 'tcg', devices, transport: '9p', ram: 'anonymous', incoming: true });
    expect(values(restored, '-object')).toEqual(['memory-backend-ram,id=mem,size=512M']);
    expect(values(restored, '-device')).toEqual(dev);
  });

  it('a template and its clones of a QEMU with the RAM shim: the same free-page-reporting balloon', () => {
    const devices = planDevices('abcdef012345', { nics: 1, volumes: true }, paths);
    const ram = '/run/podvisor/templates/k/ram';
    const tpl = qemuArgs({
      ...base,
      accel: 'tcg',
      devices,
      transport: '9p',
      ram: { file: ram, share: true },
      ninePBalloon: true,
    });
    const dev = values(tpl, '-device');
    expect(dev.filter((d) => /balloon/.test(d))).toEqual(['virtio-balloon-device,free-page-reporting=on']);
    const clone = qemuArgs({
      ...base,
      accel: 'tcg',
      devices,
      transport: '9p',
      ram: { file: ram, share: false },
      incoming: true,
      ninePBalloon: true,
    });
    expect(values(clone, '-device')).toEqual(dev);
    // The RAM file is mapped privately, not opened with readonly=on (QEMU refuses to discard there).
    expect(values(clone, '-object')).toEqual([`memory-backend-file,id=mem,size=512M,mem-path=${ram},share=off`]);
  });

  it('uses the host CPU model with KVM', () => {
    const args = qemuArgs({ ...base, accel: 'kvm' });
    expect(values(args, '-accel')).toEqual(['kvm']);
    expect(values(args, '-cpu')).toEqual(['host']);
  });
});

describe('kernelCmdline', () => {
  it('passes the TSC rate to TCG guests only', () => {
    expect(kernelCmdline({ accel: 'tcg', tscKhz: 2596144 })).toContain('tsc_early_khz=2596144');
    expect(kernelCmdline({ accel: 'kvm', tscKhz: 2596144 })).not.toContain('tsc_early_khz');
    expect(kernelCmdline({ accel: 'tcg' })).not.toContain('tsc_early_khz');
  });

  it('makes no dummy0 at boot (the dummy driver is built in for privileged containers)', () => {
    for (const accel of ['tcg', 'kvm'] as const)
      expect(kernelCmdline({ accel }).split(' ')).toContain('dummy.numdummies=0');
  });

  it('grants every allocation in the guest: what is touched past the limit is OOM-killed, as under runc', () => {
    for (const accel of ['tcg', 'kvm'] as const)
      expect(kernelCmdline({ accel }).split(' ')).toContain('sysctl.vm.overcommit_memory=1');
  });

  it('trusts the TSC under TCG only, and never disables an IRQ as spurious', () => {
    expect(kernelCmdline({ accel: 'tcg' }).split(' ')).toEqual(expect.arrayContaining(['tsc=reliable', 'noirqdebug']));
    expect(kernelCmdline({ accel: 'kvm' }).split(' ')).not.toContain('tsc=reliable');
    expect(kernelCmdline({ accel: 'kvm' }).split(' ')).toContain('noirqdebug');
  });

  it('locks the kernel down and turns kernel-memory accounting off (memory per VM)', () => {
    expect(kernelCmdline({ accel: 'kvm' }).split(' ')).toEqual(
      expect.arrayContaining(['lsm=capability,lockdown', 'lockdown=confidentiality', 'cgroup.memory=nokmem']),
    );
  });

  it('expedites RCU grace periods (boot time)', () => {
    for (const accel of ['kvm', 'tcg'] as const)
      expect(kernelCmdline({ accel }).split(' ')).toContain('rcupdate.rcu_expedited=1');
  });

  it('sends the console to ttyS0, ends QEMU on panic and appends extra arguments last', () => {
    const c = kernelCmdline({ accel: 'tcg', extra: ['loglevel=7'] }).split(' ');
    expect(c[0]).toBe('console=ttyS0');
    expect(c).toContain('panic=-1');
    expect(c[c.length - 1]).toBe('loglevel=7');
  });
});

describe('QEMU confinement', () => {
  it("runs every VM's QEMU under its seccomp sandbox with every deny-set", () => {
    const args = qemuArgs({
      id: 'abcdef012345',
      size: { memoryMiB: 256, cpus: 1 },
      accel: 'tcg',
      kernel: '/k',
      initrd: '/i',
      cmdline: '',
      paths: vmPaths('/x', 'abcdef012345'),
      transport: '9p',
      ram: { file: '/t/ram', share: false },
      incoming: true,
    });
    expect(values(args, '-sandbox')).toEqual([
      'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    ]);
  });

  it('keeps only the capabilities the 9p server and the taps need, inheritable ones included', () => {
    expect(capabilityArgs()).toEqual([
      '--inh-caps=-all',
      '--bounding-set=-all,+chown,+dac_override,+fowner,+fsetid,+net_admin',
      '--',
    ]);
  });
});

describe('virtiofsdArgs', () => {
  it('serves the share directory with a chroot sandbox, without CAP_MKNOD and CAP_SETFCAP, and announces submounts', () => {
    const p = vmPaths('/x', 'abcdef012345');
    expect(virtiofsdArgs(p)).toEqual([
      '--socket-path=/x/vms/abcdef012345/run/virtiofsd.sock',
      '-o',
      'source=/x/vms/abcdef012345/share',
      '-o',
      'sandbox=chroot',
      '-o',
      'modcaps=-mknod:-setfcap',
      '-o',
      'announce_submounts',
      '-o',
      'cache=always',
    ]);
  });
});

describe('hostTscKhz', () => {
  const cpu = (flags: string, mhz = '2596.144') =>
    `processor\t: 0\ncpu MHz\t\t: ${mhz}\nflags\t\t: fpu ${flags}\n\nprocessor\t: 1\n`;
  const noBase = '/nonexistent/base_frequency';

  it('reads a constant TSC rate from cpu MHz', () => {
    expect(hostTscKhz(cpu('tsc constant_tsc nonstop_tsc'), noBase)).toBe(2596144);
  });

  it('does not trust cpu MHz without constant_tsc or with APERF/MPERF', () => {
    expect(hostTscKhz(cpu('tsc'), noBase)).toBeUndefined();
    expect(hostTscKhz(cpu('tsc constant_tsc aperfmperf'), noBase)).toBeUndefined();
  });

  it('falls back to the base frequency file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-tsc-'));
    try {
      fs.writeFileSync(path.join(dir, 'base'), '2100000\n');
      expect(hostTscKhz(cpu('tsc constant_tsc aperfmperf'), path.join(dir, 'base'))).toBe(2100000);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});

describe('vm.json', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-rec-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const rec: VmRecord = {
    format: 1,
    id: 'abcdef012345',
    size: { memoryMiB: 256, cpus: 1 },
    accel: 'tcg',
    qemuPid: 10,
    virtiofsdPid: 11,
    createdAt: '2026-01-01T00:00:00.000Z',
    kernel: '/k',
    initrd: '/i',
  };

  it('round-trips', () => {
    const p = vmPaths(dir, rec.id);
    fs.mkdirSync(p.dir, { recursive: true });
    writeVmRecord(p, rec);
    expect(readVmRecord(p)).toEqual(rec);
  });

  it("round-trips a clone's record: 9p, no virtiofsd", () => {
    const p = vmPaths(dir, rec.id);
    fs.mkdirSync(p.dir, { recursive: true });
    const { virtiofsdPid: _none, ...rest } = rec;
    const clone: VmRecord = { ...rest, transport: '9p' };
    writeVmRecord(p, clone);
    expect(readVmRecord(p)).toEqual(clone);
  });

  it.each([
    ['not JSON', '{'],
    ['no virtiofsd pid (a virtio-fs VM)', JSON.stringify({ ...rec, virtiofsdPid: undefined })],
    ['a virtiofsd pid in a 9p record', JSON.stringify({ ...rec, transport: '9p' })],
    ['an unknown transport', JSON.stringify({ ...rec, transport: 'nfs' })],
    ['a wrong format', JSON.stringify({ ...rec, format: 2 })],
    ['a negative pid', JSON.stringify({ ...rec, qemuPid: -1 })],
    ['a string pid', JSON.stringify({ ...rec, virtiofsdPid: '11' })],
    ['an unknown accel', JSON.stringify({ ...rec, accel: 'hvf' })],
    ['no size', JSON.stringify({ ...rec, size: undefined })],
    ["another VM's id", JSON.stringify({ ...rec, id: '0123456789ab' })],
  ])('rejects a record with %s', (_what, text) => {
    const p = vmPaths(dir, rec.id);
    fs.mkdirSync(p.dir, { recursive: true });
    fs.writeFileSync(p.record, text);
    expect(readVmRecord(p)).toBeUndefined();
  });

  it('reads no record through a symlink, nor from a FIFO (which would block the daemon)', () => {
    const p = vmPaths(dir, rec.id);
    fs.mkdirSync(p.dir, { recursive: true });
    const elsewhere = path.join(dir, 'elsewhere.json');
    fs.writeFileSync(elsewhere, JSON.stringify(rec));
    fs.symlinkSync(elsewhere, p.record);
    expect(readVmRecord(p)).toBeUndefined();
    fs.rmSync(p.record);
    execFileSync('mkfifo', [p.record]);
    expect(readVmRecord(p)).toBeUndefined();
  });
});
