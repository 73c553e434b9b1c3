/*
 * podvisor-lock-holder: takes on the host the POSIX locks and flocks that a VM's guest kernel
 * asks for on files of its 9p shares (guest/kernel/patches/0005-9p-host-locks.patch; the agent
 * relays them: guest/agent/locks.c), so that they exclude other VMs and the host's own
 * processes. QEMU's 9p server grants every lock without taking one. One holder per cloned VM,
 * started by the daemon once the clone's state is loaded (src/vm/qemu/lock-holder.ts):
 *
 *   podvisor-lock-holder SOCKET TAG=DIR...
 *
 * It connects to SOCKET (the host end of the VM's virtio-serial port org.podvisor.locks) and
 * answers each request, in order:
 *  - the file: TAG is the 9p share's mount tag in the guest, DIR its directory on the host; the
 *    path is resolved beneath DIR without following any symlink (openat2 RESOLVE_BENEATH |
 *    RESOLVE_NO_SYMLINKS), and must name a regular file;
 *  - the owner: each guest lock owner (a process, or an open file for OFD locks) gets an open
 *    file of its own per host file, and its locks are OFD locks on it, so owners exclude each
 *    other as they do in one kernel, and exclude the host's processes' locks too;
 *  - the access: that file is opened read-only unless the owner asks for a POSIX write lock,
 *    which (as in a kernel) needs write access. A read lock or a flock never opens a file for
 *    writing: on an overlay (a container's rootfs) that would copy the file up into the upper
 *    layer, a write into even a `--read-only` container's upper layer. An owner holding read
 *    locks that asks for a write lock gets a read-write file in place of its read-only one,
 *    its read locks moved onto it first (read locks do not conflict), so none is lost;
 *  - LOCK: F_OFD_SETLK, which never waits (the guest retries a blocked lock itself); an unlock
 *    of the whole file closes the owner's file;
 *  - GETLOCK: F_OFD_GETLK;
 *  - FLOCK: flock(2) on the owner's (an open file's) own file, apart from its OFD locks;
 *    LOCK_NB always, like LOCK; its unlock closes that file;
 *  - a path it cannot resolve (a share it was not given, a name gone since) is answered with
 *    success and no conflict: the guest's own lock stands, as it did without a holder.
 * Nothing from the guest is trusted: sizes and values are checked, paths stay beneath their
 * directory, at most MAX_HELD files are held, and a malformed request ends the connection.
 * When QEMU goes (the VM is gone), the socket closes, the holder exits, and every lock the VM
 * held goes with its files.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define MAGIC 0x4b4c5650u
#define OP_LOCK 1
#define OP_GETLOCK 2
#define OP_FLOCK 3
#define TYPE_RDLCK 0
#define TYPE_WRLCK 1
#define TYPE_UNLCK 2
#define STATUS_SUCCESS 0
#define STATUS_BLOCKED 1
#define STATUS_ERROR 2
#define MAX_TAG 64
#define MAX_PATH 4096
#define MAX_SHARES 8
#define MAX_HELD 4096

/* The wire format of the guest kernel (podvisor_locks.c), little-endian. */
struct request {
  uint32_t magic, id;
  uint8_t op, type;
  uint16_t tag_len;
  uint32_t path_len;
  uint64_t start, length, owner;
} __attribute__((packed));

struct reply {
  uint32_t magic, id;
  uint8_t status, type;
  uint16_t pad;
  uint32_t pad2;
  uint64_t start, length;
} __attribute__((packed));

struct share {
  char tag[MAX_TAG + 1];
  int dir;
};

/* An owner's open file of one host file, on which its OFD locks are. */
struct held {
  int used;
  int flock; /* a flock's file, apart from the same owner's OFD locks */
  uint64_t owner;
  dev_t dev;
  ino_t ino;
  int fd;
  int writable; /* opened read-write (a POSIX write lock needs it) */
};

static struct share shares[MAX_SHARES];
static int nshares;
static struct held held[MAX_HELD];

