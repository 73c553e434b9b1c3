/**
 * The VM device model (src/vm/devices): what each device adds to QEMU's command line, tap
 * names and MACs, which VMs fit which requests, and the devices part of vm.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../../../src/errors';
import { decodeInterfaces, encodeInterface, encodeMount, encodeRoute } from '../../../src/vm/agent/device-ops';
import { MountFlag, Tag } from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';
import {
  devicesFit,
  imageDiskFits,
  MICROVM_VIRTIO_SLOTS,
  normalizeRequest,
  planDevices,
} from '../../../src/vm/devices';
import { MAX_NICS, tapName } from '../../../src/vm/devices/nic';
import { volumeVirtiofsdArgs } from '../../../src/vm/devices/volume-share';
import {
  UPPER_DISK_BYTES,
  attachCommands,
  detachCommands,
  flattenCommand,
} from '../../../src/vm/devices/upper-disk/upper-disk';
import { IMAGE_DISK_BYTES, attachImageCommands } from '../../../src/vm/devices/image-disk/image-disk';
import { qemuArgs, virtiofsdArgs } from '../../../src/vm/qemu/cmdline';
import { vmPaths } from '../../../src/vm/qemu/runtime-dir';
import { readVmRecord, writeVmRecord, type VmRecord } from '../../../src/vm/qemu/vm-record';
import type { VmDevices } from '../../../src/vm/types';

const ID = 'abcdef012345';
const paths = vmPaths('/run/podvisor', ID);
const base = {
  id: ID,
  size: { memoryMiB: 256, cpus: 1 },
  accel: 'tcg' as const,
  kernel: '/k',
  initrd: '/i',
  cmdline: 'c',
  paths,
};

describe('devices on the QEMU command line', () => {
  it('adds nothing for a VM without devices (the command line before the device model)', () => {
    expect(qemuArgs({ ...base, devices: planDevices(ID, undefined, paths) })).toEqual(qemuArgs(base));
  });

  it('backs each NIC with a tap QEMU creates by name, with our MAC and no vhost', () => {
    const devices = planDevices(ID, { nics: 2 }, paths);
    const args = qemuArgs({ ...base, devices });
    const netdevs = args.flatMap((a, i) => (a === '-netdev' ? [args[i + 1]] : []));
    expect(netdevs).toEqual([
      `tap,id=net0,ifname=pv${ID}0,script=no,downscript=no`,
      `tap,id=net1,ifname=pv${ID}1,script=no,downscript=no`,
    ]);
    expect(args).toContain(`virtio-net-device,netdev=net0,mac=${devices.nics[0].mac}`);
    expect(args.join(' ')).not.toMatch(/vhost=on/);
    expect(devices.nics.map((n) => n.guestName)).toEqual(['eth0', 'eth1']);
    for (const n of devices.nics) {
      expect(n.tap.length).toBeLessThanOrEqual(15); // IFNAMSIZ less its NUL
      expect(n.mac).toMatch(/^02(:[0-9a-f]{2}){5}$/); // locally administered, unicast
    }
    expect(devices.nics[0].mac).not.toBe(devices.nics[1].mac);
  });

  it('serves the volume share from its own virtiofsd with cache=auto, apart from the rootfs share', () => {
    const devices = planDevices(ID, { volumes: true }, paths);
    expect(devices.volumes).toEqual({ hostDir: `/run/podvisor/vms/${ID}/volumes`, tag: 'podvisor-vol', cache: 'auto' });
    const args = qemuArgs({ ...base, devices });
    expect(args).toContain('vhost-user-fs-device,chardev=vfsvol,tag=podvisor-vol');
    expect(args).toContain(`socket,id=vfsvol,path=/run/podvisor/vms/${ID}/run/volumes.sock`);
    expect(volumeVirtiofsdArgs(paths)).toEqual([
      `--socket-path=/run/podvisor/vms/${ID}/run/volumes.sock`,
      '-o',
      `source=/run/podvisor/vms/${ID}/volumes`,
      '-o',
      'sandbox=chroot',
      '-o',
      'modcaps=-mknod:-setfcap',
      '-o',
      'announce_submounts',
      '-o',
      'cache=auto',
    ]);
    expect(virtiofsdArgs(paths)).toContain('cache=always');
  });

  it('refuses more NICs than a tap name can number', () => {
    expect(() => normalizeRequest({ nics: MAX_NICS + 1 })).toThrow(/network interfaces/);
    expect(() => normalizeRequest({ nics: -1 })).toThrow(/network interfaces/);
    expect(tapName(ID, MAX_NICS - 1)).toHaveLength(15);
  });
});

describe('the upper disk (block mode)', () => {
  it('is a virtio-blk device over a null-co placeholder of the disk size, never a file', () => {
    const devices = planDevices(ID, { upperDisk: true }, paths);
    expect(devices.upperDisk).toEqual({ guestName: 'vda', sizeBytes: UPPER_DISK_BYTES });
    const args = qemuArgs({ ...base, devices });
    const blockdevs = args.flatMap((a, i) => (a === '-blockdev' ? [args[i + 1]] : []));
    expect(blockdevs).toEqual([
      `driver=null-co,node-name=updisk-none,size=${UPPER_DISK_BYTES},read-zeroes=on`,
      'driver=raw,node-name=updisk,file=updisk-none',
    ]);
    expect(args).toContain('virtio-blk-device,drive=updisk');
  });

  it('comes, over 9p, with a read-only export of the share for the image layers; not over virtio-fs', () => {
    const devices = planDevices(ID, { upperDisk: true }, paths);
    const fsdevs = (args: string[]): string[] => args.flatMap((a, i) => (a === '-fsdev' ? [args[i + 1]] : []));
    const ninep = qemuArgs({ ...base, devices, transport: '9p', ram: { file: '/r/ram', share: false } });
    expect(fsdevs(ninep)).toEqual([
      `local,id=fsroot,path=${paths.shareDir},security_model=passthrough,multidevs=remap`,
      `local,id=fslayers,path=${paths.shareDir},security_model=passthrough,multidevs=remap,readonly=on`,
    ]);
    expect(ninep).toContain('virtio-9p-device,fsdev=fslayers,mount_tag=podvisor-layers');
    // Without an upper disk no container takes its layers from it.
    const noDisk = qemuArgs({
      ...base,
      devices: planDevices(ID, {}, paths),
      transport: '9p',
      ram: { file: '/r/ram', share: false },
    });
    expect(fsdevs(noDisk)).toHaveLength(1);
    expect(fsdevs(qemuArgs({ ...base, devices }))).toEqual([]);
  });

  it('never takes more virtio transports than microvm has: the layers share is left out first', () => {
    const transports = (args: string[]): number =>
      args.filter(
        (a, i) => args[i - 1] === '-device' && /^(virtio-|vhost-user-)/.test(a) && !a.startsWith('virtserialport'),
      ).length;
    const clone = (req: Parameters<typeof planDevices>[1], ninePBalloon = false): string[] =>
      qemuArgs({
        ...base,
        devices: planDevices(ID, req, paths),
        transport: '9p',
        ram: { file: '/r/ram', share: false },
        ninePBalloon,
      });
    // Three NICs, volumes and the disk: the layers share takes the last transport.
    const three = clone({ nics: 3, volumes: true, upperDisk: true });
    expect(transports(three)).toBe(MICROVM_VIRTIO_SLOTS);
    expect(three).toContain('virtio-9p-device,fsdev=fslayers,mount_tag=podvisor-layers');
    // Four: every asked device, without the layers share.
    const four = clone({ nics: 4, volumes: true, upperDisk: true });
    expect(transports(four)).toBe(MICROVM_VIRTIO_SLOTS);
    expect(four.filter((a) => /fslayers/.test(a))).toEqual([]);
    expect(four.filter((a) => a.startsWith('virtio-net-device'))).toHaveLength(4);
    // With a balloon (a QEMU with the RAM shim): the pool's two NICs, volumes and the disk leave
    // room for both the layers share and the balloon.
    const ballooned = clone({ nics: 2, volumes: true, upperDisk: true }, true);
    expect(transports(ballooned)).toBe(MICROVM_VIRTIO_SLOTS);
    expect(ballooned).toContain('virtio-balloon-device,free-page-reporting=on');
    expect(ballooned).toContain('virtio-9p-device,fsdev=fslayers,mount_tag=podvisor-layers');
    // Room for one of the two only (three NICs): the layers share keeps it.
    const threeBallooned = clone({ nics: 3, volumes: true, upperDisk: true }, true);
    expect(transports(threeBallooned)).toBe(MICROVM_VIRTIO_SLOTS);
    expect(threeBallooned).toContain('virtio-9p-device,fsdev=fslayers,mount_tag=podvisor-layers');
    expect(threeBallooned.filter((a) => /balloon/.test(a))).toEqual([]);
    // With the image disk instead of the layers share, the balloon takes the transport left.
    const imageDisk = clone({ nics: 2, volumes: true, upperDisk: true, imageDisk: true }, true);
    expect(transports(imageDisk)).toBe(MICROVM_VIRTIO_SLOTS);
    expect(imageDisk).toContain('virtio-balloon-device,free-page-reporting=on');
    // ... but never one an asked device needs: four NICs, volumes and the disk take them all.
    const fourBallooned = clone({ nics: 4, volumes: true, upperDisk: true }, true);
    expect(transports(fourBallooned)).toBe(MICROVM_VIRTIO_SLOTS);
    expect(fourBallooned.filter((a) => /balloon|fslayers/.test(a))).toEqual([]);
    expect(fourBallooned.filter((a) => a.startsWith('virtio-net-device'))).toHaveLength(4);
    // A booted VM has its balloon too: one too many, said before QEMU is started.
    expect(() =>
      qemuArgs({ ...base, devices: planDevices(ID, { nics: 4, volumes: true, upperDisk: true }, paths) }),
    ).toThrow(/8 virtio devices at most, not 9/);
  });

  it('is attached by adding the file and reopening the raw node on it, and detached the other way', () => {
    expect(attachCommands('/d/c/upper.ext4')).toEqual([
      [
        'blockdev-add',
        {
          driver: 'file',
          'node-name': 'updisk-file',
          filename: '/d/c/upper.ext4',
          cache: { direct: false, 'no-flush': true },
        },
      ],
      ['blockdev-reopen', { options: [{ driver: 'raw', 'node-name': 'updisk', file: 'updisk-file' }] }],
    ]);
    expect(detachCommands()).toEqual([
      ['blockdev-reopen', { options: [{ driver: 'raw', 'node-name': 'updisk', file: 'updisk-none' }] }],
      ['blockdev-del', { 'node-name': 'updisk-file' }],
      ['blockdev-del', { 'node-name': 'updisk-cow' }],
    ]);
  });

  it('opens a copy-on-write disk as qcow2 over the files given, read-only, never over what its header names', () => {
    expect(attachCommands('/j/qmp-file', ['/j/qmp-file-1', '/j/qmp-file-2'])).toEqual([
      [
        'blockdev-add',
        {
          driver: 'qcow2',
          'node-name': 'updisk-cow',
          cache: { direct: false, 'no-flush': true },
          file: { driver: 'file', filename: '/j/qmp-file' },
          backing: {
            driver: 'qcow2',
            'read-only': true,
            file: { driver: 'file', filename: '/j/qmp-file-1', 'read-only': true },
            backing: {
              driver: 'raw',
              'node-name': 'updisk-base',
              'read-only': true,
              file: { driver: 'file', filename: '/j/qmp-file-2', 'read-only': true },
            },
          },
        },
      ],
      ['blockdev-reopen', { options: [{ driver: 'raw', 'node-name': 'updisk', file: 'updisk-cow' }] }],
    ]);
  });

  it('flattens a copy-on-write disk into its overlay down to the raw file at the bottom, the one named at its attach', () => {
    expect(flattenCommand('flatten-1')).toEqual([
      'block-stream',
      { 'job-id': 'flatten-1', device: 'updisk-cow', 'base-node': 'updisk-base', 'auto-dismiss': false },
    ]);
    // The base named is the bottom of every chain attachCommands opens, however deep.
    const bottom = (n: Record<string, unknown>): Record<string, unknown> =>
      n.backing ? bottom(n.backing as Record<string, unknown>) : n;
    for (const under of [['/j/1'], ['/j/1', '/j/2', '/j/3']]) {
      const [[, add]] = attachCommands('/j/top', under);
      expect(bottom(add)).toMatchObject({ driver: 'raw', 'node-name': 'updisk-base' });
      expect((bottom(add).file as { filename: string }).filename).toBe(under[under.length - 1]);
    }
  });

  it('is asked for apart from the other devices: a VM without it does not fit a block-mode container', () => {
    expect(devicesFit({ nics: 1, upperDisk: true }, { nics: 1 })).toBe(true);
    expect(devicesFit({ nics: 1 }, { nics: 1, upperDisk: true })).toBe(false);
    expect(devicesFit({ nics: 1, upperDisk: true }, { upperDisk: true })).toBe(true);
  });
});

describe('the image disk (--storage-opt image=disk)', () => {
  it('is LUN 0 of the SCSI controller, found by its serial, over a read-only placeholder; its VM has no layers share', () => {
    const devices = planDevices(ID, { upperDisk: true, imageDisk: true }, paths);
    expect(devices.imageDisk).toEqual({ serial: 'podvisor-image', sizeBytes: IMAGE_DISK_BYTES });
    const args = qemuArgs({ ...base, devices, transport: '9p', ram: { file: '/r/ram', share: false } });
    const blockdevs = args.flatMap((a, i) => (a === '-blockdev' ? [args[i + 1]] : []));
    expect(blockdevs).toContain(
      `driver=null-co,node-name=imgdisk-none,size=${IMAGE_DISK_BYTES},read-zeroes=on,read-only=on`,
    );
    expect(blockdevs).toContain('driver=raw,node-name=imgdisk,file=imgdisk-none,read-only=on');
    // One virtio transport (the controller) after the upper disk, which stays vda (the only virtio-blk device).
    expect(args.indexOf('virtio-scsi-device,id=pvscsi')).toBeGreaterThan(
      args.indexOf('virtio-blk-device,drive=updisk'),
    );
    expect(args).toContain('scsi-hd,bus=pvscsi.0,scsi-id=0,lun=0,drive=imgdisk,serial=podvisor-image');
    expect(args.filter((a) => a.startsWith('virtio-blk-device'))).toEqual(['virtio-blk-device,drive=updisk']);
    expect(args.join(' ')).not.toContain('podvisor-layers');
  });

  it('fits a VM of up to 3 NICs with the volume share and the upper disk, and its command line fits microvm', () => {
    expect(imageDiskFits({ nics: 3, volumes: true, upperDisk: true })).toBe(true);
    expect(imageDiskFits({ nics: 4, upperDisk: true })).toBe(true);
    expect(imageDiskFits({ nics: 4, volumes: true, upperDisk: true })).toBe(false);
    const fits = planDevices(ID, { nics: 3, volumes: true, upperDisk: true, imageDisk: true }, paths);
    expect(() =>
      qemuArgs({ ...base, devices: fits, transport: '9p', ram: { file: '/r/ram', share: false } }),
    ).not.toThrow();
    const over = planDevices(ID, { nics: 4, volumes: true, upperDisk: true, imageDisk: true }, paths);
    expect(() => qemuArgs({ ...base, devices: over, transport: '9p', ram: { file: '/r/ram', share: false } })).toThrow(
      'a VM has 8 virtio devices at most',
    );
  });

  it('opens the file read-only, and a VM without the device does not fit such a container', () => {
    const [add, reopen] = attachImageCommands('/d/img.ext4');
    expect(add[1]).toMatchObject({ driver: 'file', filename: '/d/img.ext4', 'read-only': true });
    expect(reopen[1]).toEqual({
      options: [{ driver: 'raw', 'node-name': 'imgdisk', file: 'imgdisk-file', 'read-only': true }],
    });
    expect(devicesFit({ nics: 1, upperDisk: true }, { upperDisk: true, imageDisk: true })).toBe(false);
    expect(devicesFit({ upperDisk: true, imageDisk: true }, { upperDisk: true, imageDisk: true })).toBe(true);
  });
});

describe('devicesFit', () => {
  it('lets a VM with more devices serve a request for fewer, never the other way round', () => {
    expect(devicesFit({ nics: 1 }, undefined)).toBe(true);
    expect(devicesFit({ nics: 1 }, { nics: 1 })).toBe(true);
    expect(devicesFit({ nics: 1 }, { nics: 2 })).toBe(false);
    expect(devicesFit(undefined, { nics: 1 })).toBe(false);
    expect(devicesFit({ nics: 1 }, { volumes: true })).toBe(false);
    expect(devicesFit({ nics: 1, volumes: true }, { volumes: true })).toBe(true);
  });

  it('keeps a VM with an image disk (so no layers share) from a container that reads its image over that share', () => {
    const pool = { nics: 3, volumes: true, upperDisk: true, imageDisk: true };
    expect(devicesFit(pool, { nics: 1, upperDisk: true, imageDisk: true })).toBe(true);
    expect(devicesFit(pool, { nics: 1, upperDisk: true })).toBe(false);
    // A container whose root is on the host's share (no upper disk) reads no layers share.
    expect(devicesFit(pool, { nics: 1, volumes: true })).toBe(true);
    expect(devicesFit({ nics: 3, volumes: true, upperDisk: true }, { nics: 1, upperDisk: true })).toBe(true);
    // The pool VM's devices take every transport a microvm has.
    const args = qemuArgs({
      ...base,
      devices: planDevices(ID, pool, paths),
      transport: '9p',
      ram: { file: '/r/ram', share: false },
    });
    expect(args.filter((a) => /^virtio-(blk|net|9p|serial|scsi)-device/.test(a))).toHaveLength(MICROVM_VIRTIO_SLOTS);
    expect(args.join(' ')).not.toContain('podvisor-layers');
  });
});

/** A booted VM's record (pids 10-12) with `devices`. */
function vmRecordWith(devices: VmDevices): VmRecord {
  return {
    format: 1,
    id: ID,
    size: { memoryMiB: 256, cpus: 1 },
    accel: 'tcg',
    qemuPid: 10,
    virtiofsdPid: 11,
    volumesVirtiofsdPid: 12,
    devices,
    createdAt: new Date().toISOString(),
    kernel: '/k',
    initrd: '/i',
  };
}

