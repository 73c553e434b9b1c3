/*
 * container.c - a container is a mount namespace whose / is the container's rootfs (taken
 * from the share mount), prepared by a short-lived helper child:
 *
 *   agent --fork--> helper: unshare(NEWNS[|NEWUTS]); make / private; bind rootfs onto
 *                   itself; mount /sys (ro), /dev (tmpfs + nodes), /dev/pts (new devpts),
 *                   /dev/shm; pivot_root; report "ok"; wait for the agent to close the pipe.
 *   agent: opens /proc/<helper>/ns/mnt (+uts) and /proc/<helper>/root, lets it exit.
 *
 * The namespace lives on through those fds. The container's PID namespace is created by its
 * first process (process.c), which also mounts /proc. Destroying SIGKILLs that init (the
 * kernel then kills the whole PID namespace) and closes the fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

struct container g_containers[PV_MAX_CONTAINERS];
const char *g_share_dir = PV_SHARE_MOUNT;

void set_error(struct agent_error *e, uint32_t code, int err, const char *fmt, ...) {
  e->code = code;
  e->err = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
}

uint32_t code_for_errno(int err) {
  switch (err) {
  case ENOENT:
  case ENOTDIR:
  case ESRCH:
    return PV_ERR_NOT_FOUND;
  case EEXIST:
  case EBUSY:
    return PV_ERR_CONFLICT;
  case EACCES:
  case EPERM:
  case EROFS:
    return PV_ERR_PERMISSION;
  case EFBIG:
  case E2BIG:
  case ENAMETOOLONG:
    return PV_ERR_TOO_LARGE;
  case EINVAL:
  case ELOOP:
  case EXDEV:
  case EISDIR:
  case ENXIO:
    return PV_ERR_INVALID;
  default:
    return PV_ERR_UNAVAILABLE;
  }
}

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

/* ---- the helper child ----------------------------------------------------------------- */

struct helper_result {
  int err;
  char msg[200];
};

static void helper_fail(int fd, const char *what) {
  struct helper_result r = {.err = errno ? errno : EIO};
  snprintf(r.msg, sizeof r.msg, "%s: %s", what, strerror(r.err));
  ssize_t w = write(fd, &r, sizeof r);
  (void)w;
  _exit(1);
}

static int mkdir_if_missing(const char *p, mode_t mode) {
  if (mkdir(p, mode) == 0 || errno == EEXIST) return 0;
  return -1;
}

/* With cwd at the new root: /sys, /dev and friends. */
static void helper_setup_fs(int fd) {
  static const struct {
    const char *name;
    unsigned maj, min;
  } nodes[] = {{"dev/null", 1, 3}, {"dev/zero", 1, 5}, {"dev/full", 1, 7},
               {"dev/random", 1, 8}, {"dev/urandom", 1, 9}, {"dev/tty", 5, 0}};
  static const struct {
    const char *target, *path;
  } links[] = {{"/proc/self/fd", "dev/fd"},     {"/proc/self/fd/0", "dev/stdin"}, {"/proc/self/fd/1", "dev/stdout"},
               {"/proc/self/fd/2", "dev/stderr"}, {"pts/ptmx", "dev/ptmx"}};

  if (mkdir_if_missing("proc", 0555) < 0) helper_fail(fd, "mkdir /proc");
  if (mkdir_if_missing("sys", 0555) < 0) helper_fail(fd, "mkdir /sys");
  if (mkdir_if_missing("dev", 0755) < 0) helper_fail(fd, "mkdir /dev");
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
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlink(links[i].target, links[i].path) < 0) helper_fail(fd, "symlink in /dev");
}

static void helper_main(const char *root, const char *hostname, int res_fd, int wait_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  errno = 0;
  if (unshare(CLONE_NEWNS | (hostname ? CLONE_NEWUTS : 0)) < 0) helper_fail(res_fd, "unshare");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) helper_fail(res_fd, "make / private");
  if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0) helper_fail(res_fd, "bind the rootfs");
  if (chdir(root) < 0) helper_fail(res_fd, "chdir to the rootfs");
  helper_setup_fs(res_fd);
  if (hostname && sethostname(hostname, strlen(hostname)) < 0) helper_fail(res_fd, "sethostname");
  /* pivot_root(".", "."): the old root ends up stacked under the new one; detach it. */
  if (syscall(SYS_pivot_root, ".", ".") < 0) helper_fail(res_fd, "pivot_root");
  if (umount2(".", MNT_DETACH) < 0) helper_fail(res_fd, "detach the old root");
  if (chdir("/") < 0) helper_fail(res_fd, "chdir /");
  struct helper_result ok = {0};
  if (write(res_fd, &ok, sizeof ok) != sizeof ok) _exit(1);
  char c;
  while (read(wait_fd, &c, 1) < 0 && errno == EINTR) {
  }
  _exit(0);
}

