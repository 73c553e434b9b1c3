/*
 * shares.c - mounting a share of the host by its tag, over whichever transport the VM has for
 * it: virtio-fs (a cold-booted VM: vhost-user-fs devices served by virtiofsd) or virtio-9p (a
 * VM cloned from a template: QEMU can save and restore a 9p device that is not mounted, while
 * it refuses to save any VM with a vhost-user-fs device).
 *
 * A 9p device announces its tag in /sys/bus/virtio/drivers/9pnet_virtio/<dev>/mount_tag; a tag
 * found there is mounted as 9p, any other as virtio-fs. The 9p options, for the rootfs share
 * and the volume share alike:
 *   trans=virtio, version=9p2000.L  the Linux dialect (owners, modes, xattrs, locks);
 *   access=client                  permission checks in the guest, from the file's owner and
 *                                  mode, for whatever uid a container runs as (QEMU serves
 *                                  with security_model=passthrough, as the host's root);
 *   msize=512 KiB                  large reads and writes in one round trip (QEMU's limit is
 *                                  higher; the kernel's default, 128 KiB, cost 4x the trips);
 *   cache=mmap                     only pages a process maps (binaries, libraries, mmap'd
 *                                  files) are cached; reads, writes and lookups go to the
 *                                  host. cache=loose would cache more, but it writes back
 *                                  lazily (the host, which reads a container's files for
 *                                  docker cp, diff and commit, would see stale data) and
 *                                  keeps negative dentries for good (a directory the host
 *                                  creates after a failed lookup never appears).
 *   directio                       reads and writes go to the host, as cache=mmap alone
 *                                  does on the guest kernel we build (Linux 6.1, which ignores
 *                                  this option). On 6.12, tried (9p's cache modes reworked, its
 *                                  I/O on netfs), cache=mmap also caches reads and writes back
 *                                  lazily: a host's write to a bind-mounted file was not seen
 *                                  in the guest (test/compat/mounts.test.ts). With directio
 *                                  only mappings use the page cache there too. A kernel that
 *                                  refuses the option is mounted without it.
 *
 * The layers share (PV_LAYERS_TAG, only in a 9p VM with an upper disk) is a second, read-only
 * export of the rootfs share's directory (QEMU serves it readonly=on). A block-mode container
 * takes its image's layers from it: the host mounts them read-only and never changes them
 * while the container exists, so the container mounts it (in its own namespace, for its own
 * lifetime: container.c, image_tree) read-only with cache=loose and keeps their dentries,
 * attributes and pages (no negative dentry can go stale: a path that was not there is never
 * added). Not for longer: QEMU's inode numbers (multidevs=remap) are not stable across the
 * host's unmount and mount of another container's layers, and a cache kept across them
 * kept an earlier pod's entries: the next pod on the VM found no /etc/hostname.
 * src/vm/devices/layers-share.ts says what it saves.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "agent.h"

#define NINEP_SYSFS "/sys/bus/virtio/drivers/9pnet_virtio"

/* Tags found to be 9p (the rootfs, volume and layers shares): microvm has no hot-plug, so a
 * device found once stays (a clone asks several times while it is activated, and every sysfs
 * walk is guest code run under TCG). */
static char known_9p[3][64];

int share_is_9p(const char *tag) {
  for (size_t i = 0; i < sizeof known_9p / sizeof known_9p[0]; i++)
    if (known_9p[i][0] && strcmp(known_9p[i], tag) == 0) return 1;
  DIR *d = opendir(NINEP_SYSFS);
  if (!d) return 0;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d))) {
    if (strncmp(e->d_name, "virtio", 6) != 0) continue;
    char path[400], got[64] = {0};
    snprintf(path, sizeof path, NINEP_SYSFS "/%s/mount_tag", e->d_name);
    FILE *f = fopen(path, "re");
    if (!f) continue;
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = 0;
    got[strcspn(got, "\n")] = 0; /* the kernel's attribute has no newline; be lenient */
    found = strcmp(got, tag) == 0;
  }
  closedir(d);
  if (found && strlen(tag) < sizeof known_9p[0]) {
    for (size_t i = 0; i < sizeof known_9p / sizeof known_9p[0]; i++) {
      if (known_9p[i][0]) continue;
      memcpy(known_9p[i], tag, strlen(tag) + 1);
      break;
    }
  }
  return found;
}

/* What every 9p mount here takes (the module comment); each share adds its cache mode. */
#define NINEP_BASE "trans=virtio,version=9p2000.L,access=client,msize=524288"
#define NINEP_OPTIONS NINEP_BASE ",cache=mmap"

int share_mount(const char *tag, const char *path, unsigned long flags) {
  if (!share_is_9p(tag)) return mount(tag, path, "virtiofs", flags, NULL);
  if (mount(tag, path, "9p", flags, NINEP_OPTIONS ",directio") == 0) return 0;
  if (errno != EINVAL) return -1;
  return mount(tag, path, "9p", flags, NINEP_OPTIONS);
}

#define LAYERS_OPTIONS NINEP_BASE ",cache=loose"

int layers_share_mount(const char *path) {
  return mount(PV_LAYERS_TAG, path, "9p", MS_RDONLY | MS_NODEV, LAYERS_OPTIONS);
}