/* All `n` bytes read into `buf` (or, `out`, written from it): 0, or -1 at the end or an error. */
static int transfer(int fd, void *buf, size_t n, int out) {
  char *p = buf;
  while (n > 0) {
    ssize_t r = out ? write(fd, p, n) : read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* The regular file `path` beneath the share `tag`, as an O_PATH descriptor; -1 otherwise. */
static int resolve(const char *tag, const char *path, struct stat *st) {
  int dir = -1;
  for (int i = 0; i < nshares; i++)
    if (strcmp(shares[i].tag, tag) == 0) dir = shares[i].dir;
  while (*path == '/') path++;
  if (dir < 0 || *path == '\0') return -1;
  struct open_how how = {
      .flags = O_PATH | O_CLOEXEC | O_NOFOLLOW,
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  int fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof how);
  if (fd < 0) return -1;
  if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    return -1;
  }
  return fd;
}

static struct held *find(int flock, uint64_t owner, const struct stat *st) {
  for (int i = 0; i < MAX_HELD; i++)
    if (held[i].used && held[i].flock == flock && held[i].owner == owner && held[i].dev == st->st_dev &&
        held[i].ino == st->st_ino)
      return &held[i];
  return NULL;
}

/* The file of the O_PATH `pathfd` opened again with `flags` (a new open file of its own). */
static int reopen(int pathfd, int flags) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", pathfd);
  return open(proc, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

/* A file of its own for `owner` (opened again from the O_PATH `pathfd`, which is closed):
 * read-write when `writable` (falling back to read-only, where the write lock then fails as a
 * kernel's would), read-only otherwise. */
static struct held *take(int flock, uint64_t owner, const struct stat *st, int pathfd, int writable) {
  struct held *h = NULL;
  for (int i = 0; i < MAX_HELD && !h; i++)
    if (!held[i].used) h = &held[i];
  int fd = h && writable ? reopen(pathfd, O_RDWR) : -1;
  if (fd < 0) writable = 0;
  if (h && fd < 0) fd = reopen(pathfd, O_RDONLY);
  close(pathfd);
  if (fd < 0) return NULL;
  *h = (struct held){
      .used = 1, .flock = flock, .owner = owner, .dev = st->st_dev, .ino = st->st_ino, .fd = fd, .writable = writable};
  return h;
}

/* Copy the OFD read locks of `from` onto `to`, as the kernel lists them in /proc/self/fdinfo:
 * 0, or -1 when one could not be read or taken. */
static int copy_read_locks(int from, int to) {
  char name[64], line[256];
  snprintf(name, sizeof name, "/proc/self/fdinfo/%d", from);
  FILE *f = fopen(name, "re");
  if (!f) return -1;
  int ok = 0;
  while (ok == 0 && fgets(line, sizeof line, f)) {
    char *l = strstr(line, "OFDLCK");
    if (strncmp(line, "lock:", 5) != 0 || !l) continue;
    char type[16], end[32];
    long long start;
    /* "OFDLCK ADVISORY  READ -1 fe:00:1234 5 14" (or "... 100 EOF") */
    if (sscanf(l, "OFDLCK %*s %15s %*d %*s %lld %31s", type, &start, end) != 3 || strcmp(type, "READ") != 0 ||
        start < 0) {
      ok = -1;
      break;
    }
    long long last = strcmp(end, "EOF") == 0 ? -1 : strtoll(end, NULL, 10);
    struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = start,
                       .l_len = last < 0 ? 0 : last - start + 1};
    if (last >= 0 && last < start) ok = -1;
    else if (fcntl(to, F_OFD_SETLK, &fl) != 0) ok = -1;
  }
  fclose(f);
  return ok;
}

/* Give `h` (a read-only file with read locks only) a read-write file of the O_PATH `pathfd`
 * holding the same locks: 0, or -1 (then `h` is as it was). */
static int make_writable(struct held *h, int pathfd) {
  int fd = reopen(pathfd, O_RDWR);
  if (fd < 0) return -1;
  if (copy_read_locks(h->fd, fd) != 0) {
    close(fd);
    return -1;
  }
  close(h->fd);
  h->fd = fd;
  h->writable = 1;
  return 0;
}

static void drop(struct held *h) {
  close(h->fd);
  h->used = 0;
}

static short lock_type(uint8_t t) { return t == TYPE_RDLCK ? F_RDLCK : t == TYPE_WRLCK ? F_WRLCK : F_UNLCK; }

static void answer(const struct request *rq, const char *tag, const char *path, struct reply *rp) {
  rp->status = STATUS_ERROR;
  rp->type = TYPE_UNLCK;
  if (rq->start > INT64_MAX || rq->length > INT64_MAX || rq->length > (uint64_t)INT64_MAX - rq->start) return;
  struct stat st;
  int pathfd = resolve(tag, path, &st);
  if (pathfd < 0) {
    /* A file this holder cannot reach (a share it was not given, a name gone since): the
     * guest's own lock stands, as without a holder; nothing conflicts here. */
    rp->status = STATUS_SUCCESS;
    return;
  }
  int is_flock = rq->op == OP_FLOCK;
  struct held *h = find(is_flock, rq->owner, &st);
  struct flock fl = {.l_type = lock_type(rq->type), .l_whence = SEEK_SET, .l_start = (off_t)rq->start,
                     .l_len = (off_t)rq->length};
  if (rq->op != OP_GETLOCK && rq->type == TYPE_UNLCK && !h) {
    close(pathfd); /* nothing of this owner's here to unlock */
    rp->status = STATUS_SUCCESS;
    return;
  }
  if (rq->op == OP_GETLOCK) {
    /* Tested on the owner's file, or on a new one that holds nothing, closed after. */
    int fd = h ? h->fd : reopen(pathfd, O_RDONLY);
    close(pathfd);
    if (fd >= 0 && fl.l_type != F_UNLCK && fcntl(fd, F_OFD_GETLK, &fl) == 0) {
      rp->status = STATUS_SUCCESS;
      rp->type = fl.l_type == F_RDLCK ? TYPE_RDLCK : fl.l_type == F_WRLCK ? TYPE_WRLCK : TYPE_UNLCK;
      rp->start = (uint64_t)fl.l_start;
      rp->length = (uint64_t)fl.l_len;
    }
    if (fd >= 0 && !h) close(fd);
    return;
  }
  int fresh = !h;
  int wants_write = !is_flock && rq->type == TYPE_WRLCK;
  if (h) {
    /* Failing, the lock below fails on the read-only file (EBADF), as a kernel's would. */
    if (wants_write && !h->writable) make_writable(h, pathfd);
    close(pathfd);
  } else if (!(h = take(is_flock, rq->owner, &st, pathfd, wants_write)))
    return;
  if (is_flock) {
    int how = rq->type == TYPE_RDLCK ? LOCK_SH : rq->type == TYPE_WRLCK ? LOCK_EX : LOCK_UN;
    if (flock(h->fd, how | LOCK_NB) == 0)
      rp->status = STATUS_SUCCESS;
    else if (errno == EWOULDBLOCK)
      rp->status = STATUS_BLOCKED;
    if (rq->type == TYPE_UNLCK || (fresh && rp->status != STATUS_SUCCESS)) drop(h);
    return;
  }
  if (fcntl(h->fd, F_OFD_SETLK, &fl) == 0)
    rp->status = STATUS_SUCCESS;
  else if (errno == EAGAIN || errno == EACCES)
    rp->status = STATUS_BLOCKED;
  /* A file that holds nothing is not kept: the whole file unlocked, or a first lock refused. */
  if ((rq->type == TYPE_UNLCK && rq->start == 0 && rq->length == 0) || (fresh && rp->status != STATUS_SUCCESS))
    drop(h);
}

static int connect_to(const char *sock) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(sock) >= sizeof a.sun_path) return -1;
  strcpy(a.sun_path, sock);
  for (int i = 0; i < 100; i++) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0) return s;
    if (s >= 0) close(s);
    usleep(100 * 1000);
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: podvisor-lock-holder SOCKET TAG=DIR...\n");
    return 2;
  }
  /* Room for MAX_HELD files besides its own few. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < MAX_HELD + 64) {
    rl.rlim_cur = rl.rlim_max < MAX_HELD + 64 ? rl.rlim_max : MAX_HELD + 64;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  for (int i = 2; i < argc && nshares < MAX_SHARES; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq || eq - argv[i] > MAX_TAG) continue;
    int dir = open(eq + 1, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
      fprintf(stderr, "podvisor-lock-holder: %s: %s\n", eq + 1, strerror(errno));
      continue;
    }
    memcpy(shares[nshares].tag, argv[i], (size_t)(eq - argv[i]));
    shares[nshares++].dir = dir;
  }
  int s = connect_to(argv[1]);
  if (s < 0) {
    fprintf(stderr, "podvisor-lock-holder: cannot connect to %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  static char tag[MAX_TAG + 1], path[MAX_PATH + 1];
  for (;;) {
    struct request rq;
    if (transfer(s, &rq, sizeof rq, 0) < 0) return 0; /* the VM is gone */
    if (rq.magic != MAGIC || rq.tag_len > MAX_TAG || rq.path_len > MAX_PATH ||
        (rq.op != OP_LOCK && rq.op != OP_GETLOCK && rq.op != OP_FLOCK) || rq.type > TYPE_UNLCK) {
      fprintf(stderr, "podvisor-lock-holder: a malformed request; closing\n");
      return 1;
    }
    if (transfer(s, tag, rq.tag_len, 0) < 0 || transfer(s, path, rq.path_len, 0) < 0) return 0;
    tag[rq.tag_len] = '\0';
    path[rq.path_len] = '\0';
    struct reply rp = {.magic = MAGIC, .id = rq.id};
    if (memchr(tag, '\0', rq.tag_len) == NULL && memchr(path, '\0', rq.path_len) == NULL)
      answer(&rq, tag, path, &rp);
    else
      rp.status = STATUS_ERROR;
    if (transfer(s, &rp, sizeof rp, 1) < 0) return 0;
  }
}
