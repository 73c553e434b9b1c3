/*
 * container.c - a container is a mount namespace whose / is the container's rootfs (taken
 * from the share mount). The namespace is made by a helper child, the "spare", which the
 * agent forks ahead of time, while it is idle (at start and after a container is released),
 * so that most of the work is done before a container is asked for:
 *
 *   prepare (ahead)  unshare(NEWNS | NEWUTS); make / private; on a small tmpfs at the stage
 *                    directory: /sys (sysfs, ro), /dev (tmpfs + nodes), /dev/pts (new devpts
 *                    instance), /dev/shm, /dev/mqueue; report "prepared"; wait for a request.
 *   enter (asked)    bind the rootfs onto itself; move the staged /sys and /dev into it
 *                    (MS_MOVE: no new mounts); hostname; pivot_root; report "ok".
 *   hold             stay asleep until the agent closes the request pipe (the container is
 *                    released), then exit.
 *
 * The agent opens /proc/<spare>/ns/mnt (+uts) and /proc/<spare>/root; the container's
 * processes join through those fds. With no spare ready (a second container right after the
 * first), CREATE_CONTAINER forks one and waits for it: the same steps, just not ahead. The
 * container's PID namespace is created by its first process (process.c), which also mounts
 * /proc. Destroying SIGKILLs that init (the kernel then kills the whole PID namespace), closes
 * the fds and lets the spare go. The pod's pause (BIND_POD_PAUSE) has no rootfs: the spare
 * pivots into its own stage, where /sys and /dev already are, and binds the agent's binary at
 * PV_POD_PAUSE_PATH (pause.c runs it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

struct container g_containers[PV_MAX_CONTAINERS];
const char *g_share_dir = PV_SHARE_MOUNT;
int g_layers_share = 0;

int valid_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > PV_MAX_ID) return 0;
  if (s[0] == '.') return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
          c == '-'))
      return 0;
  }
  return 1;
}

/* A share-relative path: not absolute, no empty, "." or ".." component. */
static int valid_relative(const char *p) {
  if (!*p || *p == '/') return 0;
  const char *s = p;
  while (*s) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    if (!e) break;
    s = e + 1;
  }
  return 1;
}

struct container *container_find(const char *id) {
  for (int i = 0; i < PV_MAX_CONTAINERS; i++)
    if (g_containers[i].used && strcmp(g_containers[i].id, id) == 0) return &g_containers[i];
  return NULL;
}

/* ---- the spare: a mount namespace prepared ahead ------------------------------------ */

/* Where a spare stages /sys and /dev before it knows the rootfs (a mount point in its own
 * private namespace only). */
const char *g_stage_dir = PV_STAGE_DIR;

struct helper_result {
  int err;
  char msg[200];
};

/* What a spare is asked: to become a container (the last request), or first to mount a disk. */
enum spare_kind { SPARE_ENTER = 0, SPARE_READY_DISK = 1 };

struct spare_request {
  int kind; /* enum spare_kind */
  char root[PV_MAX_PATH + 256];
  char hostname[65];
  int has_hostname;
  char disk[16]; /* "": root is the rootfs; else root is the lower of an overlay on this disk */
  char image[24]; /* "": none; else the serial of the read-only device holding the overlay's lower layer */
  int bind; /* enum agent_bind: the agent's binary at PV_DOCKER_INIT_PATH, or the pod's pause */
};

/* The spare waiting for a request, if any (pid 0: none). */
static struct {
  pid_t pid;
  int req_fd; /* agent -> spare: the request, then EOF when the container goes */
  int res_fd; /* spare -> agent: "prepared", then the result of the request */
  int prepared; /* its "prepared" was read already (container_prepare_spare with wait) */
  char ready_disk[16]; /* the device it holds mounted at disk/ ahead of a create ("": none) */
} g_spare = {0, -1, -1, 0, ""};

static void wait_disk_unclaimed(const char *id, const char *disk);

static void helper_fail(int fd, const char *what) {
  struct helper_result r = {.err = errno ? errno : EIO};
  snprintf(r.msg, sizeof r.msg, "%s: %s", what, strerror(r.err));
  ssize_t w = write(fd, &r, sizeof r);
  (void)w;
  _exit(1);
}

static void helper_ok(int fd) {
  struct helper_result ok = {0};
  if (write(fd, &ok, sizeof ok) != sizeof ok) _exit(1);
}

static int mkdir_if_missing(const char *p, mode_t mode) {
  if (mkdir(p, mode) == 0 || errno == EEXIST) return 0;
  return -1;
}

/* Whole-struct read or write on a blocking pipe (EINTR retried); bytes moved. */
static ssize_t read_full(int fd, void *p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static ssize_t write_full(int fd, const void *p, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(fd, (const char *)p + put, n - put);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    put += (size_t)w;
  }
  return (ssize_t)put;
}

