/*
 * archive.c - PV_OP_ARCHIVE: files in and out of a container as tar streams (docker cp,
 * export, diff and commit of a container whose writable layer is on an upper disk, which
 * only the guest mounts).
 *
 * The request starts a process of the agent's own (process.c forks it; no exec) whose stdout
 * or stdin is the tar, so the stream channel's credits pace it as any process's output. The
 * child joins the container's mount namespace and chroots into a non-recursive clone of the
 * container's root mount (open_tree): paths and symlinks resolve inside the container's root
 * filesystem only, volumes and /proc below it are not seen, and nothing of the VM's own is
 * reachable. With ARCHIVE_ROOT (a volume kept on the upper disk, docker cp below its mount
 * point) the clone is of the mount at that path instead, and PATH is resolved inside it. LAYER walks the upper directory on the disk instead (the fd the container's
 * holder keeps, container.c), turning overlay whiteouts into image-layer `.wh.` entries.
 *
 * Exit status: 0 done, 2 no such path, 3 not a directory, 4 the archive or a name in it is
 * refused (the client's fault), 1 anything else; stderr says why in one line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "archive.h"

/* Names are length-checked before they are formatted; a cut is never silent data. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif

enum { EX_OK = 0, EX_FAIL = 1, EX_NOENT = 2, EX_NOTDIR = 3, EX_REFUSED = 4 };
#define MAX_DEPTH 256

static int failf(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failf(int status, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n > sizeof msg - 2) n = (int)sizeof msg - 2;
  msg[n++] = '\n';
  ssize_t w = write(2, msg, (size_t)n);
  (void)w;
  return status;
}

/* A name the filesystem cannot take (ENAMETOOLONG) is the archive's fault: refused, in dockerd's
 * words; any other failure of `what` on `shown` is the guest's. Reads errno. */
static int fail_create(const char *what, const char *shown) {
  int err = errno;
  if (err == ENAMETOOLONG) return failf(EX_REFUSED, "invalid path: open %s: file name too long", shown);
  return failf(EX_FAIL, "%s%s%s: %s", what, what[0] ? " " : "", shown, strerror(err));
}

static int errno_status(int err) { return err == ENOENT || err == ENOTDIR ? EX_NOENT : EX_FAIL; }

/*
 * chroot into a clone of the container's root mount alone, or of the mount at `root` (a
 * volume's; resolved in the container's root as its mount point was, no magic link followed).
 */
static int enter_root(const char *root) {
  int t;
  if (root[0]) {
    int top = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int at = top < 0 ? -1 : open_in_root(top, root, O_PATH | O_DIRECTORY, 0);
    if (top >= 0) close(top);
    if (at < 0) return -1;
    t = (int)syscall(SYS_open_tree, at, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    close(at);
    if (t < 0) return -1;
  } else {
    t = (int)syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  }
  if (t >= 0) {
    if (fchdir(t) < 0) return -1;
    close(t);
  } else if (chdir("/") < 0) {
    return -1;
  }
  if (chroot(".") < 0 || chdir("/") < 0) return -1;
  return 0;
}

/* ---- writing a tree ------------------------------------------------------------------- */

struct walker {
  int layer;        /* LAYER: whiteouts and opaque directories become .wh. entries */
  int headers_only; /* no file data */
  struct link {
    dev_t dev;
    ino_t ino;
    char *name;
  } *links;
  size_t nlinks, caplinks;
};

static const char *first_name(struct walker *w, const struct stat *st, const char *name) {
  for (size_t i = 0; i < w->nlinks; i++)
    if (w->links[i].dev == st->st_dev && w->links[i].ino == st->st_ino) return w->links[i].name;
  if (w->nlinks == w->caplinks) {
    size_t cap = w->caplinks ? w->caplinks * 2 : 64;
    struct link *l = realloc(w->links, cap * sizeof *l);
    if (!l) return NULL;
    w->links = l;
    w->caplinks = cap;
  }
  char *copy = strdup(name);
  if (!copy) return NULL;
  w->links[w->nlinks++] = (struct link){st->st_dev, st->st_ino, copy};
  return NULL;
}

static void fill(struct tar_entry *e, const struct stat *st, const char *name, char type) {
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->type = type;
  e->mode = st->st_mode & 07777;
  e->uid = st->st_uid;
  e->gid = st->st_gid;
  e->mtime = st->st_mtim.tv_sec;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The sorted names of directory fd (which it takes over). */
static char **list_dir(int fd, size_t *count) {
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return NULL;
  }
  size_t n = 0, cap = 16;
  char **v = malloc(cap * sizeof *v);
  struct dirent *de;
  while (v && (de = readdir(d))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    if (n == cap) {
      char **nv = realloc(v, (cap *= 2) * sizeof *v);
      if (!nv) break;
      v = nv;
    }
    if (!(v[n] = strdup(de->d_name))) break;
    n++;
  }
  closedir(d);
  if (v) qsort(v, n, sizeof *v, cmp_names);
  *count = n;
  return v;
}

static int copy_file(int fd, uint64_t size) {
  uint8_t buf[65536];
  uint64_t left = size;
  while (left > 0) {
    size_t want = left > sizeof buf ? sizeof buf : (size_t)left;
    ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) { /* shrunk meanwhile: zeros up to the announced size */
      memset(buf, 0, want);
      n = (ssize_t)want;
    }
    if (tar_write(buf, (size_t)n) < 0) return -1;
    left -= (uint64_t)n;
  }
  return tar_pad(size);
}