describe('vm.json devices', () => {
  it('keeps the devices and the volume virtiofsd pid, and refuses a record whose devices were tampered with', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-devices-'));
    const p = vmPaths(dir, ID);
    fs.mkdirSync(p.dir, { recursive: true });
    const devices = planDevices(ID, { nics: 1, volumes: true }, p);
    const rec = vmRecordWith(devices);
    writeVmRecord(p, rec);
    expect(readVmRecord(p)).toEqual(rec);
    writeVmRecord(p, { ...rec, devices: { nics: [{ ...devices.nics[0], tap: 'eth0; rm -rf /' }] } });
    expect(readVmRecord(p)).toBeUndefined();
    const { devices: _d, volumesVirtiofsdPid: _v, ...old } = rec;
    writeVmRecord(p, old);
    expect(readVmRecord(p)).toEqual(old); // written before the device model: no devices
    fs.rmSync(dir, { recursive: true });
  });

  // A VM an earlier build started keeps vm.json where its QEMU writes: a record naming anything
  // the daemon would not have planned for this directory is not adoptable.
  it.each([
    [
      'a volume share elsewhere on the host',
      (d: VmDevices): VmDevices => ({ ...d, volumes: { ...d.volumes!, hostDir: '/run/podvisor' } }),
    ],
    [
      'a volume share under another tag',
      (d: VmDevices): VmDevices => ({ ...d, volumes: { ...d.volumes!, tag: 'rootfs' } }),
    ],
    ["another VM's tap", (d: VmDevices): VmDevices => ({ nics: [{ ...d.nics[0], tap: 'pv0123456789ab0' }] })],
  ])('refuses a record naming %s', (_what, tamper) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-devices-'));
    const p = vmPaths(dir, ID);
    fs.mkdirSync(p.dir, { recursive: true });
    const devices = planDevices(ID, { nics: 1, volumes: true }, p);
    const rec = vmRecordWith(tamper(devices));
    writeVmRecord(p, rec);
    expect(readVmRecord(p)).toBeUndefined();
    writeVmRecord(p, { ...rec, devices });
    expect(readVmRecord(p)).toEqual({ ...rec, devices });
    fs.rmSync(dir, { recursive: true });
  });
});