/* With cwd at the stage: /sys and /dev with its nodes, devpts instance and shm. */
static void stage_fs(int fd) {
  static const struct {
    const char *name;
    unsigned maj, min;
  } nodes[] = {{"dev/null", 1, 3}, {"dev/zero", 1, 5}, {"dev/full", 1, 7},
               {"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0}};
  static const struct {
    const char *target, *path;
  } links[] = {{"/proc/self/fd", "dev/fd"},     {"/proc/self/fd/0", "dev/stdin"}, {"/proc/self/fd/1", "dev/stdout"},
               {"/proc/self/fd/2", "dev/stderr"}, {"pts/ptmx", "dev/ptmx"}};

  if (mkdir("sys", 0555) < 0) helper_fail(fd, "mkdir /sys");
  if (mkdir("dev", 0755) < 0) helper_fail(fd, "mkdir /dev");
  if (mount("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    helper_fail(fd, "mount /sys");
  if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
    helper_fail(fd, "mount /dev");
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    if (mknod(nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0) helper_fail(fd, "mknod");
    if (chmod(nodes[i].name, 0666) < 0) helper_fail(fd, "chmod");
  }
  if (mkdir("dev/pts", 0755) < 0) helper_fail(fd, "mkdir /dev/pts");
  if (mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
    helper_fail(fd, "mount /dev/pts");
  if (mkdir("dev/shm", 01777) < 0) helper_fail(fd, "mkdir /dev/shm");
  if (mount("shm", "dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
    helper_fail(fd, "mount /dev/shm");
  /* POSIX message queues, as Docker mounts them: the VM's IPC namespace is the container's
   * (a kernel without them, ENODEV, gets none). */
  if (mkdir("dev/mqueue", 01777) < 0) helper_fail(fd, "mkdir /dev/mqueue");
  if (mount("mqueue", "dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 && errno != ENODEV)
    helper_fail(fd, "mount /dev/mqueue");
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlink(links[i].target, links[i].path) < 0) helper_fail(fd, "symlink in /dev");
}

/*
 * The image tree at `root` (under the rootfs share), as this container reads it: through the
 * VM's layers share when it has one (shares.c), mounted at layers/ under the stage (cwd) for
 * this container alone, so what the guest caches of it goes with the container's namespace
 * (a later pod on the same VM gets a fresh mount: QEMU's 9p inode numbers are not stable
 * across the host's remounts, and a cache kept across them kept the old pod's entries).
 * Without it, or when its mount fails (the channel still held by an earlier container's
 * namespace: EBUSY), the tree under the rootfs share itself.
 */
static const char *image_tree(const char *root, char *buf, size_t len) {
  size_t n = strlen(g_share_dir);
  if (!g_layers_share || strncmp(root, g_share_dir, n) != 0 || root[n] != '/') return root;
  if (mkdir("layers", 0755) < 0 || layers_share_mount("layers") < 0) return root;
  if (snprintf(buf, len, "%s/layers/%s", g_stage_dir, root + n + 1) >= (int)len) return root;
  return buf;
}

/*
 * With cwd at the stage: mount the ext4 filesystem of block device `disk` at disk/ (after
 * BLKFLSBUF: the guest may have read the device before the host put the container's file
 * behind it), make its upper/ and work/ directories, and mount at root/ the overlay of the
 * image tree and those; then chdir into root/. The image tree is the image disk's filesystem
 * when the host gave one (`--storage-opt image=disk`: the image's read-only disk, mounted
 * ro,noload at image/, so that no 9p mount is left to keep its VM from being saved), else the
 * disk's own lower/ when it has one (such a container's disk as an earlier podvisor made it,
 * with a copy of its image), else `root` or the layers share's view of it (image_tree). The disk's and the layers share's mounts leave with the stage when the old root
 * is detached: the overlay keeps them alive, and they are unmounted when the container's
 * namespace goes.
 */
#define SPARE_DISK_FD 5
/* In a spare: the device whose filesystem it mounted at disk/ ahead of its create ("": none). */
static char g_mounted_disk[16];

/* With cwd at the stage: block device `disk`'s ext4 mounted at disk/, with upper/ and work/. */
static void mount_upper_disk(int fd, const char *disk) {
  char dev[32];
  snprintf(dev, sizeof dev, "/dev/%s", disk);
  /* Exclusive: a filesystem still on the device (an earlier container's, not yet unmounted)
   * would be the one mounted again, and its late writes would land in this container's file. */
  int bfd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
  if (bfd < 0 && errno == EBUSY) {
    errno = EBUSY;
    helper_fail(fd, "the upper disk is still held by an earlier container");
  }
  if (bfd < 0) helper_fail(fd, "open the upper disk");
  if (ioctl(bfd, BLKFLSBUF, 0) < 0) helper_fail(fd, "flush the upper disk's buffers");
  close(bfd);
  if (mkdir("disk", 0700) < 0) helper_fail(fd, "mkdir in the stage");
  /* barrier=0: the host ignores the disk's flushes (cache.no-flush: src/vm/devices/upper-disk.ts),
   * and a write is in the host's page cache once QEMU completes it, which jbd2 still waits
   * for before its commit block; the flushes only cost round trips (sqlite's WAL commits:
   * 1.87 -> 1.31 s per 1,000, docs/performance.md). */
  if (mount(dev, "disk", "ext4", MS_NOSUID | MS_NODEV, "noinit_itable,barrier=0") < 0)
    helper_fail(fd, "mount the upper disk");
  if (mkdir_if_missing("disk/upper", 0755) < 0 || mkdir_if_missing("disk/work", 0700) < 0)
    helper_fail(fd, "mkdir upper and work on the upper disk");
  snprintf(g_mounted_disk, sizeof g_mounted_disk, "%s", disk);
}

/*
 * The serial of block device `name` (under /sys/block) into `got`: a virtio-blk disk's from its
 * `serial` file, a SCSI disk's from its unit serial number VPD page (0x80: a 4-byte header,
 * then the serial, which QEMU pads with spaces); -1 when it has none.
 */
static int serial_of(const char *name, char *got, size_t len) {
  char p[300], buf[256];
  int scsi = strncmp(name, "sd", 2) == 0;
  if (!scsi && strncmp(name, "vd", 2) != 0) return -1;
  snprintf(p, sizeof p, scsi ? "/sys/block/%s/device/vpd_pg80" : "/sys/block/%s/serial", name);
  int f = open(p, O_RDONLY | O_CLOEXEC);
  if (f < 0) return -1;
  ssize_t n = read(f, buf, sizeof buf - 1);
  close(f);
  if (n <= 0) return -1;
  buf[n] = 0;
  const char *from = buf;
  size_t at = (size_t)n;
  if (scsi) {
    if (n < 4 || (unsigned char)buf[1] != 0x80) return -1;
    size_t page = ((size_t)(unsigned char)buf[2] << 8) | (unsigned char)buf[3];
    from = buf + 4;
    at = page < (size_t)n - 4 ? page : (size_t)n - 4;
  }
  while (at > 0 && (from[at - 1] == ' ' || from[at - 1] == '\n' || from[at - 1] == 0)) at--;
  if (at >= len) return -1;
  memcpy(got, from, at);
  got[at] = 0;
  return 0;
}

/* The name (vdX or sdX) of the disk whose serial is `serial`, into `name`; -1 when none is. */
static int disk_by_serial_now(const char *serial, char *name, size_t len) {
  DIR *d = opendir("/sys/block");
  if (!d) return -1;
  struct dirent *de;
  int found = -1;
  while (found < 0 && (de = readdir(d)) != NULL) {
    char got[64];
    if (strlen(de->d_name) >= len || serial_of(de->d_name, got, sizeof got) < 0) continue;
    if (strcmp(got, serial) == 0) {
      snprintf(name, len, "%s", de->d_name);
      found = 0;
    }
  }
  closedir(d);
  return found;
}

/*
 * disk_by_serial_now, waiting up to DISK_ARRIVAL_MS for the disk: one the host hot-plugged on
 * the VM's SCSI controller (a LUN of a container that joined this VM) appears once the guest's
 * SCSI layer has probed it, a moment after the host's answer.
 */
#define DISK_ARRIVAL_MS 5000
static int disk_by_serial(const char *serial, char *name, size_t len) {
  for (int waited = 0;; waited += 5) {
    if (disk_by_serial_now(serial, name, len) == 0) return 0;
    if (waited >= DISK_ARRIVAL_MS) return -1;
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

/*
 * With cwd at the stage: the image's read-only filesystem on the device whose serial is
 * `serial`, mounted ro,noload at image/ (it has no journal to replay, and nothing may write
 * it). The guest's cache of the device is dropped first when no filesystem holds it (the host
 * may have put another image's file behind it since the guest last read it).
 */
static void mount_image_disk(int fd, const char *serial) {
  char name[16], dev[32];
  if (disk_by_serial(serial, name, sizeof name) < 0) {
    errno = ENODEV;
    helper_fail(fd, "find the image disk");
  }
  snprintf(dev, sizeof dev, "/dev/%s", name);
  int bfd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
  if (bfd >= 0) {
    if (ioctl(bfd, BLKFLSBUF, 0) < 0) helper_fail(fd, "flush the image disk's buffers");
    close(bfd);
  }
  if (mkdir("image", 0700) < 0) helper_fail(fd, "mkdir in the stage");
  if (mount(dev, "image", "ext4", MS_RDONLY | MS_NOSUID | MS_NODEV, "noload") < 0)
    helper_fail(fd, "mount the image disk");
}

/* The disk's part of a create: mounted now, unless this spare mounted it ahead (READY_DISK). */
static void enter_disk_overlay(int fd, const char *disk, const char *image, const char *root) {
  char opts[PV_MAX_PATH + 320], tree[PV_MAX_PATH + 64];
  if (strcmp(g_mounted_disk, disk) != 0) mount_upper_disk(fd, disk);
  if (mkdir("root", 0755) < 0) helper_fail(fd, "mkdir in the stage");
  struct stat own;
  const char *lower = tree;
  if (image[0]) {
    mount_image_disk(fd, image);
    snprintf(tree, sizeof tree, "%s/image", g_stage_dir);
  } else if (lstat("disk/lower", &own) == 0 && S_ISDIR(own.st_mode))
    snprintf(tree, sizeof tree, "%s/disk/lower", g_stage_dir);
  else
    lower = image_tree(root, tree, sizeof tree);
  snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s/disk/upper,workdir=%s/disk/work", lower, g_stage_dir,
           g_stage_dir);
  if (strlen(opts) >= 4000) {
    errno = ENAMETOOLONG;
    helper_fail(fd, "overlay options");
  }
  /* nodev as the shares: a device node a container makes (mknod is allowed) cannot be opened. */
  if (mount("overlay", "root", "overlay", MS_NODEV, opts) < 0) {
    /* Which lower layer it was (the disk's, the layers share's or the rootfs share's) says
     * most of why; the kernel's log says the rest. */
    int err = errno;
    char what[200];
    snprintf(what, sizeof what, "mount the rootfs overlay (lower %.150s)", lower);
    errno = err;
    helper_fail(fd, what);
  }
  /* Kept as fd 5 for the agent (ARCHIVE's LAYER reads upper/ through it): the disk's mount is
   * detached with the stage below and reachable no other way. */
  int dfd = open("disk", O_PATH | O_DIRECTORY);
  if (dfd < 0 || (dfd != SPARE_DISK_FD && (dup2(dfd, SPARE_DISK_FD) < 0 || close(dfd) < 0)))
    helper_fail(fd, "keep the upper disk's directory");
  if (chdir("root") < 0) helper_fail(fd, "chdir to the rootfs");
}

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

/*
 * docker --init or the pod's pause, after pivot_root: `tree` (a detached bind of the agent's
 * own binary, taken before the old root went) is mounted read-only at `path`
 * (PV_DOCKER_INIT_PATH, as dockerd binds its docker-init there, or PV_POD_PAUSE_PATH). The
 * mount point is made when missing; with / now the container's root, every path (a /sbin that
 * links to usr/sbin) resolves inside it, and a mount point that is a symlink is refused
 * (O_NOFOLLOW).
 */
static void bind_agent_at(int fd, int tree, const char *path) {
  if (strncmp(path, "/sbin/", 6) == 0 && mkdir_if_missing("/sbin", 0755) < 0) helper_fail(fd, "mkdir /sbin");
  int f = open(path, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0755);
  if (f < 0) helper_fail(fd, "make the agent binary's mount point");
  close(f);
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    helper_fail(fd, "bind the agent's binary");
  close(tree);
  if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
    helper_fail(fd, "make the agent's binary read-only");
}

/* Move the staged `name` (a mount point under the stage) onto `name` under cwd (the rootfs). */
static void move_staged(int fd, const char *name, mode_t mode) {
  char from[PV_MAX_PATH];
  snprintf(from, sizeof from, "%s/%s", g_stage_dir, name);
  if (mkdir_if_missing(name, mode) < 0) helper_fail(fd, name[0] == 's' ? "mkdir /sys" : "mkdir /dev");
  if (mount(from, name, NULL, MS_MOVE, NULL) < 0) helper_fail(fd, name[0] == 's' ? "move /sys" : "move /dev");
}

static void spare_main(int req_fd, int res_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  errno = 0;
  /* Only the two pipes: nothing of the agent's (ports, other containers' fds) stays open. */
  if (dup2(req_fd, 3) < 0 || dup2(res_fd, 4) < 0) helper_fail(res_fd, "dup2");
  req_fd = 3;
  res_fd = 4;
  syscall(SYS_close_range, 5U, ~0U, 0U);
  if (unshare(CLONE_NEWNS | CLONE_NEWUTS) < 0) helper_fail(res_fd, "unshare");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) helper_fail(res_fd, "make / private");
  if (mount("tmpfs", g_stage_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k") < 0)
    helper_fail(res_fd, "mount the stage");
  if (chdir(g_stage_dir) < 0) helper_fail(res_fd, "chdir to the stage");
  stage_fs(res_fd);
  helper_ok(res_fd); /* prepared */

  struct spare_request rq;
  for (;;) {
    if (read_full(req_fd, &rq, sizeof rq) != (ssize_t)sizeof rq) _exit(0); /* not needed after all */
    rq.root[sizeof rq.root - 1] = 0;
    rq.hostname[sizeof rq.hostname - 1] = 0;
    rq.disk[sizeof rq.disk - 1] = 0;
    rq.image[sizeof rq.image - 1] = 0;
    errno = 0;
    if (rq.kind != SPARE_READY_DISK) break;
    /* Once, before the create: the disk the host put behind the device for it. */
    if (g_mounted_disk[0] || !rq.disk[0]) {
      errno = EINVAL;
      helper_fail(res_fd, "a spare mounts one disk ahead");
    }
    mount_upper_disk(res_fd, rq.disk);
    helper_ok(res_fd);
  }
  if (g_mounted_disk[0] && strcmp(g_mounted_disk, rq.disk) != 0) {
    /* A create that does not use the disk mounted ahead (the pod's pause keeps the stage as
     * its root; another device): it goes now, so that the device is free for the next file. */
    if (umount2("disk", 0) < 0 || rmdir("disk") < 0) helper_fail(res_fd, "let the disk mounted ahead go");
    g_mounted_disk[0] = 0;
  }
  if (rq.bind == BIND_POD_PAUSE) {
    /* The pod's pause: the stage itself (a tmpfs of this namespace alone, with /sys and /dev
     * in place already) is the root; no image, nothing read from the share. */
  } else if (rq.disk[0]) {
    enter_disk_overlay(res_fd, rq.disk, rq.image, rq.root);
  } else {
    if (mount(rq.root, rq.root, NULL, MS_BIND | MS_REC, NULL) < 0) helper_fail(res_fd, "bind the rootfs");
    if (chdir(rq.root) < 0) helper_fail(res_fd, "chdir to the rootfs");
  }
  if (mkdir_if_missing("proc", 0555) < 0) helper_fail(res_fd, "mkdir /proc");
  if (rq.bind != BIND_POD_PAUSE) {
    move_staged(res_fd, "sys", 0555);
    move_staged(res_fd, "dev", 0755);
  }
  if (rq.has_hostname && sethostname(rq.hostname, strlen(rq.hostname)) < 0) helper_fail(res_fd, "sethostname");
  /* The agent's binary, for docker --init or the pause: taken while the VM's root (and /proc)
   * is still here. */
  int init_tree = -1;
  if (rq.bind != BIND_NONE) {
    /* By its path in this namespace: /proc/self/exe itself leads to the mount of the agent's
     * namespace, which open_tree refuses to clone from here (EINVAL). */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0 || n >= (ssize_t)sizeof exe - 1) helper_fail(res_fd, "find the agent's binary for docker-init");
    exe[n] = 0;
    init_tree = (int)syscall(SYS_open_tree, AT_FDCWD, exe, OPEN_TREE_CLONE | O_CLOEXEC);
    if (init_tree < 0) helper_fail(res_fd, "take the agent's binary for docker-init");
  }
  /* pivot_root(".", "."): the old root (with the stage) ends up stacked under the new one;
   * detach it. */
  if (syscall(SYS_pivot_root, ".", ".") < 0) helper_fail(res_fd, "pivot_root");
  if (umount2(".", MNT_DETACH) < 0) helper_fail(res_fd, "detach the old root");
  if (chdir("/") < 0) helper_fail(res_fd, "chdir /");
  if (init_tree >= 0) bind_agent_at(res_fd, init_tree, rq.bind == BIND_POD_PAUSE ? PV_POD_PAUSE_PATH : PV_DOCKER_INIT_PATH);
  helper_ok(res_fd);
  char c;
  while (read(req_fd, &c, 1) < 0 && errno == EINTR) {
  }
  _exit(0);
}

/* Closing the request pipe lets a spare (or a container's holder) exit; SIGCHLD reaps it. */
static void close_holder(int *req_fd) {
  if (*req_fd >= 0) close(*req_fd);
  *req_fd = -1;
}

/* Fork a spare (it prepares in the background); -1 with errno when it cannot be started. */
static int spare_spawn(void) {
  int req[2], res[2];
  if (pipe2(req, O_CLOEXEC) < 0) return -1;
  if (pipe2(res, O_CLOEXEC) < 0) {
    int saved = errno;
    close(req[0]);
    close(req[1]);
    errno = saved;
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    close(req[0]);
    close(req[1]);
    close(res[0]);
    close(res[1]);
    errno = saved;
    return -1;
  }
  if (pid == 0) spare_main(req[0], res[1]);
  close(req[0]);
  close(res[1]);
  g_spare.pid = pid;
  g_spare.req_fd = req[1];
  g_spare.res_fd = res[0];
  g_spare.prepared = 0;
  g_spare.ready_disk[0] = 0;
  return 0;
}

void container_drop_spare(void) {
  if (g_spare.pid <= 0) return;
  if (g_spare.res_fd >= 0) close(g_spare.res_fd);
  close_holder(&g_spare.req_fd);
  kill(g_spare.pid, SIGKILL);
  /* Reaped here, not by SIGCHLD later: RELEASE_SHARE's unmount needs its namespace gone. */
  while (waitpid(g_spare.pid, NULL, 0) < 0 && errno == EINTR) {
  }
  g_spare.pid = 0;
  g_spare.res_fd = -1;
  g_spare.prepared = 0;
  g_spare.ready_disk[0] = 0;
}

int container_mount_share(struct agent_error *e) {
  if (pid1_mount_share_now() < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "mounting the share %s: %s", PV_SHARE_TAG, strerror(errno));
    return -1;
  }
  /* A template makes no spare (main.c), nor an agent whose share waits: one made before the
   * share was there would lack it. */
  container_renew_spare();
  return 0;
}

/* The rootfs share mounted now if it waits for a mount (a VM restored from a checkpoint:
 * activate.c), before a create or a spare that reads it. 0, or -1 with *e set. */
static int share_when_needed(struct agent_error *e) {
  if (!g_pid1 || !pid1_share_deferred()) return 0;
  return container_mount_share(e);
}

void container_renew_spare(void) {
  container_drop_spare();
  container_prepare_spare(0);
}

void container_prepare_spare(int wait) {
  /* While the share waits for a mount, a spare would lack it: the mount makes one (activate.c). */
  if (g_pid1 && pid1_share_deferred()) return;
  if (g_spare.pid <= 0 && spare_spawn() < 0) {
    logf_("cannot fork a spare container namespace: %s", strerror(errno));
    return;
  }
  if (!wait || g_spare.prepared) return;
  struct helper_result r = {0};
  if (read_full(g_spare.res_fd, &r, sizeof r) == (ssize_t)sizeof r && r.err == 0) {
    g_spare.prepared = 1;
    return;
  }
  /* Its failure comes back to the next CREATE_CONTAINER, which tries a fresh one. */
  logf_("preparing a spare container namespace failed: %s", r.err ? r.msg : "it died");
  close(g_spare.res_fd);
  close_holder(&g_spare.req_fd);
  kill(g_spare.pid, SIGKILL);
  g_spare.pid = 0;
  g_spare.res_fd = -1;
  g_spare.ready_disk[0] = 0;
}

/* A disk serial the host gives: 1 to 20 of [A-Za-z0-9-]. */
static int valid_serial(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 20) return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
      return 0;
  return 1;
}

static int valid_disk_name(const char *disk) {
  return strlen(disk) == 3 && disk[0] == 'v' && disk[1] == 'd' && disk[2] >= 'a' && disk[2] <= 'z';
}

int container_ready_disk(const char *disk, struct agent_error *e) {
  if (!valid_disk_name(disk)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "upper disk must be a virtio-blk device name (vda..vdz)");
    return -1;
  }
  if (strcmp(g_spare.ready_disk, disk) == 0) return 0;
  if (g_spare.ready_disk[0]) {
    set_error(e, PV_ERR_CONFLICT, EBUSY, "the spare holds another disk mounted already");
    return -1;
  }
  /* The spare is the next create's: the share it will read is mounted before it is made. */
  if (share_when_needed(e) < 0) return -1;
  container_prepare_spare(1);
  if (g_spare.pid <= 0 || !g_spare.prepared) {
    set_error(e, PV_ERR_UNAVAILABLE, EIO, "no spare container namespace to mount the disk in");
    return -1;
  }
  struct spare_request rq;
  memset(&rq, 0, sizeof rq);
  rq.kind = SPARE_READY_DISK;
  snprintf(rq.disk, sizeof rq.disk, "%s", disk);
  struct helper_result r = {0};
  if (write_full(g_spare.req_fd, &rq, sizeof rq) != (ssize_t)sizeof rq ||
      read_full(g_spare.res_fd, &r, sizeof r) != (ssize_t)sizeof r || r.err != 0) {
    /* A spare that failed it has exited (helper_fail): it goes, and the next create forks one. */
    if (r.err) set_error(e, PV_ERR_UNAVAILABLE, r.err, "%s", r.msg);
    else set_error(e, PV_ERR_UNAVAILABLE, EIO, "the spare died mounting the disk");
    container_drop_spare();
    return -1;
  }
  snprintf(g_spare.ready_disk, sizeof g_spare.ready_disk, "%s", disk);
  logf_("upper disk %s mounted ahead in the spare", disk);
  return 0;
}

void container_drop_ready_disk(void) {
  if (!g_spare.ready_disk[0]) return;
  char disk[16];
  snprintf(disk, sizeof disk, "%s", g_spare.ready_disk);
  /* The spare's namespace, and with it the disk's only mount, goes with the spare. */
  container_drop_spare();
  wait_disk_unclaimed("(ready disk)", disk);
  container_prepare_spare(0);
}

static int open_ns(pid_t pid, const char *what, int flags) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
  return open(path, flags | O_CLOEXEC);
}

/*
 * Take the spare (forking one when none is ready) and have it enter `root`. On success the
 * spare becomes the container's holder: *pid and *req_fd are kept until the container goes.
 * A spare that died while it waited is replaced once.
 */
static int spare_enter(const char *root, const char *hostname, const char *disk, const char *image,
                       enum agent_bind bind, pid_t *pid, int *req_fd, struct helper_result *r) {
  for (int attempt = 0;; attempt++) {
    if (g_spare.pid <= 0 && spare_spawn() < 0) {
      r->err = errno;
      snprintf(r->msg, sizeof r->msg, "fork: %s", strerror(errno));
      return -1;
    }
    pid_t p = g_spare.pid;
    int rq_fd = g_spare.req_fd, rs_fd = g_spare.res_fd, prepared = g_spare.prepared;
    g_spare.pid = 0;
    g_spare.req_fd = g_spare.res_fd = -1;
    g_spare.prepared = 0;
    g_spare.ready_disk[0] = 0; /* the container takes the spare's mount of it */

    ssize_t n = sizeof *r;
    if (prepared) memset(r, 0, sizeof *r);
    else n = read_full(rs_fd, r, sizeof *r);
    if (n == (ssize_t)sizeof *r && r->err == 0) {
      struct spare_request rq;
      memset(&rq, 0, sizeof rq);
      snprintf(rq.root, sizeof rq.root, "%s", root ? root : "");
      if (hostname) {
        snprintf(rq.hostname, sizeof rq.hostname, "%s", hostname);
        rq.has_hostname = 1;
      }
      if (disk) snprintf(rq.disk, sizeof rq.disk, "%s", disk);
      if (image) snprintf(rq.image, sizeof rq.image, "%s", image);
      rq.bind = bind;
      if (write_full(rq_fd, &rq, sizeof rq) == (ssize_t)sizeof rq) n = read_full(rs_fd, r, sizeof *r);
      else n = 0;
      close(rs_fd);
      if (n == (ssize_t)sizeof *r && r->err == 0) {
        *pid = p;
        *req_fd = rq_fd;
        return 0;
      }
      close_holder(&rq_fd);
      if (n != (ssize_t)sizeof *r) {
        r->err = EIO;
        snprintf(r->msg, sizeof r->msg, "container helper died");
      }
      return -1;
    }
    /* Not prepared: it died while waiting (retry once with a fresh one) or failed. */
    close(rs_fd);
    close_holder(&rq_fd);
    kill(p, SIGKILL);
    if (n == (ssize_t)sizeof *r) return -1; /* r says why */
    if (attempt > 0) {
      r->err = EIO;
      snprintf(r->msg, sizeof r->msg, "container helper died");
      return -1;
    }
  }
}

int container_create(const char *id, const char *rootfs, const char *hostname, const struct cgroup_limits *limits,
                     int share_ns, const char *pid_peer, const char *disk, const char *image_disk,
                     enum agent_bind bind, const struct device_policy *dev, struct agent_error *e) {
  if (!valid_id(id)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "invalid container id");
    return -1;
  }
  if (container_find(id)) {
    set_error(e, PV_ERR_CONFLICT, EEXIST, "container %s already exists", id);
    return -1;
  }
  if (bind == BIND_POD_PAUSE ? rootfs != NULL || disk != NULL : rootfs == NULL) {
    set_error(e, PV_ERR_INVALID, EINVAL, "the pod's pause takes no rootfs nor upper disk, and any other container a rootfs");
    return -1;
  }
  if (rootfs && (!valid_relative(rootfs) || strlen(rootfs) > PV_MAX_PATH)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "rootfs must be a relative path inside the share without ..");
    return -1;
  }
  if (pid_peer && pid_peer[0] && (share_ns || !container_find(pid_peer) || strcmp(pid_peer, id) == 0)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "pid peer %s: no such other container, or the pod's namespace asked too", pid_peer);
    return -1;
  }
  /* The upper disk by its device name (the VM's own upper disk, vda), or by its serial (a LUN
   * the host hot-plugged on the VM's SCSI controller for a container that joined this VM). */
  char by_serial[16];
  if (disk && !valid_disk_name(disk)) {
    if (!valid_serial(disk)) {
      set_error(e, PV_ERR_INVALID, EINVAL, "upper disk must be a virtio-blk device name (vda..vdz) or a disk's serial");
      return -1;
    }
    if (disk_by_serial(disk, by_serial, sizeof by_serial) < 0) {
      set_error(e, PV_ERR_NOT_FOUND, ENODEV, "no disk of serial %s appeared in %d ms", disk, DISK_ARRIVAL_MS);
      return -1;
    }
    disk = by_serial;
  }
  if (hostname && (strlen(hostname) == 0 || strlen(hostname) > 64)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "hostname must be 1 to 64 bytes");
    return -1;
  }
  struct container *c = NULL;
  for (int i = 0; i < PV_MAX_CONTAINERS; i++)
    if (!g_containers[i].used) {
      c = &g_containers[i];
      break;
    }
  if (!c) {
    set_error(e, PV_ERR_TOO_LARGE, 0, "too many containers (at most %d)", PV_MAX_CONTAINERS);
    return -1;
  }
  /* A VM restored from a checkpoint mounts its share at its first create that needs it. */
  if (rootfs && share_when_needed(e) < 0) return -1;
  char root[PV_MAX_PATH + 256] = "";
  if (rootfs) snprintf(root, sizeof root, "%s/%s", g_share_dir, rootfs);
  struct stat st;
  if (rootfs && (stat(root, &st) < 0 || !S_ISDIR(st.st_mode))) {
    set_error(e, PV_ERR_NOT_FOUND, errno ? errno : ENOTDIR, "rootfs %s is not a directory in the share", rootfs);
    return -1;
  }

  struct helper_result r;
  pid_t pid;
  int holder_fd;
  if (image_disk && (!disk || strlen(image_disk) >= sizeof(((struct spare_request *)0)->image))) {
    set_error(e, PV_ERR_INVALID, EINVAL, "an image disk goes with an upper disk, by a serial of under 24 bytes");
    return -1;
  }
  if (spare_enter(rootfs ? root : NULL, hostname, disk, image_disk, bind, &pid, &holder_fd, &r) < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, r.err, "create container %s: %s", id, r.msg);
    return -1;
  }
  c->mnt_fd = open_ns(pid, "ns/mnt", O_RDONLY);
  c->uts_fd = hostname ? open_ns(pid, "ns/uts", O_RDONLY) : -1;
  c->root_fd = open_ns(pid, "root", O_PATH | O_DIRECTORY);
  if (c->mnt_fd < 0 || c->root_fd < 0 || (hostname && c->uts_fd < 0)) {
    int err = errno;
    if (c->mnt_fd >= 0) close(c->mnt_fd);
    if (c->uts_fd >= 0) close(c->uts_fd);
    if (c->root_fd >= 0) close(c->root_fd);
    c->mnt_fd = c->uts_fd = c->root_fd = -1;
    close_holder(&holder_fd);
    set_error(e, PV_ERR_UNAVAILABLE, err, "create container %s: open the container's namespaces: %s", id, strerror(err));
    return -1;
  }
  c->used = 1;
  snprintf(c->id, sizeof c->id, "%s", id);
  snprintf(c->cgroup_name, sizeof c->cgroup_name, "%s", id);
  c->holder_fd = holder_fd;
  c->pidns_fd = -1;
  c->init_pid = 0;
  c->destroying = 0;
  c->share_ns = share_ns ? 1 : 0;
  c->has_disk = disk ? 1 : 0;
  snprintf(c->disk, sizeof c->disk, "%s", disk ? disk : "");
  c->upper_fd = disk ? open_ns(pid, "fd/5", O_PATH | O_DIRECTORY) : -1;
  if (disk && c->upper_fd < 0) logf_("container %s: open its upper disk's directory: %s", id, strerror(errno));
  snprintf(c->pid_peer, sizeof c->pid_peer, "%s", pid_peer ? pid_peer : "");
  if (c->share_ns) podns_join_uts(c);
  if (cgroup_create(c, limits, e) < 0) {
    /* Nothing of sockets.c names this id (a listener or connection needs a live container,
     * and an earlier one's ended when it was destroyed): no sockets_container_gone first. */
    container_release(c);
    return -1;
  }
  /* Before the answer, so before any process of the container can run. */
  int cg_fd = c->has_cgroup ? cgroup_dir_fd(c) : -1;
  if (c->has_cgroup && cg_fd < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "container %s: open its cgroup: %s", id, strerror(errno));
    container_release(c);
    return -1;
  }
  int rc = devcg_attach(cg_fd, dev, id, e);
  if (cg_fd >= 0) close(cg_fd);
  if (rc < 0 || devcg_make_nodes(c->root_fd, dev, e) < 0) {
    container_release(c);
    return -1;
  }
  logf_("container %s created on %s%s%s", id, rootfs ? rootfs : "the pod's pause", disk ? " over upper disk " : "",
        disk ? disk : "");
  return 0;
}

