/**
 * The QEMU command line of a podvisor VM and the guest kernel's command line. Pure functions,
 * so the exact arguments are unit-tested and documented in one place (docs/architecture.md,
 * "VM runtime").
 */
import type { VmDevices, VmSize } from '../types';
import {
  deviceTransports,
  devicesQemuArgs,
  hasLayersShare,
  MICROVM_VIRTIO_SLOTS,
  NINEP_MACHINE_TRANSPORTS,
} from '../devices';
import { ninePShareArgs, virtiofsdArgsFor, type FileTransport } from '../devices/share-args';
import type { VmPaths } from './runtime-dir';
import { Names } from '../agent/protocol';
import { QEMU_SANDBOX_ARGS } from './confinement/confinement';
import { agentStatusFile } from './agent-status';

/**
 * The virtio-fs tag the agent mounts at /run/podvisor/share. It, and the names of the
 * virtio-serial ports (the agent's two, and the one of 9p locks taken on the host: guest:
 * /sys/class/virtio-ports/<port>/name), are the agent protocol's (Names, kept equal to
 * guest/include/podvisor_agent.h by a test).
 */
export const SHARE_TAG = Names.SHARE_TAG;

/** What the kernel command line depends on. */
export interface KernelCmdlineOptions {
  accel: 'kvm' | 'tcg';
  /** Host TSC rate for TCG guests (see host-tsc.ts); omitted when unknown. */
  tscKhz?: number;
  /** Appended verbatim (for experiments and debugging, e.g. "loglevel=7"). */
  extra?: string[];
}

/**
 * The guest kernel's command line. Every parameter here was measured to shorten the TCG boot or
 * is needed for correctness:
 * - console=ttyS0: the console log the host keeps and shows when a boot fails;
 * - quiet: printing every boot message over the emulated UART costs ~0.3 s under TCG;
 * - panic=-1: a guest panic reboots, and -no-reboot turns that into QEMU exiting;
 * - cryptomgr.notests: skips the crypto self-tests (~0.2 s under TCG);
 * - mitigations=off, audit=0: less work per syscall and at boot; the guest only runs one pod,
 *   and host isolation is the VM's job (docs/limitations.md);
 * - lsm=capability,lockdown and lockdown=confidentiality: a locked-down kernel never creates
 *   tracefs, whose ~10,000 inodes and dentries for trace events took ~9 MiB of guest RAM and
 *   more boot time under TCG than checking the modules' signatures (which lockdown requires)
 *   costs; measured -9 MiB PSS and a boot no slower (docs/performance.md);
 * - cgroup.memory=nokmem: no kernel-memory accounting per cgroup, which saves the 4 MiB array
 *   the per-CPU allocator keeps for it (one pod per VM: the VM's size is the bound);
 * - rcupdate.rcu_expedited=1: every RCU grace period the kernel waits for (module loading,
 *   mount and namespace teardown) is expedited instead of waiting out scheduler ticks, which
 *   in a VM of a few vCPUs costs next to nothing: boot 1927 -> 1842 and 1873 -> 1771 ms
 *   (medians of 12 and 9 interleaved boots; docs/performance.md);
 * - noirqdebug: virtio-console raises an interrupt for every buffer the host consumed, and the
 *   writer has usually reclaimed it already, so a long stream is a burst of "unhandled"
 *   interrupts; after 100,000 of them the kernel disabled the virtio-serial IRQ ("irq NN:
 *   nobody cared") and the agent channels stalled for good. The check is off;
 * - dummy.numdummies=0: the kernel's dummy driver (built in for privileged containers'
 *   `ip link add type dummy`) would otherwise make a dummy0 at boot, which every container of
 *   the VM's network namespace then lists beside lo;
 * - sysctl.vm.overcommit_memory=1: the guest grants every allocation and a process that then
 *   touches more than its cgroup's `memory.max` (or the VM) holds is OOM-killed, as on a
 *   dockerd host, whose RAM is far larger than one allocation. With the kernel's heuristic
 *   (0) a VM refused any single allocation larger than its RAM at once: busybox `dd bs=1G`
 *   under `-m 128m` (a 192 MiB VM) exited 1 where runc's is OOM-killed (137, OOMKilled);
 * - TCG only: tsc_early_khz (see host-tsc.ts; the cause of TCG boots that hung) and
 *   tsc=reliable: the TSC is the host's (constant) TSC, but the clocksource watchdog compares it
 *   with jiffies, which lose ticks when the host is busy, and then switches the guest to a
 *   jiffies clock (coarse time, sleeps that overrun).
 */
