/*
 * pid1.c - what the agent does as /init (PID 1) of the VM before serving:
 *
 *   1. leave the initramfs root for a bind mount of it (pivot_root(2) refuses to move the
 *      initial rootfs, and container creation needs pivot_root), as switch_root does:
 *      bind / on /.podvisor-root, chdir there, MS_MOVE it onto /, chroot(".");
 *   2. mount /dev (devtmpfs), /proc, /sys, /dev/pts (ptmxmode=0666), /dev/shm, /run;
 *   3. load the kernel modules listed in /etc/podvisor/modules (finit_module, EEXIST is fine);
 *   4. mount the virtio-fs tag "podvisor" on /run/podvisor/share when the VM has one (a 9p
 *      share waits for the host's ACTIVATE: activate.c);
 *   5. bring lo up;
 * then main.c opens the two virtio-serial ports (pid1_open_ports) and serves.
 * Log lines go to /dev/console (the VM's serial console) for the host's boot diagnostics.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static void mnt(const char *src, const char *dst, const char *type, unsigned long flags, const char *opts) {
  mkdir(dst, 0755);
  if (mount(src, dst, type, flags, opts) < 0) logf_("mount %s on %s: %s", type, dst, strerror(errno));
}

static void leave_initramfs_root(void) {
  const char *dir = "/.podvisor-root";
  mkdir(dir, 0755);
  if (mount("/", dir, NULL, MS_BIND | MS_REC, NULL) < 0 || chdir(dir) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 ||
      chroot(".") < 0 || chdir("/") < 0)
    logf_("cannot leave the initramfs root (containers will fail to pivot_root): %s", strerror(errno));
}

static void load_modules(void) {
  FILE *f = fopen("/etc/podvisor/modules", "re");
  if (!f) {
    logf_("no /etc/podvisor/modules: loading no modules");
    return;
  }
  char line[512];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0] || line[0] == '#') continue;
    int fd = open(line, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      logf_("module %s: %s", line, strerror(errno));
      continue;
    }
    if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) logf_("load module %s: %s", line, strerror(errno));
    close(fd);
    unlink(line); /* the initramfs is RAM: a loaded module's file is ~1.2 MiB kept for nothing */
  }
  fclose(f);
}

static int has_filesystem(const char *name) {
  FILE *f = fopen("/proc/filesystems", "re");
  if (!f) return 0;
  char line[128];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    char *t = strrchr(line, '\t');
    t = t ? t + 1 : line;
    t[strcspn(t, "\n")] = 0;
    found = strcmp(t, name) == 0;
  }
  fclose(f);
  return found;
}

/*
 * Readahead of the share, in KiB (the kernel's default is 128). A container's first exec maps
 * its binary from the share, and each page fault then reads a readahead window around it over
 * virtio-fs: with 128 KiB a 2 MB busybox took a dozen round trips to the host, each a guest
 * wakeup under TCG. With 2 MiB one or two requests bring it in; measured: first `true` in a
 * warm pool VM ~27 -> ~22 ms (docs/performance.md). `podvisor.share_readahead_kb=N` on the
 * kernel command line overrides it (experiments).
 */
#define SHARE_READAHEAD_KB 2048

static unsigned long share_readahead_kb(void) {
  char line[4096] = {0};
  FILE *f = fopen("/proc/cmdline", "re");
  if (f) {
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
  }
  const char *key = "podvisor.share_readahead_kb=";
  const char *p = strstr(line, key);
  return p ? strtoul(p + strlen(key), NULL, 10) : SHARE_READAHEAD_KB;
}

/* Set the readahead of the filesystem mounted at `dir` (its backing device's sysfs knob). */
static void set_readahead(const char *dir, unsigned long kb) {
  struct stat st;
  if (stat(dir, &st) < 0) return;
  char path[96], val[32];
  snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev), minor(st.st_dev));
  int n = snprintf(val, sizeof val, "%lu", kb);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, val, (size_t)n) != n) logf_("readahead of %s (%s): %s", dir, path, strerror(errno));
  if (fd >= 0) close(fd);
}