describe('LIST_INTERFACES answers from the guest', () => {
  const record = (f: (w: TlvWriter) => TlvWriter) =>
    TlvReader.parse(new TlvWriter().nested(Tag.INTERFACE, f(new TlvWriter())).toBuffer());
  const good = (w: TlvWriter) =>
    w
      .str(Tag.IFNAME, 'eth0')
      .bytes(Tag.MAC, Buffer.from([2, 0, 0, 0, 0, 1]))
      .u32(Tag.MTU, 1500)
      .u32(Tag.LINK_UP, 1);

  it('decodes a well-formed record', () => {
    expect(
      decodeInterfaces(
        record((w) =>
          good(w)
            .bytes(Tag.ADDRESS, Buffer.from([10, 0, 0, 2]))
            .u32(Tag.PREFIX, 24),
        ),
      ),
    ).toEqual([{ name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1500, up: true, address: '10.0.0.2', prefix: 24 }]);
    const v6 = Buffer.from('2001038900000000000000000000f00d', 'hex');
    expect(decodeInterfaces(record((w) => good(w).bytes(Tag.ADDRESS6, v6).u32(Tag.PREFIX6, 64)))).toEqual([
      { name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1500, up: true, address6: '2001:389::f00d', prefix6: 64 },
    ]);
  });

  it.each([
    [
      'a name with a slash',
      (w: TlvWriter) => w.str(Tag.IFNAME, 'eth/0').bytes(Tag.MAC, Buffer.alloc(6)).u32(Tag.MTU, 1).u32(Tag.LINK_UP, 0),
    ],
    [
      'a 7-byte MAC',
      (w: TlvWriter) => w.str(Tag.IFNAME, 'eth0').bytes(Tag.MAC, Buffer.alloc(7)).u32(Tag.MTU, 1).u32(Tag.LINK_UP, 0),
    ],
    [
      'LINK_UP 5',
      (w: TlvWriter) => w.str(Tag.IFNAME, 'eth0').bytes(Tag.MAC, Buffer.alloc(6)).u32(Tag.MTU, 1).u32(Tag.LINK_UP, 5),
    ],
    ['a 16-byte address', (w: TlvWriter) => good(w).bytes(Tag.ADDRESS, Buffer.alloc(16)).u32(Tag.PREFIX, 24)],
    ['a prefix of 99', (w: TlvWriter) => good(w).bytes(Tag.ADDRESS, Buffer.alloc(4)).u32(Tag.PREFIX, 99)],
    ['no MTU', (w: TlvWriter) => w.str(Tag.IFNAME, 'eth0').bytes(Tag.MAC, Buffer.alloc(6)).u32(Tag.LINK_UP, 0)],
    ['a 4-byte IPv6 address', (w: TlvWriter) => good(w).bytes(Tag.ADDRESS6, Buffer.alloc(4)).u32(Tag.PREFIX6, 64)],
    ['an IPv6 prefix of 129', (w: TlvWriter) => good(w).bytes(Tag.ADDRESS6, Buffer.alloc(16)).u32(Tag.PREFIX6, 129)],
    ['an IPv6 address without its prefix', (w: TlvWriter) => good(w).bytes(Tag.ADDRESS6, Buffer.alloc(16))],
  ])('refuses %s as a protocol error', (_what, f) => {
    expect(() => decodeInterfaces(record(f))).toThrow(UnavailableError);
  });
});