export function kernelCmdline(o: KernelCmdlineOptions): string {
  const args = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    'cryptomgr.notests',
    'mitigations=off',
    'lsm=capability,lockdown',
    'lockdown=confidentiality',
    'audit=0',
    'cgroup.memory=nokmem',
    'rcupdate.rcu_expedited=1',
    'noirqdebug',
    'dummy.numdummies=0',
    'sysctl.vm.overcommit_memory=1',
  ];
  if (o.accel === 'tcg') {
    if (o.tscKhz) args.push(`tsc_early_khz=${o.tscKhz}`);
    args.push('tsc=reliable');
  }
  args.push(...(o.extra ?? []));
  return args.join(' ');
}

/** What the QEMU command line depends on. */
export interface QemuArgsOptions {
  id: string;
  size: VmSize;
  accel: 'kvm' | 'tcg';
  kernel: string;
  initrd: string;
  cmdline: string;
  paths: VmPaths;
  /** Devices beyond the fixed ones (src/vm/devices): NICs, the volume share. */
  devices?: VmDevices;
  /** TCG: allocate the code buffer as a memfd mapped twice (`split-wx=on`), which lets the host trim it (jit-trim.ts). */
  splitWx?: boolean;
  /** Extra microvm machine properties (e.g. `acpi=off` for a guest kernel without working ACPI). */
  machineOpts?: string[];
  /**
   * How the VM's files reach the guest, and where its RAM lives (default `virtiofs`):
   * - `virtiofs`: vhost-user-fs devices served by virtiofsd, RAM a shared memfd (vhost-user
   *   maps it);
   * - `9p`: virtio-9p devices served by QEMU itself, the only transport with which QEMU can
   *   save a VM (templates.ts), with a balloon only when ninePBalloon asks (below). RAM is
   *   `ram` (memory-backend-file): a template's own file, or a clone's private copy-on-write
   *   mapping of it; or `anonymous` (memory-backend-ram) for a VM restored from a checkpoint's
   *   own state, which loads all its RAM from the stream.
   */
  transport?: FileTransport;
  /**
   * With transport 9p: the RAM file, and whether it is shared (a template) or mapped
   * copy-on-write (a clone); or `anonymous`: private anonymous memory, where a page the loading
   * QEMU only reads (to find it still zero) maps the kernel's zero page and costs nothing, while
   * a page of a file mapping is allocated by that read (a restored 2 GiB VM held its whole RAM).
   */
  ram?:
    | 'anonymous'
    | {
        file: string;
        share: boolean;
        /**
         * A private mapping of a file opened read-only (`readonly=on,rom=off`, QEMU 8.2 and later):
         * a clone's jail holds its template's RAM file read-only, where a read-write open fails.
         */
        readOnlyFile?: boolean;
      };
  /** Wait for an incoming migration (a clone: QMP migrate-incoming loads the template's state). */
  incoming?: boolean;
  /** Its taps are fds its jail made (`tap,fd=`: devices/nic.ts TAP_FD_BASE), not made by QEMU (`ifname=`). */
  tapFds?: boolean;
  /**
   * With transport 9p: a free-page-reporting balloon, as a booted VM has, where the devices leave
   * a virtio transport for it (before the layers share). Only for a QEMU whose
   * clones discard into their own copies and never into the template's file (QemuProgram
   * ramShim, memory/ram-shim.ts), and the same for a template and every clone of it (their
   * device sets must match).
   */
  ninePBalloon?: boolean;
}

/** TCG's translated-code buffer, MiB (`tb-size`). */
export const TCG_TB_SIZE_MIB = 32;