static int open_ns(pid_t pid, const char *what, int flags) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
  return open(path, flags | O_CLOEXEC);
}

int container_create(const char *id, const char *rootfs, const char *hostname, struct agent_error *e) {
  if (!valid_id(id)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "invalid container id");
    return -1;
  }
  if (container_find(id)) {
    set_error(e, PV_ERR_CONFLICT, EEXIST, "container %s already exists", id);
    return -1;
  }
  if (!valid_relative(rootfs) || strlen(rootfs) > PV_MAX_PATH) {
    set_error(e, PV_ERR_INVALID, EINVAL, "rootfs must be a relative path inside the share without ..");
    return -1;
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
  char root[PV_MAX_PATH + 256];
  snprintf(root, sizeof root, "%s/%s", g_share_dir, rootfs);
  struct stat st;
  if (stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
    set_error(e, PV_ERR_NOT_FOUND, errno ? errno : ENOTDIR, "rootfs %s is not a directory in the share", rootfs);
    return -1;
  }

  int res[2], wait[2];
  if (pipe2(res, O_CLOEXEC) < 0) goto fail_errno;
  if (pipe2(wait, O_CLOEXEC) < 0) {
    close(res[0]);
    close(res[1]);
    goto fail_errno;
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(res[0]);
    close(res[1]);
    close(wait[0]);
    close(wait[1]);
    goto fail_errno;
  }
  if (pid == 0) {
    close(res[0]);
    close(wait[1]);
    helper_main(root, hostname, res[1], wait[0]);
  }
  close(res[1]);
  close(wait[0]);
  struct helper_result r;
  ssize_t n;
  do n = read(res[0], &r, sizeof r);
  while (n < 0 && errno == EINTR);
  close(res[0]);
  int ok = n == (ssize_t)sizeof r && r.err == 0;
  if (ok) {
    c->mnt_fd = open_ns(pid, "ns/mnt", O_RDONLY);
    c->uts_fd = hostname ? open_ns(pid, "ns/uts", O_RDONLY) : -1;
    c->root_fd = open_ns(pid, "root", O_PATH | O_DIRECTORY);
    if (c->mnt_fd < 0 || c->root_fd < 0 || (hostname && c->uts_fd < 0)) {
      snprintf(r.msg, sizeof r.msg, "open the container's namespaces: %s", strerror(errno));
      r.err = errno;
      if (c->mnt_fd >= 0) close(c->mnt_fd);
      if (c->uts_fd >= 0) close(c->uts_fd);
      if (c->root_fd >= 0) close(c->root_fd);
      ok = 0;
    }
  } else if (n != (ssize_t)sizeof r) {
    r.err = EIO;
    snprintf(r.msg, sizeof r.msg, "container helper died");
  }
  close(wait[1]);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  if (!ok) {
    set_error(e, PV_ERR_UNAVAILABLE, r.err, "create container %s: %s", id, r.msg);
    return -1;
  }
  c->used = 1;
  snprintf(c->id, sizeof c->id, "%s", id);
  c->pidns_fd = -1;
  c->init_pid = 0;
  c->destroying = 0;
  logf_("container %s created on %s", id, rootfs);
  return 0;

fail_errno:
  set_error(e, PV_ERR_UNAVAILABLE, errno, "create container %s: %s", id, strerror(errno));
  return -1;
}

void container_kill(struct container *c) {
  if (c->init_pid > 0) kill(c->init_pid, SIGKILL);
}

void container_release(struct container *c) {
  if (c->mnt_fd >= 0) close(c->mnt_fd);
  if (c->uts_fd >= 0) close(c->uts_fd);
  if (c->root_fd >= 0) close(c->root_fd);
  if (c->pidns_fd >= 0) close(c->pidns_fd);
  logf_("container %s released", c->id);
  memset(c, 0, sizeof *c);
  c->mnt_fd = c->uts_fd = c->root_fd = c->pidns_fd = -1;
}

void container_init_exited(pid_t pid) {
  for (int i = 0; i < PV_MAX_CONTAINERS; i++) {
    struct container *c = &g_containers[i];
    if (c->used && c->init_pid == pid) {
      c->init_pid = 0;
      if (c->pidns_fd >= 0) close(c->pidns_fd);
      c->pidns_fd = -1;
    }
  }
}
