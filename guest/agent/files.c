/*
 * files.c - small files inside a container (/etc/hosts, /etc/resolv.conf, /etc/hostname).
 *
 * Paths are absolute container paths without ".." components, resolved from the container's
 * root fd with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): "/" and ".." stop at the
 * container's root, absolute symlinks are taken relative to it, and /proc magic links are
 * refused, so nothing resolves outside the container. Only regular files are read or
 * written, and they are opened O_NONBLOCK so a FIFO cannot block the agent. A write makes
 * the directories above the file that are missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"

int open_in_root(int root_fd, const char *path, int flags, mode_t mode) {
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC),
      .mode = (flags & O_CREAT) ? (uint64_t)mode : 0,
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  long fd;
  do fd = syscall(SYS_openat2, root_fd, path, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return (int)fd;
}

int valid_container_path(const char *path) {
  size_t n = strlen(path);
  if (n < 2 || n > PV_MAX_PATH || path[0] != '/') return 0;
  const char *s = path + 1;
  for (;;) {
    const char *e = strchr(s, '/');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    if (len == 2 && s[0] == '.' && s[1] == '.') return 0;
    if (!e) break;
    s = e + 1;
  }
  return path[n - 1] != '/';
}

/* Open `path` in the container's root and make sure it is a regular file (its stat in *st).
 * Returns the fd, or -1 with *e set. */
static int open_regular(const struct container *c, const char *path, int flags, mode_t mode, struct stat *st,
                        struct agent_error *e) {
  int fd = open_in_root(c->root_fd, path, flags, mode);
  if (fd < 0) {
    set_error(e, code_for_errno(errno), errno, "open %s: %s", path, strerror(errno));
    return -1;
  }
  if (fstat(fd, st) < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "stat %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (!S_ISREG(st->st_mode)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "%s is not a regular file", path);
    close(fd);
    return -1;
  }
  return fd;
}

/* Make the directories above `path` that are missing (0755, as runc makes a mount target's),
 * each resolved in the container's root like every path here. 0, or -1 with errno set. */
int make_parents(const struct container *c, const char *path) {
  char dir[PV_MAX_PATH + 1];
  snprintf(dir, sizeof dir, "%s", path);
  char *last = strrchr(dir, '/');
  if (!last || last == dir) return 0; /* in the root itself */
  *last = '\0';
  int fd = open_in_root(c->root_fd, dir, O_PATH | O_DIRECTORY, 0);
  if (fd >= 0) return close(fd), 0;
  if (errno != ENOENT || make_parents(c, dir) < 0) return -1;
  char *name = strrchr(dir, '/');
  *name = '\0';
  int parent = open_in_root(c->root_fd, dir[0] ? dir : "/", O_PATH | O_DIRECTORY, 0);
  if (parent < 0) return -1;
  int r = mkdirat(parent, name + 1, 0755);
  int saved = errno;
  close(parent);
  errno = saved;
  return r < 0 && errno != EEXIST ? -1 : 0;
}

int file_write(struct container *c, const char *path, const uint8_t *data, size_t len, uint32_t mode,
               struct agent_error *e) {
  if (!valid_container_path(path)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "path must be absolute without ..: %s", path);
    return -1;
  }
  if (len > PV_MAX_FILE_SIZE) {
    set_error(e, PV_ERR_TOO_LARGE, EFBIG, "file larger than %d bytes", PV_MAX_FILE_SIZE);
    return -1;
  }
  struct stat st;
  /* A root without the directory (an image FROM scratch has no /etc): made first, as runc
   * makes the hosts files' mount targets. */
  if (make_parents(c, path) < 0) {
    set_error(e, code_for_errno(errno), errno, "make the directory of %s: %s", path, strerror(errno));
    return -1;
  }
  int fd = open_regular(c, path, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY, mode & 07777, &st, e);
  if (fd < 0) return -1;
  if (ftruncate(fd, 0) < 0 || fchmod(fd, mode & 07777) < 0) goto io_fail;
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd, data + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) goto io_fail;
    off += (size_t)n;
  }
  if (close(fd) < 0) {
    set_error(e, code_for_errno(errno), errno, "write %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
io_fail:
  set_error(e, code_for_errno(errno), errno, "write %s: %s", path, strerror(errno));
  close(fd);
  return -1;
}

int file_read(struct container *c, const char *path, uint32_t max_bytes, uint8_t **out, size_t *len,
              struct agent_error *e) {
  if (!valid_container_path(path)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "path must be absolute without ..: %s", path);
    return -1;
  }
  size_t limit = max_bytes < PV_MAX_FILE_SIZE ? max_bytes : PV_MAX_FILE_SIZE;
  struct stat st;
  int fd = open_regular(c, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, &st, e);
  if (fd < 0) return -1;
  if ((uint64_t)st.st_size > limit) {
    set_error(e, PV_ERR_TOO_LARGE, EFBIG, "%s is %lld bytes, more than %zu", path, (long long)st.st_size, limit);
    close(fd);
    return -1;
  }
  /* The file may grow while we read: read at most limit + 1 bytes to notice. */
  uint8_t *b = malloc(limit + 1);
  if (!b) {
    set_error(e, PV_ERR_UNAVAILABLE, ENOMEM, "out of memory");
    close(fd);
    return -1;
  }
  size_t got = 0;
  while (got <= limit) {
    ssize_t n = read(fd, b + got, limit + 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      set_error(e, code_for_errno(errno), errno, "read %s: %s", path, strerror(errno));
      free(b);
      close(fd);
      return -1;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (got > limit) {
    set_error(e, PV_ERR_TOO_LARGE, EFBIG, "%s is larger than %zu bytes", path, limit);
    free(b);
    return -1;
  }
  *out = b;
  *len = got;
  return 0;
}