void container_kill(struct container *c) {
  if (c->init_pid > 0) kill(c->init_pid, SIGKILL);
  /* In the pod's PID namespace the init's death does not take the rest with it. */
  if ((c->share_ns || c->pid_peer[0]) && cgroup_kill(c) < 0) logf_("container %s: cgroup.kill: %s", c->id, strerror(errno));
}

/*
 * Wait (up to DISK_RELEASE_MS) until no filesystem holds block device `disk`: an exclusive
 * open succeeds only then. A container's disk is unmounted when the last process in its mount
 * namespace (the holder, after its pipe closes) has exited, which is after the release; the
 * host swaps the device's file right after the answer, and the old filesystem's last writes
 * (its superblock, at unmount) must not reach the next container's file.
 */
#define DISK_RELEASE_MS 10000
static void wait_disk_unclaimed(const char *id, const char *disk) {
  char dev[32];
  snprintf(dev, sizeof dev, "/dev/%s", disk);
  for (int waited = 0;; waited += 2) {
    int fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      if (waited) logf_("container %s: its upper disk was let go after %d ms", id, waited);
      return;
    }
    if (errno != EBUSY || waited >= DISK_RELEASE_MS) {
      logf_("container %s: its upper disk is still held: %s", id, strerror(errno));
      return;
    }
    struct timespec ts = {0, 2 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

void container_release(struct container *c) {
  if (c->has_disk && c->root_fd >= 0) {
    /* Its writable layer reaches the host's file now: the host may end the VM right after
     * the answer, before the namespace (and with it the disk's mount) is gone. */
    int fd = openat(c->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) < 0) logf_("container %s: syncing its upper disk: %s", c->id, strerror(errno));
    if (fd >= 0) close(fd);
  }
  if (c->mnt_fd >= 0) close(c->mnt_fd);
  if (c->uts_fd >= 0) close(c->uts_fd);
  if (c->root_fd >= 0) close(c->root_fd);
  if (c->pidns_fd >= 0) close(c->pidns_fd);
  if (c->upper_fd >= 0) close(c->upper_fd);
  close_holder(&c->holder_fd);
  if (c->has_disk) wait_disk_unclaimed(c->id, c->disk);
  cgroup_remove(c);
  container_seccomp_release(c);
  logf_("container %s released", c->id);
  int shared = c->share_ns;
  memset(c, 0, sizeof *c);
  c->mnt_fd = c->uts_fd = c->root_fd = c->pidns_fd = c->holder_fd = c->upper_fd = -1;
  if (shared) podns_release_if_unused();
}

void container_init_exited(pid_t pid) {
  for (int i = 0; i < PV_MAX_CONTAINERS; i++) {
    struct container *c = &g_containers[i];
    if (c->used && c->init_pid == pid) {
      c->init_pid = 0;
      /* A container's processes end with its init, in the pod's PID namespace too. */
      if ((c->share_ns || c->pid_peer[0]) && cgroup_kill(c) < 0) logf_("container %s: cgroup.kill: %s", c->id, strerror(errno));
      if (c->pidns_fd >= 0) close(c->pidns_fd);
      c->pidns_fd = -1;
    }
  }
}
