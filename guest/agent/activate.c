/*
 * activate.c - a VM restored from a saved state: ACTIVATE (what a clone of a template needs
 * before it serves a pod), RELEASE_SHARE (before a checkpoint's save) and RENAME_CONTAINER (a
 * checkpoint's container started as another one). ACTIVATE:
 *
 * Every clone of a template resumes with the template's memory: its wall clock stopped at the
 * moment the template was saved, the same kernel random state as every other clone, and its
 * rootfs share not mounted (QEMU refuses to save a VM whose 9p share is mounted). The host
 * sends, in one request:
 *   TIME_NS      the host's CLOCK_REALTIME, set as the guest's (clock_settime);
 *   ENTROPY      16..512 random bytes from the host, mixed into the kernel's pool with full
 *                credit (RNDADDENTROPY), then the CRNG is reseeded (RNDRESEEDCRNG), so no two
 *                clones draw the same random numbers from then on;
 *   MOUNT_SHARE  1: mount the rootfs share on PV_SHARE_MOUNT (nothing when it is mounted).
 * Each field is optional; they are applied in that order. Only as PID 1 of a VM (host test
 * mode refuses: it would set the host's clock).
 *
 * Without MOUNT_SHARE (a VM restored from a checkpoint: its container reads its image and its
 * files from its disks, not from the share) the share waits until a create needs it
 * (container.c, share_when_needed): its mount and the spare made after it are guest code run under TCG,
 * which a restore would otherwise wait for and most restored VMs never use.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "reply.h"

#define MIN_ENTROPY 16
#define MAX_ENTROPY 512

static int share_mounted(void) {
  struct stat share, parent;
  return stat(PV_SHARE_MOUNT, &share) == 0 && stat("/run/podvisor", &parent) == 0 && share.st_dev != parent.st_dev;
}

static int add_entropy(const uint8_t *bytes, uint32_t len, struct agent_error *e) {
  struct rand_pool_info *info = malloc(sizeof *info + len);
  if (!info) {
    set_error(e, PV_ERR_UNAVAILABLE, ENOMEM, "out of memory");
    return -1;
  }
  info->entropy_count = (int)(len * 8);
  info->buf_size = (int)len;
  memcpy(info->buf, bytes, len);
  int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
  int rc = fd < 0 ? -1 : ioctl(fd, RNDADDENTROPY, info);
  if (rc == 0) rc = ioctl(fd, RNDRESEEDCRNG);
  int err = errno;
  explicit_bzero(info->buf, len);
  free(info);
  if (fd >= 0) close(fd);
  if (rc < 0) set_error(e, PV_ERR_UNAVAILABLE, err, "seeding the kernel's random pool: %s", strerror(err));
  return rc;
}

void op_activate(const struct tlv_msg *m, uint32_t id) {
  if (!g_pid1) return fail(id, PV_ERR_INVALID, EPERM, "ACTIVATE is for the agent as PID 1 of a VM");
  uint64_t time_ns = 0;
  uint32_t mount_share = 0;
  struct tlv_field entropy;
  int has_time = tlv_count(m, PV_TAG_TIME_NS), has_entropy = tlv_find(m, PV_TAG_ENTROPY, &entropy);
  int has_mount = tlv_count(m, PV_TAG_MOUNT_SHARE);
  if (has_time > 1 || (has_time && tlv_get_u64(m, PV_TAG_TIME_NS, &time_ns) < 0) || tlv_count(m, PV_TAG_ENTROPY) > 1 ||
      (has_entropy && (entropy.len < MIN_ENTROPY || entropy.len > MAX_ENTROPY)) || has_mount > 1 ||
      (has_mount && (tlv_get_u32(m, PV_TAG_MOUNT_SHARE, &mount_share) < 0 || mount_share > 1)))
    return fail(id, PV_ERR_INVALID, EINVAL, "malformed ACTIVATE fields");
  struct agent_error e;
  if (has_time) {
    struct timespec ts = {.tv_sec = (time_t)(time_ns / 1000000000ULL), .tv_nsec = (long)(time_ns % 1000000000ULL)};
    if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
      set_error(&e, PV_ERR_UNAVAILABLE, errno, "setting the clock: %s", strerror(errno));
      return reply_error(id, &e);
    }
  }
  if (has_entropy && add_entropy(entropy.val, entropy.len, &e) < 0) return reply_error(id, &e);
  if (mount_share && !share_mounted() && container_mount_share(&e) < 0) return reply_error(id, &e);
  reply_ack_empty(id);
}

/*
 * RELEASE_SHARE: the guest lets go of the rootfs share before its VM is saved (QEMU refuses
 * to save a VM while a 9p export is attached: its open fids are not in the saved state). The
 * spare namespace holds a copy of the share's mount, so it goes first; then the unmount, not
 * lazy: EBUSY says that something still uses the share, and the host refuses the save. The
 * share then waits for a mount (pid1_share_released): ACTIVATE's MOUNT_SHARE after the save,
 * or, in a VM restored from it, the first create that needs it.
 */