/* The rootfs share is 9p and waits for a mount: a template's and the clones it is saved for
 * (ACTIVATE mounts it), or one let go for a save (RELEASE_SHARE; a VM restored from that save
 * mounts it at ACTIVATE's MOUNT_SHARE or its first container's create: activate.c). */
static int share_deferred;

int pid1_share_deferred(void) { return share_deferred; }

void pid1_share_released(void) { share_deferred = 1; }

int pid1_mount_share_now(void) {
  mkdir("/run/podvisor", 0755);
  mkdir(PV_SHARE_MOUNT, 0755);
  if (share_mount(PV_SHARE_TAG, PV_SHARE_MOUNT, MS_NODEV) < 0) return -1;
  share_deferred = 0;
  logf_("share %s mounted on %s (%s)", PV_SHARE_TAG, PV_SHARE_MOUNT, share_is_9p(PV_SHARE_TAG) ? "9p" : "virtio-fs");
  /* Asked now, before the spare namespace is forked: the spare then needs no sysfs walk. */
  g_layers_share = share_is_9p(PV_LAYERS_TAG);
  /* 9p sizes its readahead from msize itself, and its bdi is not named by a device number. */
  if (!share_is_9p(PV_SHARE_TAG)) set_readahead(PV_SHARE_MOUNT, share_readahead_kb());
  return 0;
}

static void mount_share(void) {
  if (share_is_9p(PV_SHARE_TAG)) {
    /* A template's share: QEMU cannot save a VM whose 9p share is mounted; ACTIVATE mounts it. */
    logf_("share %s is 9p: mounted when the host activates the VM", PV_SHARE_TAG);
    share_deferred = 1;
    return;
  }
  if (!has_filesystem("virtiofs")) {
    logf_("no virtiofs in this kernel: running without the share");
    return;
  }
  int err = 0;
  for (int i = 0; i < 20; i++) {
    if (pid1_mount_share_now() == 0) return;
    err = errno;
    sleep_ms(50);
  }
  logf_("no virtio-fs tag %s (%s): running without the share", PV_SHARE_TAG, strerror(err));
}

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) logf_("bring lo up: %s", strerror(errno));
  }
  close(s);
}

int pid1_setup(void) {
  leave_initramfs_root();
  mnt("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  int console = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (console >= 0) log_init(console);
  mnt("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mnt("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  cgroup_setup();
  mnt("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666,mode=0620,gid=5");
  mnt("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  mnt("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  load_modules();
  mount_share();
  loopback_up();
  return console;
}

/* The vportNpM whose name file says `name`, or -1 when absent. */
int pid1_open_port_named(const char *name) {
  DIR *d = opendir("/sys/class/virtio-ports");
  if (!d) return -1;
  struct dirent *e;
  int fd = -1;
  while (fd < 0 && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[300], got[128] = {0};
    snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
    int nf = open(path, O_RDONLY | O_CLOEXEC);
    if (nf < 0) continue;
    ssize_t n = read(nf, got, sizeof got - 1);
    close(nf);
    if (n <= 0) continue;
    got[strcspn(got, "\n")] = 0;
    if (strcmp(got, name) != 0) continue;
    snprintf(path, sizeof path, "/dev/%s", e->d_name);
    fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  }
  closedir(d);
  return fd;
}

int pid1_open_ports(int *ctl_fd, int *io_fd) {
  *ctl_fd = *io_fd = -1;
  for (int i = 0; i < 100; i++) {
    if (*ctl_fd < 0) *ctl_fd = pid1_open_port_named(PV_PORT_CTL_NAME);
    if (*io_fd < 0) *io_fd = pid1_open_port_named(PV_PORT_IO_NAME);
    if (*ctl_fd >= 0 && *io_fd >= 0) return 0;
    sleep_ms(50);
  }
  logf_("virtio-serial ports %s%s%s not found", *ctl_fd < 0 ? PV_PORT_CTL_NAME " " : "",
        *io_fd < 0 ? PV_PORT_IO_NAME : "", "");
  return -1;
}

void pid1_poweroff(void) {
  kill(-1, SIGKILL);
  sync();
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}
