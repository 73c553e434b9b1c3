/**
 * The VM device model (src/vm/devices): what each device adds to QEMU's command line, tap
 * names and MACs, which VMs fit which requests, and the devices part of vm.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UnavailableError } from '../../../src/errors';
import { decodeInterfaces } from '../../../src/vm/agent/device-ops';
import { Tag } from '../../../src/vm/agent/protocol';
import { TlvReader, TlvWriter } from '../../../src/vm/agent/tlv';
import { devicesFit, normalizeRequest, planDevices } from '../../../src/vm/devices';
import { MAX_NICS, tapName } from '../../../src/vm/devices/nic';
import { volumeVirtiofsdArgs } from '../../../src/vm/devices/volume-share';
import { qemuArgs, virtiofsdArgs } from '../../../src/vm/qemu/cmdline';
import { readVmRecord, vmPaths, writeVmRecord, type VmRecord } from '../../../src/vm/qemu/runtime-dir';

const ID = 'abcdef012345';
const paths = vmPaths('/run/podvisor', ID);
const base = { id: ID, size: { memoryMiB: 256, cpus: 1 }, accel: 'tcg' as const, kernel: '/k', initrd: '/i', cmdline: 'c', paths };

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
    expect(args).toContain(`socket,id=vfsvol,path=/run/podvisor/vms/${ID}/volumes.sock`);
    expect(volumeVirtiofsdArgs(paths)).toEqual([
      `--socket-path=/run/podvisor/vms/${ID}/volumes.sock`, '-o', `source=/run/podvisor/vms/${ID}/volumes`,
      '-o', 'sandbox=chroot', '-o', 'announce_submounts', '-o', 'cache=auto',
    ]);
    expect(virtiofsdArgs(paths)).toContain('cache=always');
  });

  it('refuses more NICs than a tap name can number', () => {
    expect(() => normalizeRequest({ nics: MAX_NICS + 1 })).toThrow(/network interfaces/);
    expect(() => normalizeRequest({ nics: -1 })).toThrow(/network interfaces/);
    expect(tapName(ID, MAX_NICS - 1)).toHaveLength(15);
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
});

describe('vm.json devices', () => {
  it('keeps the devices and the volume virtiofsd pid, and refuses a record whose devices were tampered with', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pv-devices-'));
    const p = vmPaths(dir, ID);
    fs.mkdirSync(p.dir, { recursive: true });
    const devices = planDevices(ID, { nics: 1, volumes: true }, p);
    const rec: VmRecord = {
      format: 1, id: ID, size: { memoryMiB: 256, cpus: 1 }, accel: 'tcg', qemuPid: 10, virtiofsdPid: 11, volumesVirtiofsdPid: 12,
      devices, createdAt: new Date().toISOString(), kernel: '/k', initrd: '/i',
    };
    writeVmRecord(p, rec);
    expect(readVmRecord(p)).toEqual(rec);
    writeVmRecord(p, { ...rec, devices: { nics: [{ ...devices.nics[0], tap: 'eth0; rm -rf /' }] } });
    expect(readVmRecord(p)).toBeUndefined();
    const { devices: _d, volumesVirtiofsdPid: _v, ...old } = rec;
    writeVmRecord(p, old);
    expect(readVmRecord(p)).toEqual(old); // written before the device model: no devices
    fs.rmSync(dir, { recursive: true });
  });
});

describe('LIST_INTERFACES answers from the guest', () => {
  const record = (f: (w: TlvWriter) => TlvWriter) => TlvReader.parse(new TlvWriter().nested(Tag.INTERFACE, f(new TlvWriter())).toBuffer());
  const good = (w: TlvWriter) => w.str(Tag.IFNAME, 'eth0').bytes(Tag.MAC, Buffer.from([2, 0, 0, 0, 0, 1])).u32(Tag.MTU, 1500).u32(Tag.LINK_UP, 1);

  it('decodes a well-formed record', () => {
    expect(decodeInterfaces(record((w) => good(w).bytes(Tag.ADDRESS, Buffer.from([10, 0, 0, 2])).u32(Tag.PREFIX, 24)))).toEqual([
      { name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1500, up: true, address: '10.0.0.2', prefix: 24 },
    ]);
  });

  it.each([
    ['a name with a slash', (w: TlvWriter) => w.str(Tag.IFNAME, 'eth/0').bytes(Tag.MAC, Buffer.alloc(6)).u32(Tag.MTU, 1).u32(Tag.LINK_UP, 0)],
    ['a 7-byte MAC', (w: TlvWriter) => w.str(Tag.IFNAME, 'eth0').bytes(Tag.MAC, Buffer.alloc(7)).u32(Tag.MTU, 1).u32(Tag.LINK_UP, 0)],
    ['LINK_UP 5', (w: TlvWriter) => w.str(Tag.IFNAME, 'eth0').bytes(Tag.MAC, Buffer.alloc(6)).u32(Tag.MTU, 1).u32(Tag.LINK_UP, 5)],
    ['a 16-byte address', (w: TlvWriter) => good(w).bytes(Tag.ADDRESS, Buffer.alloc(16)).u32(Tag.PREFIX, 24)],
    ['a prefix of 99', (w: TlvWriter) => good(w).bytes(Tag.ADDRESS, Buffer.alloc(4)).u32(Tag.PREFIX, 99)],
    ['no MTU', (w: TlvWriter) => w.str(Tag.IFNAME, 'eth0').bytes(Tag.MAC, Buffer.alloc(6)).u32(Tag.LINK_UP, 0)],
  ])('refuses %s as a protocol error', (_what, f) => {
    expect(() => decodeInterfaces(record(f))).toThrow(UnavailableError);
  });
});