void op_release_share(uint32_t id) {
  if (!g_pid1) return fail(id, PV_ERR_INVALID, EPERM, "RELEASE_SHARE is for the agent as PID 1 of a VM");
  if (!share_mounted()) return reply_ack_empty(id);
  container_drop_spare();
  if (umount2(PV_SHARE_MOUNT, 0) < 0) {
    int err = errno;
    struct agent_error e;
    set_error(&e, err == EBUSY ? PV_ERR_CONFLICT : PV_ERR_UNAVAILABLE, err, "unmounting the share %s: %s",
              PV_SHARE_TAG, strerror(err));
    container_prepare_spare(0);
    return reply_error(id, &e);
  }
  pid1_share_released();
  logf_("share %s unmounted from %s (the VM is to be saved)", PV_SHARE_TAG, PV_SHARE_MOUNT);
  reply_ack_empty(id);
}

/* Set container `c`'s hostname (its UTS namespace's) to `host` from a child; 0 or an errno. */
static int set_hostname_in(const struct container *c, const char *host) {
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    if (setns(c->uts_fd, CLONE_NEWUTS) < 0) _exit(errno);
    _exit(sethostname(host, strlen(host)) < 0 ? errno : 0);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return errno;
  return WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
}

/*
 * RENAME_CONTAINER: a VM started from a checkpoint as another container (a fork) knows the
 * container by the id it was saved with; the host's commands name the fork's own id from now
 * on. Its processes and any container joining its PID namespace follow; its cgroup keeps the
 * name it was made with (cgroup v2 directories cannot be renamed). With a hostname (a container
 * started from a checkpoint image: its own), the container's UTS namespace gets it.
 */
void op_rename_container(const struct tlv_msg *m, uint32_t id) {
  char old_id[PV_MAX_ID + 1], new_id[PV_MAX_ID + 1], host[65];
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", old_id, PV_MAX_ID) < 0) return;
  if (need_str(m, id, PV_TAG_NEW_ID, "new id", new_id, PV_MAX_ID) < 0) return;
  int has_host = tlv_count(m, PV_TAG_HOSTNAME) > 0;
  if (has_host && need_str(m, id, PV_TAG_HOSTNAME, "hostname", host, 64) < 0) return;
  if (!valid_id(new_id)) return fail(id, PV_ERR_INVALID, EINVAL, "bad new container id");
  struct container *c = container_find(old_id);
  if (!c) return fail(id, PV_ERR_NOT_FOUND, ENOENT, "no such container");
  if (strcmp(old_id, new_id) == 0) return reply_ack_empty(id);
  if (container_find(new_id)) return fail(id, PV_ERR_CONFLICT, EEXIST, "container id in use");
  if (has_host && c->uts_fd >= 0) {
    int err = set_hostname_in(c, host);
    if (err) return fail(id, PV_ERR_UNAVAILABLE, err, "setting the container's hostname");
  }
  snprintf(c->id, sizeof c->id, "%s", new_id);
  for (int i = 0; i < PV_MAX_PROCESSES; i++)
    if (g_procs[i].used && strcmp(g_procs[i].container_id, old_id) == 0)
      snprintf(g_procs[i].container_id, sizeof g_procs[i].container_id, "%s", new_id);
  for (int i = 0; i < PV_MAX_CONTAINERS; i++)
    if (g_containers[i].used && strcmp(g_containers[i].pid_peer, old_id) == 0)
      snprintf(g_containers[i].pid_peer, sizeof g_containers[i].pid_peer, "%s", new_id);
  logf_("container %s is %s from now on", old_id, new_id);
  reply_ack_empty(id);
}