/**
 * Arguments for qemu-system-x86_64 (machine facts: docs/architecture.md and
 * ../shared/docs/machine-facts.md):
 * - microvm: no PCI, no firmware to run; virtio devices on virtio-mmio, found through ACPI;
 * - guest RAM from a shared memfd, which vhost-user (virtiofsd) requires;
 * - virtio-mmio in modern mode (virtiofsd refuses legacy devices);
 * - no default devices, no config files, no display, -no-reboot so a guest reboot or panic ends
 *   the process;
 * - the serial console is appended to console.log (the daemon trims it: QemuVm; people read it,
 *   the host acts on none of its lines), QMP listens on qmp.sock;
 * - three virtio-serial ports whose host ends are unix sockets QEMU listens on without waiting
 *   (server=on,wait=off), so the daemon can connect, go away and reconnect: the agent's two,
 *   and the one of 9p locks taken on the host (a clone's lock holder connects to it); and the
 *   agent's status port, whose host end is a file (agent-status.ts);
 * - one vhost-user-fs device served by this VM's own virtiofsd;
 * - a virtio-balloon device (booted VMs, and 9p VMs whose QEMU has the RAM shim: below): after a boot the host
 *   inflates it a little and deflates it again (post-boot-reclaim.ts), which hands back the
 *   guest pages the boot touched and freed, and with free-page-reporting the guest reports
 *   freed 2 MiB blocks to QEMU, which discards them (memory a finished container used goes
 *   back to the host);
 * - then the devices of the VM's configuration, each rendered by its module (src/vm/devices);
 * - QEMU's seccomp sandbox (confinement.ts: no fork/exec, no setuid, no scheduler changes).
 */
