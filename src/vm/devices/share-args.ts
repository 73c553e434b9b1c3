/**
 * The QEMU and virtiofsd arguments of a VM's file shares, used by the rootfs share's command
 * line (../qemu/cmdline.ts) and by the share devices (./volume-share.ts, ./layers-share.ts).
 * Apart from both so that neither imports the other (no file-level import circle).
 */

/** How a VM's files reach the guest: virtio-fs (virtiofsd) or virtio-9p (QEMU). */
export type FileTransport = 'virtiofs' | '9p';

/**
 * QEMU's arguments for a virtio-9p share of `dir` under `tag` (fsdev `id`); `readonly`: QEMU
 * refuses every change the guest asks for through it.
 */
export function ninePShareArgs(id: string, dir: string, tag: string, opts: { readonly?: boolean } = {}): string[] {
  // passthrough: files keep the owners and modes the guest gives them (QEMU runs as root);
  // multidevs=remap: the share spans several host file systems (each container's overlay
  // rootfs, bind sources), and remapping keeps their inode numbers from clashing in the guest.
  return [
    '-fsdev',
    `local,id=${id},path=${dir},security_model=passthrough,multidevs=remap${opts.readonly ? ',readonly=on' : ''}`,
    '-device',
    `virtio-9p-device,fsdev=${id},mount_tag=${tag}`,
  ];
}

/**
 * virtiofsd serving `source` on `socket` with a chroot sandbox, submounts announced, and this
 * cache mode. Its own seccomp filter is always on; modcaps drops CAP_MKNOD and CAP_SETFCAP
 * from the capabilities it keeps for serving the guest, so guest root cannot make a device
 * node on the host (mknod fails with EPERM) nor give a host file capabilities
 * (../qemu/confinement/confinement.ts says the same of QEMU's 9p server).
 */
export function virtiofsdArgsFor(socket: string, source: string, cache: 'always' | 'auto'): string[] {
  return [
    `--socket-path=${socket}`,
    '-o',
    `source=${source}`,
    '-o',
    'sandbox=chroot',
    '-o',
    'modcaps=-mknod:-setfcap',
    '-o',
    'announce_submounts',
    '-o',
    `cache=${cache}`,
  ];
}
