/**
 * The network interface device: virtio-net on virtio-mmio, backed by a host tap device.
 *
 * QEMU's jail creates the tap (host/jail --tap: it opens /dev/net/tun and TUNSETIFF creates
 * the device) and hands it to QEMU as an fd (`-netdev tap,fd=N`), so QEMU needs no
 * CAP_NET_ADMIN; with the jail off QEMU creates it itself (`-netdev tap,ifname=<tap>,
 * script=no,downscript=no`). Either way it is made rather than the daemon running `ip tuntap
 * add` before the boot: the tap is then not persistent and lives exactly as long as
 * QEMU holds its fd, so a QEMU that crashes, a VM destroyed or reclaimed after the daemon was
 * SIGKILLed leaves no tap behind and the crash-safety rules (vm-processes.ts: the processes are
 * the record) need nothing new; and a boot costs no extra process. No vhost (there is no
 * /dev/vhost-net on these hosts): QEMU moves the packets itself.
 *
 * What the guest sees: one `ethN` per NIC in device order (the kernel names them; there is no
 * udev in the guest), with the MAC chosen here, down and without an address until the host
 * configures it (Agent.configureInterface, which refuses an interface whose MAC differs). Only
 * `lo` is up at boot. A container that wants no network (Docker's `--network none`) may get a
 * pool VM with a NIC: that NIC stays down and unaddressed, so only loopback works, though
 * `ip link` in the container lists the down eth0 (docs/limitations.md).
 *
 * On the host the tap is down and on no bridge: src/net attaches it (`ip link set <tap>
 * master <bridge> up`) when the container joins a network.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { NicDevice } from './types';

/** Most NICs one VM may have (the tap name holds one digit of index). */
export const MAX_NICS = 4;

/**
 * Tap name of NIC `index` of VM `vmId` (12 hex digits): `pv<id><index>`, 15 bytes, which is
 * what an interface name may hold (IFNAMSIZ less its NUL). The id makes it unique on the host.
 */
export function tapName(vmId: string, index: number): string {
  return `pv${vmId}${index}`;
}

/** A random locally administered unicast MAC (first octet 02). */
export function randomMac(): string {
  return ['02', ...[...randomBytes(5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** The NICs of a new VM. */
export function planNics(vmId: string, count: number): NicDevice[] {
  return Array.from({ length: count }, (_, i) => ({ tap: tapName(vmId, i), mac: randomMac(), guestName: `eth${i}` }));
}

/**
 * The fd at which a jailed QEMU gets the tap of its NIC 0 (NIC i: TAP_FD_BASE + i): its jail
 * makes the taps (host/jail --tap), so QEMU needs no CAP_NET_ADMIN.
 */
export const TAP_FD_BASE = 10;

/** QEMU arguments of NIC `index`; with `tapFd`, its tap is that fd (made by QEMU's jail), else QEMU makes it. */
export function nicQemuArgs(nic: NicDevice, index: number, tapFd?: number): string[] {
  return [
    '-netdev',
    tapFd === undefined
      ? `tap,id=net${index},ifname=${nic.tap},script=no,downscript=no`
      : `tap,id=net${index},fd=${tapFd}`,
    '-device',
    `virtio-net-device,netdev=net${index},mac=${nic.mac}`,
  ];
}

/**
 * Whether QEMU started by this process can create tap devices: root (CAP_NET_ADMIN) and a
 * usable /dev/net/tun. Without them a VM with a NIC cannot boot, so the daemon's pool then
 * boots VMs without one rather than fail every boot.
 */
export function canCreateTaps(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    fs.accessSync('/dev/net/tun', fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