/*
 * Entry `name` of directory `dirfd` (stat `st`) as `tarname` ("" for a directory: its
 * contents only). `follow`: the entry may be a symlink to follow (the top of a GET).
 */
static int walk(struct walker *w, int dirfd, const char *name, const struct stat *st, const char *tarname, int follow,
                int depth) {
  struct tar_entry e;
  if (strlen(tarname) + 2 > PV_TAR_NAME_MAX) return failf(EX_FAIL, "%s: name too long", tarname);
  if (w->layer && S_ISCHR(st->st_mode) && st->st_rdev == 0) {
    /* An overlay whiteout: the image layer's deletion marker. */
    char wh[PV_TAR_NAME_MAX + 8];
    const char *slash = strrchr(tarname, '/');
    if (slash) snprintf(wh, sizeof wh, "%.*s/.wh.%s", (int)(slash - tarname), tarname, slash + 1);
    else snprintf(wh, sizeof wh, ".wh.%s", tarname);
    struct stat z = {.st_mode = S_IFREG | 0600, .st_mtim = st->st_mtim};
    fill(&e, &z, wh, '0');
    return tar_header(&e) < 0 ? EX_FAIL : EX_OK;
  }
  if (S_ISDIR(st->st_mode)) {
    if (depth > MAX_DEPTH) return failf(EX_FAIL, "%s: directories nested too deep", tarname);
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
    if (fd < 0) return errno == ENOENT ? EX_OK : failf(EX_FAIL, "open %s: %s", tarname, strerror(errno));
    if (tarname[0]) {
      char dn[PV_TAR_NAME_MAX + 2];
      snprintf(dn, sizeof dn, "%s/", tarname);
      fill(&e, st, dn, '5');
      if (tar_header(&e) < 0) {
        close(fd);
        return EX_FAIL;
      }
      char v[4];
      if (w->layer && fgetxattr(fd, "trusted.overlay.opaque", v, sizeof v) == 1 && v[0] == 'y') {
        struct stat z = {.st_mode = S_IFREG | 0600, .st_mtim = st->st_mtim};
        snprintf(dn, sizeof dn, "%s/.wh..wh..opq", tarname);
        fill(&e, &z, dn, '0');
        if (tar_header(&e) < 0) {
          close(fd);
          return EX_FAIL;
        }
      }
    }
    int sub = dup(fd);
    size_t n = 0;
    char **names = sub < 0 ? NULL : list_dir(sub, &n);
    if (!names) {
      close(fd);
      return failf(EX_FAIL, "read directory %s: %s", tarname, strerror(errno));
    }
    int rc = EX_OK;
    for (size_t i = 0; i < n; i++) {
      struct stat cst;
      if (rc == EX_OK && fstatat(fd, names[i], &cst, AT_SYMLINK_NOFOLLOW) == 0) {
        char child[PV_TAR_NAME_MAX + 2];
        if (tarname[0]) snprintf(child, sizeof child, "%s/%s", tarname, names[i]);
        else snprintf(child, sizeof child, "%s", names[i]);
        rc = walk(w, fd, names[i], &cst, child, 0, depth + 1);
      }
      free(names[i]);
    }
    free(names);
    close(fd);
    return rc;
  }
  if (S_ISSOCK(st->st_mode)) return EX_OK; /* cannot be archived (dockerd skips them too) */
  if (st->st_nlink > 1) {
    const char *first = first_name(w, st, tarname);
    if (first) {
      fill(&e, st, tarname, '1');
      snprintf(e.link, sizeof e.link, "%s", first);
      return tar_header(&e) < 0 ? EX_FAIL : EX_OK;
    }
  }
  if (S_ISREG(st->st_mode)) {
    fill(&e, st, tarname, '0');
    if (w->headers_only) return tar_header(&e) < 0 ? EX_FAIL : EX_OK;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
    if (fd < 0) return errno == ENOENT ? EX_OK : failf(EX_FAIL, "open %s: %s", tarname, strerror(errno));
    e.size = (uint64_t)st->st_size;
    int rc = tar_header(&e) < 0 || copy_file(fd, e.size) < 0 ? failf(EX_FAIL, "read %s: %s", tarname, strerror(errno)) : EX_OK;
    close(fd);
    return rc;
  }
  if (S_ISLNK(st->st_mode)) {
    fill(&e, st, tarname, '2');
    ssize_t n = readlinkat(dirfd, name, e.link, sizeof e.link - 1);
    if (n < 0) return errno == ENOENT ? EX_OK : failf(EX_FAIL, "readlink %s: %s", tarname, strerror(errno));
    e.link[n] = 0;
    return tar_header(&e) < 0 ? EX_FAIL : EX_OK;
  }
  if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) || S_ISFIFO(st->st_mode)) {
    fill(&e, st, tarname, S_ISCHR(st->st_mode) ? '3' : S_ISBLK(st->st_mode) ? '4' : '6');
    e.devmajor = major(st->st_rdev);
    e.devminor = minor(st->st_rdev);
    return tar_header(&e) < 0 ? EX_FAIL : EX_OK;
  }
  return EX_OK;
}