describe('IPv6 in CONFIGURE_INTERFACE and ADD_ROUTE requests', () => {
  const fields = (w: TlvWriter) => TlvReader.parse(w.toBuffer());

  it('carries the address and prefix, or :: with 0 to remove them', () => {
    const r = fields(encodeInterface({ name: 'eth0', address6: '2001:389::1', prefix6: 64 }));
    expect(r.bytes(Tag.ADDRESS6)?.toString('hex')).toBe('20010389000000000000000000000001');
    expect(r.u32(Tag.PREFIX6)).toBe(64);
    expect(fields(encodeInterface({ name: 'eth0', address6: '::', prefix6: 0 })).u32(Tag.PREFIX6)).toBe(0);
    expect(() => encodeInterface({ name: 'eth0', address6: '2001:389::1' })).toThrow(InvalidArgumentError);
    expect(() => encodeInterface({ name: 'eth0', address6: '10.0.0.1', prefix6: 64 })).toThrow(InvalidArgumentError);
    expect(() => encodeInterface({ name: 'eth0', address6: '2001:389::1', prefix6: 129 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => encodeInterface({ name: 'eth0', address6: '2001:389::1', prefix6: 0 })).toThrow(InvalidArgumentError);
  });

  it('an IPv6 destination makes an IPv6 route, with a gateway of its family and no host bits', () => {
    const r = fields(encodeRoute({ destination: '::', prefix: 0, gateway: '2001:389::ffff', device: 'eth0' }));
    expect([
      r.bytes(Tag.DESTINATION6)?.length,
      r.u32(Tag.PREFIX),
      r.bytes(Tag.GATEWAY6)?.toString('hex'),
      r.bytes(Tag.DESTINATION),
    ]).toEqual([16, 0, '2001038900000000000000000000ffff', undefined]);
    expect(() => encodeRoute({ destination: '::', prefix: 0, gateway: '10.0.0.1' })).toThrow(InvalidArgumentError);
    expect(() => encodeRoute({ destination: '2001:389::1', prefix: 64, device: 'eth0' })).toThrow('host bits');
    expect(() => encodeRoute({ destination: '2001:389::', prefix: 129, device: 'eth0' })).toThrow(InvalidArgumentError);
  });
});

describe('MOUNT requests for a directory of the upper disk (diskdir)', () => {
  const fields = (w: TlvWriter) => TlvReader.parse(w.toBuffer());
  const diskdir = { containerId: 'c1', path: '/data', fstype: 'diskdir' as const };

  it('sends volumes/<name> as SUBPATH, with no SOURCE or FS_OPTIONS, and the flags asked for', () => {
    const r = fields(encodeMount({ ...diskdir, subpath: 'volumes/data', readOnly: true }));
    expect([
      r.str(Tag.FSTYPE),
      r.str(Tag.SUBPATH),
      r.has(Tag.SOURCE),
      r.has(Tag.FS_OPTIONS),
      r.u32(Tag.MOUNT_FLAGS),
    ]).toEqual(['diskdir', 'volumes/data', false, false, MountFlag.RDONLY]);
    const name64 = `volumes/${'a'.repeat(64)}`;
    expect(fields(encodeMount({ ...diskdir, subpath: name64 })).str(Tag.SUBPATH, 200)).toBe(name64);
    expect(fields(encodeMount({ ...diskdir, subpath: 'volumes/a_b.c-9' })).str(Tag.SUBPATH)).toBe('volumes/a_b.c-9');
  });

  it.each([
    undefined,
    '',
    'upper',
    'volumes',
    'volumes/',
    'volumes/.',
    'volumes/..',
    'volumes/a/b',
    '../x',
    '/volumes/a',
    'volumes/a b',
    `volumes/${'a'.repeat(65)}`,
  ])('refuses the subpath %p', (subpath) => {
    expect(() => encodeMount({ ...diskdir, subpath })).toThrow(InvalidArgumentError);
  });

  it('refuses a source or options', () => {
    expect(() => encodeMount({ ...diskdir, subpath: 'volumes/a', source: 'x' })).toThrow(InvalidArgumentError);
    expect(() => encodeMount({ ...diskdir, subpath: 'volumes/a', options: 'size=1m' })).toThrow(InvalidArgumentError);
  });
});