export function qemuArgs(o: QemuArgsOptions): string[] {
  const mem = `${o.size.memoryMiB}M`;
  const p = o.paths;
  // TCG: a 32 MiB translation cache instead of QEMU's 1 GiB default. A boot translates ~36 MiB
  // of guest code, all of which stays resident with the default. 16 MiB saved more PSS but is
  // smaller than what the guest needs again after boot: once full, QEMU flushes the whole cache,
  // and a container start plus `true` refilled and flushed it again, so a rehearsed pool VM
  // (src/vm/rehearsal.ts) lost its warmth. With 32 MiB the boot flushes once and the rehearsal
  // (~11 MiB) plus a user's container (~5 MiB) fit: warm VM -> `true` 158 -> 57 ms median for
  // +18 MiB of QEMU anon PSS (docs/performance.md).
  // split-wx=on (one vCPU; QemuHypervisor decides): the buffer is a memfd mapped twice instead
  // of anonymous memory, so the idle trim can punch the part above the live code out of it
  // (jit-trim.ts): -14.7 MiB per idle pool VM, boot and warm start unchanged.
  const accel =
    o.accel === 'kvm'
      ? ['-accel', 'kvm', '-cpu', 'host']
      : ['-accel', `tcg,tb-size=${TCG_TB_SIZE_MIB}${o.splitWx ? ',split-wx=on' : ''}`];
  const ninep = o.transport === '9p';
  if (ninep && !o.ram) throw new Error('a 9p VM needs its RAM file');
  const memory = !ninep
    ? `memory-backend-memfd,id=mem,size=${mem},share=on`
    : o.ram === 'anonymous'
      ? `memory-backend-ram,id=mem,size=${mem}`
      : `memory-backend-file,id=mem,size=${mem},mem-path=${o.ram!.file},share=${o.ram!.share ? 'on' : 'off'}${o.ram!.readOnlyFile && !o.ram!.share ? ',readonly=on,rom=off' : ''}`;
  // A clone maps the template's RAM file privately. QEMU discards a reported free page of a
  // file-backed RAM block by punching a hole in the file, the template's, which every clone maps;
  // only a clone's QEMU with the RAM shim (memory/ram-shim.ts) punches nothing and drops its own
  // copies alone. So a 9p VM has a balloon only when asked (ninePBalloon), and the host never
  // inflates one there: it serves the guest's free page reporting alone. It takes a transport
  // only when the asked devices leave one (after the rootfs share and virtio-serial): a VM of 4
  // NICs, the volume share and the upper disk has none. The image-layers share comes first: a VM
  // that has room for only one of the two keeps the layers share (reading the image over the
  // uncached rootfs share costs every container; the balloon only a container that frees much).
  // A template and its clones have the same devices, so they decide alike.
  const layersFirst =
    o.devices && hasLayersShare(o.devices, o.transport ?? 'virtiofs', NINEP_MACHINE_TRANSPORTS) ? 1 : 0;
  const ninePRoom =
    NINEP_MACHINE_TRANSPORTS + (o.devices ? deviceTransports(o.devices) : 0) + layersFirst < MICROVM_VIRTIO_SLOTS;
  const balloon =
    !ninep || (o.ninePBalloon && ninePRoom) ? ['-device', 'virtio-balloon-device,free-page-reporting=on'] : [];
  const rootShare = ninep
    ? ninePShareArgs('fsroot', p.shareDir, SHARE_TAG)
    : [
        '-chardev',
        `socket,id=vfs,path=${p.virtiofsdSock}`,
        '-device',
        `vhost-user-fs-device,chardev=vfs,tag=${SHARE_TAG}`,
      ];
  return [
    '-name',
    `podvisor-${o.id}`,
    '-M',
    ['microvm', 'memory-backend=mem', ...(o.machineOpts ?? [])].join(','),
    ...accel,
    '-m',
    mem,
    '-smp',
    String(o.size.cpus),
    '-object',
    memory,
    '-global',
    'virtio-mmio.force-legacy=false',
    '-nodefaults',
    '-no-user-config',
    '-nographic',
    '-no-reboot',
    ...QEMU_SANDBOX_ARGS,
    '-kernel',
    o.kernel,
    '-initrd',
    o.initrd,
    '-append',
    o.cmdline,
    '-chardev',
    `file,id=console,path=${p.consoleLog},append=on`,
    '-serial',
    'chardev:console',
    '-qmp',
    `unix:${p.qmpSock},server=on,wait=off`,
    ...rootShare,
    '-device',
    'virtio-serial-device',
    '-chardev',
    `socket,id=ctl,path=${p.ctlSock},server=on,wait=off`,
    '-device',
    `virtserialport,chardev=ctl,name=${Names.PORT_CTL_NAME}`,
    '-chardev',
    `socket,id=io,path=${p.ioSock},server=on,wait=off`,
    '-device',
    `virtserialport,chardev=io,name=${Names.PORT_IO_NAME}`,
    '-chardev',
    `socket,id=locks,path=${p.locksSock},server=on,wait=off`,
    '-device',
    `virtserialport,chardev=locks,name=${Names.PORT_LOCKS_NAME}`,
    '-chardev',
    `file,id=status,path=${agentStatusFile(p)}`,
    '-device',
    `virtserialport,chardev=status,name=${Names.PORT_STATUS_NAME}`,
    ...balloon,
    // Taken before the devices: the rootfs share, virtio-serial and the balloon.
    ...(o.devices ? devicesQemuArgs(o.devices, p, o.transport ?? 'virtiofs', 2 + balloon.length / 2, o.tapFds) : []),
    ...(o.incoming ? ['-incoming', 'defer'] : []),
  ];
}

/**
 * Arguments for virtiofsd serving `paths.shareDir`. sandbox=chroot (not the default mount
 * namespace) so that mounts the host makes under shareDir after the VM booted (container
 * rootfs overlays, bind mounts) are seen by virtiofsd and so by the guest; announce_submounts
 * makes each such mount a separate filesystem in the guest (distinct st_dev, no inode clashes).
 *
 * cache=always: the guest keeps file data, entries and attributes (virtiofsd's long timeouts,
 * FOPEN_KEEP_CACHE). With cache=auto every open dropped the file's pages, so every exec of a
 * binary re-read it over virtio-fs: `true` exec'd into a running container 53 -> 16 ms median
 * under TCG (docs/performance.md). Safe because nothing on the host writes into a running
 * container's rootfs: the host only adds new mounts under fresh names, and a container that
 * is started again gets a new VM. Host directories shared later for bind mounts and volumes,
 * which the host may change under a running container, need their own share with cache=auto.
 */
export function virtiofsdArgs(paths: VmPaths): string[] {
  return virtiofsdArgsFor(paths.virtiofsdSock, paths.shareDir, 'always');
}