static int finish(int rc) {
  if (rc == EX_OK && tar_finish() < 0) return failf(EX_FAIL, "write the archive: %s", strerror(errno));
  tar_flush();
  return rc;
}

/*
 * `p` with every symlink in it resolved inside the root (the child is chrooted into the
 * container's), as dockerd's FollowSymlinkInScope: a name that does not exist is taken as it
 * is written, so a dangling link resolves to where it points (realpath(3) fails on it, and
 * docker cp -L would then be sent an empty target: the CLI copies `/`). `..` never climbs
 * above the root. -1 with errno set (ELOOP after 255 links, ENAMETOOLONG).
 */
static int resolve_in_root(const char *p, char *out, size_t outsz) {
  char rest[PATH_MAX], next[PATH_MAX], cur[PATH_MAX] = "", link[PATH_MAX];
  int links = 0;
  if (snprintf(rest, sizeof rest, "%s", p) >= (int)sizeof rest) return errno = ENAMETOOLONG, -1;
  const char *r = rest;
  for (;;) {
    while (*r == '/') r++;
    if (!*r) break;
    size_t len = strcspn(r, "/"), cl = strlen(cur);
    if (len > NAME_MAX || cl + 1 + len >= sizeof cur) return errno = ENAMETOOLONG, -1;
    const char *comp = r;
    r += len;
    if (len == 1 && comp[0] == '.') continue;
    if (len == 2 && comp[0] == '.' && comp[1] == '.') {
      char *slash = strrchr(cur, '/');
      if (slash) *slash = 0;
      continue;
    }
    cur[cl] = '/';
    memcpy(cur + cl + 1, comp, len);
    cur[cl + 1 + len] = 0;
    struct stat st;
    if (lstat(cur, &st) < 0) {
      if (errno == ENOENT) continue;
      return -1;
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++links > 255) return errno = ELOOP, -1;
    ssize_t n = readlink(cur, link, sizeof link - 1);
    if (n < 0) return -1;
    link[n] = 0;
    cur[link[0] == '/' ? 0 : cl] = 0;
    if (snprintf(next, sizeof next, "%s/%s", link, r) >= (int)sizeof next) return errno = ENAMETOOLONG, -1;
    memcpy(rest, next, strlen(next) + 1);
    r = rest;
  }
  if (snprintf(out, outsz, "%s", cur[0] ? cur : "/") >= (int)outsz) return errno = ENAMETOOLONG, -1;
  return 0;
}

static int run_stat(const struct archive_job *j) {
  struct stat st;
  if (((j->flags & PV_ARCHIVE_F_FOLLOW) ? stat(j->path, &st) : lstat(j->path, &st)) < 0)
    return failf(errno_status(errno), "stat %s: %s", j->path, strerror(errno));
  char target[PATH_MAX] = "";
  if (S_ISLNK(st.st_mode) && resolve_in_root(j->path, target, sizeof target) < 0)
    return failf(EX_FAIL, "resolve %s: %s", j->path, strerror(errno));
  char out[PATH_MAX + 128];
  int n = snprintf(out, sizeof out, "%u %llu %lld %ld\n%s", (unsigned)st.st_mode, (unsigned long long)st.st_size,
                   (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec, target);
  if (n < 0 || tar_write(out, (size_t)n) < 0 || tar_flush() < 0) return failf(EX_FAIL, "write: %s", strerror(errno));
  return EX_OK;
}

static int run_get(const struct archive_job *j, int whole) {
  struct walker w = {0};
  const char *path = whole ? "/" : j->path;
  int follow = whole || (j->flags & PV_ARCHIVE_F_FOLLOW);
  struct stat st;
  if ((follow ? stat(path, &st) : lstat(path, &st)) < 0)
    return failf(errno_status(errno), "stat %s: %s", path, strerror(errno));
  return finish(walk(&w, AT_FDCWD, path, &st, whole ? "" : j->name, follow, 0));
}

static int run_layer(const struct archive_job *j, int upper_fd) {
  if (upper_fd < 0) return failf(EX_FAIL, "the container has no upper disk");
  struct walker w = {.layer = 1, .headers_only = (j->flags & PV_ARCHIVE_F_HEADERS_ONLY) != 0};
  struct stat st;
  errno = 0;
  if (fstatat(upper_fd, "upper", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
    return failf(EX_FAIL, "the upper directory: %s", strerror(errno ? errno : ENOTDIR));
  return finish(walk(&w, upper_fd, "upper", &st, "", 0, 0));
}

/* ---- extracting ----------------------------------------------------------------------- */

/* Go's filepath.Clean of a relative name into out; -1 when it climbs above its start. */
static int clean_name(const char *in, char *out, size_t max) {
  size_t len = 0;
  const char *p = in;
  out[0] = 0;
  while (*p) {
    while (*p == '/') p++;
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t n = (size_t)(p - s);
    if (n == 0 || (n == 1 && s[0] == '.')) continue;
    if (n == 2 && s[0] == '.' && s[1] == '.') {
      if (len == 0) return -1;
      while (len > 0 && out[len - 1] != '/') len--;
      if (len > 0) len--;
      out[len] = 0;
      continue;
    }
    if (len + (len ? 1 : 0) + n + 1 > max) return -1;
    if (len) out[len++] = '/';
    memcpy(out + len, s, n);
    len += n;
    out[len] = 0;
  }
  return 0;
}

/* Remove `name` of dirfd, a directory with everything in it. */
static int remove_tree(int dirfd, const char *name, int depth) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR || depth > MAX_DEPTH) return -1;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  int sub = dup(fd);
  size_t n = 0;
  char **names = sub < 0 ? NULL : list_dir(sub, &n);
  int rc = names ? 0 : -1;
  for (size_t i = 0; i < n; i++) {
    if (rc == 0) rc = remove_tree(fd, names[i], depth + 1);
    free(names[i]);
  }
  free(names);
  close(fd);
  return rc == 0 ? unlinkat(dirfd, name, AT_REMOVEDIR) : -1;
}

/* Open the parent directory of `rel` (under dest), making missing directories. */
static int open_parent(int dest, const char *rel) {
  char buf[PV_TAR_NAME_MAX + 1];
  snprintf(buf, sizeof buf, "%s", rel);
  char *slash = strrchr(buf, '/');
  if (!slash) return dup(dest);
  *slash = 0;
  int fd = openat(dest, buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0 || errno != ENOENT) return fd;
  for (char *s = buf; (s = strchr(s, '/')) || 1; s++) {
    if (s) *s = 0;
    if (mkdirat(dest, buf, 0755) < 0 && errno != EEXIST) return -1;
    if (!s) break;
    *s = '/';
  }
  return openat(dest, buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

struct dir_time {
  char *rel;
  int64_t mtime;
};

static int run_put(const struct archive_job *j) {
  struct stat st;
  if (stat(j->path, &st) < 0) return failf(errno_status(errno), "stat %s: %s", j->path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return failf(EX_NOTDIR, "extraction point is not a directory");
  char real[PATH_MAX];
  if (!realpath(j->path, real)) return failf(EX_FAIL, "resolve %s: %s", j->path, strerror(errno));
  int dest = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dest < 0) return failf(errno_status(errno), "open %s: %s", real, strerror(errno));
  int no_overwrite = (j->flags & PV_ARCHIVE_F_NO_OVERWRITE_DIR) != 0;
  struct dir_time *dirs = NULL;
  size_t ndirs = 0, capdirs = 0;
  static struct tar_entry e;
  char rel[PV_TAR_NAME_MAX + 1], target[PV_TAR_NAME_MAX + 1], shown[PATH_MAX + PV_TAR_NAME_MAX + 2];
  int rc = EX_OK, r;
  while (rc == EX_OK && (r = tar_next(&e)) == 1) {
    if (clean_name(e.name, rel, sizeof rel) < 0) {
      rc = failf(EX_REFUSED, "invalid path: \"%s\" is outside of the destination", e.name);
      break;
    }
    snprintf(shown, sizeof shown, "%s%s%s", real, strcmp(real, "/") ? "/" : "", rel);
    uint64_t data = e.type == '0' ? e.size : 0;
    int known = strchr("0123456", e.type) != NULL;
    if (rel[0] == 0 || !known) {
      if (tar_skip(data + (512 - data % 512) % 512) < 0) rc = failf(EX_REFUSED, "invalid tar archive: unexpected EOF");
      continue;
    }
    /* A component the filesystem cannot name is refused before any directory above it is made. */
    for (const char *c = rel; *c;) {
      size_t n = strcspn(c, "/");
      if (n > NAME_MAX) {
        errno = ENAMETOOLONG;
        rc = fail_create("", shown);
        break;
      }
      c += n + (c[n] == '/');
    }
    if (rc != EX_OK) break;
    int pfd = open_parent(dest, rel);
    if (pfd < 0) {
      rc = fail_create("", shown);
      break;
    }
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    struct stat old;
    int is_dir = e.type == '5', keep = 0;
    if (fstatat(pfd, base, &old, AT_SYMLINK_NOFOLLOW) == 0) {
      if (no_overwrite && S_ISDIR(old.st_mode) && !is_dir)
        rc = failf(EX_REFUSED, "cannot overwrite directory \"%s\" with non-directory \"%s\"", shown, e.name);
      else if (no_overwrite && !S_ISDIR(old.st_mode) && is_dir)
        rc = failf(EX_REFUSED, "cannot overwrite non-directory \"%s\" with directory \"%s\"", shown, e.name);
      else if (S_ISDIR(old.st_mode) && is_dir)
        keep = 1;
      else if (remove_tree(pfd, base, 0) < 0)
        rc = failf(EX_FAIL, "remove %s: %s", shown, strerror(errno));
    }
    uint32_t uid = (j->flags & PV_ARCHIVE_F_CHOWN) ? j->uid : e.uid;
    uint32_t gid = (j->flags & PV_ARCHIVE_F_CHOWN) ? j->gid : e.gid;
    int made = 0;
    if (rc == EX_OK) {
      switch (e.type) {
      case '0': {
        int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
          rc = fail_create("create", shown);
          break;
        }
        uint8_t buf[65536];
        uint64_t left = e.size;
        while (left > 0 && rc == EX_OK) {
          size_t want = left > sizeof buf ? sizeof buf : (size_t)left;
          if (tar_read_full(buf, want) != 1) rc = failf(EX_REFUSED, "invalid tar archive: unexpected EOF");
          else {
            size_t off = 0;
            while (off < want && rc == EX_OK) {
              ssize_t n = write(fd, buf + off, want - off);
              if (n < 0 && errno == EINTR) continue;
              if (n <= 0) rc = failf(EX_FAIL, "write %s: %s", shown, strerror(n < 0 ? errno : EIO));
              else off += (size_t)n;
            }
            left -= want;
          }
        }
        close(fd);
        if (rc == EX_OK && tar_skip((512 - e.size % 512) % 512) < 0)
          rc = failf(EX_REFUSED, "invalid tar archive: unexpected EOF");
        /* A file whose data did not all come (a tar cut short, a client gone) is not kept half. */
        if (rc != EX_OK) unlinkat(pfd, base, 0);
        made = 1;
        break;
      }
      case '5':
        if (!keep && mkdirat(pfd, base, 0700) < 0) rc = fail_create("mkdir", shown);
        made = 1;
        break;
      case '2':
        if (symlinkat(e.link, pfd, base) < 0) rc = fail_create("symlink", shown);
        made = 1;
        break;
      case '1':
        if (clean_name(e.link, target, sizeof target) < 0 || target[0] == 0) {
          rc = failf(EX_REFUSED, "invalid hardlink \"%s\" -> \"%s\": outside of the destination", e.name, e.link);
          break;
        }
        if (linkat(dest, target, pfd, base, 0) < 0)
          rc = errno == ENAMETOOLONG ? fail_create("link", shown)
                                     : failf(errno == ENOENT ? EX_REFUSED : EX_FAIL, "invalid hardlink \"%s\" -> \"%s\": %s",
                                             e.name, e.link, strerror(errno));
        break;
      default: { /* '3' '4' '6': a node of the guest's own kernel (the root is mounted nodev) */
        mode_t t = e.type == '3' ? S_IFCHR : e.type == '4' ? S_IFBLK : S_IFIFO;
        if (mknodat(pfd, base, t | 0600, e.type == '6' ? 0 : makedev(e.devmajor, e.devminor)) < 0)
          rc = fail_create("mknod", shown);
        made = 1;
      }
      }
    }
    if (rc == EX_OK && made) {
      struct timespec ts[2] = {{.tv_sec = e.mtime}, {.tv_sec = e.mtime}};
      if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) rc = failf(EX_FAIL, "chown %s: %s", shown, strerror(errno));
      else if (e.type != '2' && fchmodat(pfd, base, e.mode & 07777, 0) < 0)
        rc = failf(EX_FAIL, "chmod %s: %s", shown, strerror(errno));
      else if (e.type == '5') {
        if (ndirs == capdirs) {
          capdirs = capdirs ? capdirs * 2 : 64;
          struct dir_time *nd = realloc(dirs, capdirs * sizeof *dirs);
          if (!nd) rc = failf(EX_FAIL, "out of memory");
          else dirs = nd;
        }
        if (rc == EX_OK && (dirs[ndirs].rel = strdup(rel))) dirs[ndirs++].mtime = e.mtime;
      } else
        utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
    }
    close(pfd);
  }
  if (rc == EX_OK && r < 0) rc = failf(EX_REFUSED, "invalid tar archive: malformed header");
  for (size_t i = ndirs; i-- > 0;) {
    struct timespec ts[2] = {{.tv_sec = dirs[i].mtime}, {.tv_sec = dirs[i].mtime}};
    if (rc == EX_OK) utimensat(dest, dirs[i].rel, ts, AT_SYMLINK_NOFOLLOW);
    free(dirs[i].rel);
  }
  free(dirs);
  close(dest);
  return rc;
}

int archive_run(const struct archive_job *j, int upper_fd) {
  if (j->kind == PV_ARCHIVE_LAYER) return run_layer(j, upper_fd);
  if (enter_root(j->root) < 0)
    return failf(errno_status(errno), "enter %s: %s", j->root[0] ? j->root : "the container's root", strerror(errno));
  switch (j->kind) {
  case PV_ARCHIVE_STAT:
    return run_stat(j);
  case PV_ARCHIVE_GET:
    return run_get(j, 0);
  case PV_ARCHIVE_EXPORT:
    return run_get(j, 1);
  case PV_ARCHIVE_PUT:
    return run_put(j);
  default:
    return failf(EX_FAIL, "unknown archive kind %u", j->kind);
  }
}
