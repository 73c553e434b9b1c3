/*
 * podvisor-fs-events - the host's watch of the files a VM's guest watches in its shares
 * (src/pod/share-events.ts starts one per such VM).
 *
 *   podvisor-fs-events QEMU_PID [UID_BASE UID_COUNT]
 *                                      (fd 3: the VM's share, a directory the daemon opened)
 *
 * The guest kernel sees only its own writes to a 9p share: an edit made on the host, or by
 * another VM, reaches its files but none of its inotify watches. When a guest process adds a
 * watch on a share's file, the daemon asks this program to watch the same file on the host,
 * and sends each event it reports to the guest, whose kernel delivers it to its watches. The
 * watch is fanotify's (with the directory's handle and the entry's name), because fanotify
 * says which process caused the event: QEMU_PID's own (the guest's writes, which its kernel
 * has already reported) are left out. A rename (FAN_RENAME) becomes inotify's MOVED_FROM and
 * MOVED_TO with a cookie of ours.
 *
 * Which other process is a QEMU (another VM's 9p server, whose file making is one event under
 * one kernel: see report()) is told by what the process cannot change about itself: its uids,
 * all in UID_BASE..UID_BASE+UID_COUNT-1 (the host ids jailed QEMUs run as, which no host
 * account uses: src/vm/qemu/confinement/jail.ts), or root's with a command name of QEMU's (an
 * unjailed QEMU; root is trusted anyway). A command name alone, which any process sets for
 * itself, proves nothing. The process is the one that caused the event, pinned by the pidfd
 * fanotify gives with it (FAN_REPORT_PIDFD): its /proc/PID is read, then the pidfd is checked
 * to be still alive, so the pid read was not another process's by then; a process gone, or a
 * kernel without pidfds in events, is no QEMU. What is read is bounded (one page of status).
 *
 * stdin, from the daemon: one request per mark to add,
 *   u32 id, u16 path length, path (relative to the share: `.` for the share itself), which this
 *   program resolves beneath fd 3 itself, in one openat2 call with RESOLVE_BENEATH,
 *   RESOLVE_NO_SYMLINKS and RESOLVE_NO_MAGICLINKS: a symlink, a `..` or an absolute path the
 *   guest planted is refused (ELOOP, EXDEV), and nothing outside the share is reached
 * stdout, to the daemon: records of
 *   u8 kind (1 = event, 2 = the answer to a request), u32 id, u32 mask (an event's inotify
 *   bits; an answer's errno, 0 when the mark is on), u32 cookie, u16 name length, name
 * (little-endian). An event about the watched file itself has no name. The program ends at
 * stdin's end.
 *
 * Once fanotify is set up, it confines itself (confine() below): it runs on as nobody with one
 * capability, CAP_DAC_READ_SEARCH, to read any share's files (no jail of namespaces holds it:
 * docs/security.md), so it cannot change a file that is not nobody's; without CAP_SYS_PTRACE
 * the kernel refuses it every other process's /proc/PID/fd, mem and environ (ptrace's access
 * checks: they are root's, and it is not dumpable itself); and a seccomp filter keeps it from
 * mounts, exec, tracing, other processes' memory, file handles, new processes, sockets and the
 * kernel's own state.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <grp.h>
#include <stddef.h>
#include <linux/openat2.h>
#include <sys/fanotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_MARKS 4096
#define MAX_HANDLE 128
#define EVENTS (FAN_MODIFY | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_RENAME | FAN_CREATE | FAN_DELETE)
#define REPORTED (EVENTS | FAN_ONDIR)

struct mark {
  uint32_t id;
  int is_dir;
  fsid_t fsid;
  unsigned int handle_type;
  unsigned int handle_len;
  unsigned char handle[MAX_HANDLE];
};

static struct mark g_marks[MAX_MARKS];
static int g_nmarks;
static pid_t g_ignored;
/* The host ids jailed QEMUs run as (UID_BASE, UID_COUNT; none when not given). */
static uint32_t g_uid_base, g_uid_count;
/* The share the marks are beneath (fd 3 at the start). */
enum { SHARE_FD = 3 };
static uint32_t g_cookie;

static void put(const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(1, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) exit(0); /* the daemon went away */
    c += w;
    n -= (size_t)w;
  }
}

static void record(uint8_t kind, uint32_t id, uint32_t mask, uint32_t cookie, const char *name) {
  uint16_t len = name ? (uint16_t)strlen(name) : 0;
  unsigned char h[15];
  h[0] = kind;
  memcpy(h + 1, &id, 4);
  memcpy(h + 5, &mask, 4);
  memcpy(h + 9, &cookie, 4);
  memcpy(h + 13, &len, 2);
  put(h, sizeof h);
  if (len) put(name, len);
}

static int read_full(void *p, size_t n) {
  char *c = p;
  while (n > 0) {
    ssize_t r = read(0, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

/* One request from stdin: mark the file, answer. -1 at stdin's end. */
static int add_request(int fan) {
  uint32_t id;
  uint16_t len;
  char path[4097];
  if (read_full(&id, 4) < 0 || read_full(&len, 2) < 0 || len == 0 || len >= sizeof path) return -1;
  if (read_full(path, len) < 0) return -1;
  path[len] = '\0';
  struct stat st;
  struct statfs sf;
  union {
    struct file_handle fh;
    char buf[sizeof(struct file_handle) + MAX_HANDLE];
  } h;
  h.fh.handle_bytes = MAX_HANDLE;
  int mount_id;
  if (g_nmarks == MAX_MARKS) {
    record(2, id, ENOSPC, 0, NULL);
    return 0;
  }
  /* Beneath the share, no symlink (nor magic link) followed: one openat2 call. */
  struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, SHARE_FD, path, &how, sizeof how);
  if (fd < 0) {
    record(2, id, (uint32_t)errno, 0, NULL);
    return 0;
  }
  /* fanotify_mark takes no O_PATH descriptor, but the path of our own one: its magic link
   * names the file just opened, whatever the guest renames meanwhile. */
  char self[64];
  snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
  int dir = 0;
  int failed = fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0 ||
               name_to_handle_at(fd, "", &h.fh, &mount_id, AT_EMPTY_PATH) < 0;
  if (!failed) {
    dir = S_ISDIR(st.st_mode);
    uint64_t mask = EVENTS | (dir ? FAN_EVENT_ON_CHILD | FAN_ONDIR : 0);
    failed = fanotify_mark(fan, FAN_MARK_ADD, mask, AT_FDCWD, self) < 0;
  }
  int err = errno;
  close(fd);
  if (failed) {
    record(2, id, (uint32_t)err, 0, NULL);
    return 0;
  }
  struct mark *m = &g_marks[g_nmarks++];
  m->id = id;
  m->is_dir = dir;
  m->fsid = sf.f_fsid;
  m->handle_type = (unsigned int)h.fh.handle_type;
  m->handle_len = h.fh.handle_bytes;
  memcpy(m->handle, h.fh.f_handle, h.fh.handle_bytes);
  record(2, id, 0, 0, NULL);
  return 0;
}

static const struct mark *find(const struct fanotify_event_info_fid *fid) {
  const struct file_handle *fh = (const struct file_handle *)fid->handle;
  for (int i = 0; i < g_nmarks; i++) {
    const struct mark *m = &g_marks[i];
    if (m->handle_len == fh->handle_bytes && m->handle_type == (unsigned int)fh->handle_type &&
        memcmp(&m->fsid, &fid->fsid, sizeof m->fsid) == 0 && memcmp(m->handle, fh->f_handle, m->handle_len) == 0)
      return m;
  }
  return NULL;
}

/* Read /proc/PID/NAME (at most `max` - 1 bytes) into `out`; 0, or -1. */
static int read_proc(pid_t pid, const char *name, char *out, size_t max) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return -1;
  ssize_t r = read(fd, out, max - 1);
  close(fd);
  if (r < 0) return -1;
  out[r] = '\0';
  return 0;
}

/* Whether uid `u` is one jailed QEMUs run as. */
static int vm_uid(unsigned long u) { return g_uid_count && u >= g_uid_base && u - g_uid_base < g_uid_count; }

/*
 * Whether the process that caused an event (`pid`, pinned by `pidfd`) is a QEMU: all four of
 * its uids a VM's, or all root's with QEMU's command name (see the comment at the top).
 */
static int is_qemu(pid_t pid, int pidfd) {
  char status[4096], comm[32] = "";
  if (pidfd < 0 || pid <= 0 || read_proc(pid, "status", status, sizeof status) < 0) return 0;
  const char *u = strstr(status, "\nUid:");
  unsigned long ids[4];
  if (!u || sscanf(u, "\nUid: %lu %lu %lu %lu", &ids[0], &ids[1], &ids[2], &ids[3]) != 4) return 0;
  int vm = 1, root = 1;
  for (int i = 0; i < 4; i++) {
    vm &= vm_uid(ids[i]);
    root &= ids[i] == 0;
  }
  if (!vm && !(root && read_proc(pid, "comm", comm, sizeof comm) == 0 && strncmp(comm, "qemu-system", 11) == 0))
    return 0;
  /* Still there: the pid read above was this process's, not a later one's. (Signal 0 to
   * another user's process is EPERM; ESRCH is a process gone.) */
  return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 || errno == EPERM;
}

/* The pidfd an event carries (FAN_REPORT_PIDFD), or -1: none, or the process was gone. */
static int event_pidfd(const struct fanotify_event_metadata *e) {
  for (size_t off = e->metadata_len; off + sizeof(struct fanotify_event_info_header) <= e->event_len;) {
    const struct fanotify_event_info_header *hdr = (const void *)((const char *)e + off);
    if (hdr->len == 0 || off + hdr->len > e->event_len) break;
    if (hdr->info_type == FAN_EVENT_INFO_TYPE_PIDFD && hdr->len >= sizeof(struct fanotify_event_info_pidfd)) {
      int fd = ((const struct fanotify_event_info_pidfd *)hdr)->pidfd;
      return fd >= 0 ? fd : -1;
    }
    off += hdr->len;
  }
  return -1;
}

/* An info record's handle and the name after it. */
static const char *name_of(const struct fanotify_event_info_fid *fid) {
  const struct file_handle *fh = (const struct file_handle *)fid->handle;
  return (const char *)fh->f_handle + fh->handle_bytes;
}

/* The entry `name` of the directory `dfid` had event `mask`: to the directory's mark. */
static void to_dir(const struct fanotify_event_info_fid *dfid, const char *name, uint32_t mask, uint32_t cookie) {
  const struct mark *d = dfid ? find(dfid) : NULL;
  if (!d || !name) return;
  if (strcmp(name, ".") == 0) record(1, d->id, mask, 0, NULL);
  else if (d->is_dir) record(1, d->id, mask, cookie, name);
}

/*
 * What one event reports to whom: the directory's mark with the entry's name, the file's mark
 * without. fanotify merges the events of one entry that were still queued into one mask; they
 * are reported one by one, in the order they most often happen to an entry (a file made,
 * written, closed, its mode set, removed). A rename is FAN_RENAME, never merged with others:
 * it is reported as inotify does, MOVED_FROM to the old directory and MOVED_TO to the new one,
 * with one cookie.
 */
static void report(const struct fanotify_event_metadata *e, int pidfd) {
  const struct fanotify_event_info_fid *dfid = NULL, *ofid = NULL, *oldd = NULL, *newd = NULL;
  for (size_t off = e->metadata_len; off + sizeof(struct fanotify_event_info_header) <= e->event_len;) {
    const struct fanotify_event_info_header *hdr = (const void *)((const char *)e + off);
    if (hdr->len == 0 || off + hdr->len > e->event_len) break;
    const struct fanotify_event_info_fid *fid = (const void *)hdr;
    if (hdr->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME) dfid = fid;
    else if (hdr->info_type == FAN_EVENT_INFO_TYPE_FID) ofid = fid;
    else if (hdr->info_type == FAN_EVENT_INFO_TYPE_OLD_DFID_NAME) oldd = fid;
    else if (hdr->info_type == FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) newd = fid;
    off += hdr->len;
  }
  uint32_t all = (uint32_t)(e->mask & REPORTED);
  if (e->pid == g_ignored || !(all & EVENTS)) return;
  uint32_t isdir = all & FAN_ONDIR;
  if (all & FAN_RENAME) {
    uint32_t cookie = ++g_cookie ? g_cookie : ++g_cookie;
    if (oldd) to_dir(oldd, name_of(oldd), FAN_MOVED_FROM | isdir, cookie);
    if (newd) to_dir(newd, name_of(newd), FAN_MOVED_TO | isdir, cookie);
    return;
  }
  const struct mark *o = ofid ? find(ofid) : NULL;
  const struct mark *d = dfid ? find(dfid) : NULL;
  /* QEMU's 9p server makes a file, then gives it its guest owner: under one kernel the file
   * is made with its owner, and no IN_ATTRIB follows. That ATTRIB is left out. */
  static pid_t created_by;
  static char created[256];
  const char *n = dfid ? name_of(dfid) : "";
  /* Asked only where it matters: a create, a mode or owner change, or the creator's next event. */
  if (((all & (FAN_CREATE | FAN_ATTRIB)) || created_by == e->pid) && is_qemu(e->pid, pidfd)) {
    /* Its owner and its mode may come as two events, or one: each is left out until the
     * next event of that QEMU (a write, say) ends the file's making. */
    if ((all & FAN_ATTRIB) && ((all & FAN_CREATE) || (created_by == e->pid && strcmp(created, n) == 0))) all &= ~FAN_ATTRIB;
    if (all & FAN_CREATE) {
      created_by = e->pid;
      snprintf(created, sizeof created, "%s", n);
    } else if (created_by == e->pid && (all & EVENTS)) {
      created_by = 0;
    }
    if (!(all & EVENTS)) return;
  }
  static const uint32_t order[] = {FAN_CREATE, FAN_MODIFY, FAN_CLOSE_WRITE, FAN_ATTRIB, FAN_DELETE};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    if (!(all & order[i])) continue;
    to_dir(dfid, dfid ? name_of(dfid) : NULL, order[i] | isdir, 0);
    if (o && o != d && (order[i] & (FAN_MODIFY | FAN_ATTRIB | FAN_CLOSE_WRITE))) record(1, o->id, order[i] | isdir, 0, NULL);
  }
}

/* System calls the program never makes and a taken-over one must not: kernel state (modules,
 * BPF, keys, time, reboot, swap, accounting), namespaces and mounts, other processes' memory,
 * file handles (open_by_handle_at reaches any file), new processes or threads, exec and
 * sockets. Each fails with EPERM. */
static const int DENIED[] = {
    SYS_execve, SYS_execveat, SYS_ptrace, SYS_process_vm_readv, SYS_process_vm_writev,
    SYS_open_by_handle_at, SYS_mount, SYS_umount2, SYS_pivot_root, SYS_chroot, SYS_setns, SYS_unshare,
    SYS_clone3, SYS_move_mount, SYS_open_tree, SYS_fsopen, SYS_fsconfig, SYS_fsmount, SYS_fspick,
    SYS_mount_setattr, SYS_init_module, SYS_finit_module, SYS_delete_module, SYS_kexec_load,
    SYS_kexec_file_load, SYS_bpf, SYS_perf_event_open, SYS_userfaultfd, SYS_keyctl, SYS_add_key,
    SYS_request_key, SYS_reboot, SYS_swapon, SYS_swapoff, SYS_acct, SYS_quotactl, SYS_settimeofday,
    SYS_clock_settime, SYS_clock_adjtime, SYS_adjtimex, SYS_sethostname, SYS_setdomainname, SYS_iopl,
    SYS_ioperm, SYS_socket, SYS_socketpair, SYS_kcmp, SYS_pidfd_getfd, SYS_clone, SYS_fork, SYS_vfork,
};

/* A seccomp filter: on x86_64 (a call of another ABI kills the program), each DENIED call
 * fails with EPERM; the rest is allowed. */
static int seccomp_self(void) {
  enum { N = sizeof DENIED / sizeof DENIED[0] };
  struct sock_filter f[4 + 2 * N + 1];
  size_t i = 0;
  f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  for (size_t k = 0; k < N; k++) {
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)DENIED[k], 0, 1);
    f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  }
  f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {.len = (unsigned short)i, .filter = f};
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* The capability kept: reading any file of a share (its owner may be any uid of a guest's). */
static const int KEPT[] = {CAP_DAC_READ_SEARCH};

/* The unprivileged user it runs as once set up (nobody). */
enum { UNPRIVILEGED = 65534 };

/* Every other capability dropped from the bounding set, the user changed to nobody with only
 * KEPT left (permitted and effective), no new privileges, then the seccomp filter (see the
 * module comment). Any failure ends the program: it never goes on less confined. */
static int confine(void) {
  for (int c = 0; c <= CAP_LAST_CAP; c++) {
    int keep = 0;
    for (size_t k = 0; k < sizeof KEPT / sizeof KEPT[0]; k++) keep |= KEPT[k] == c;
    if (!keep && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) return -1;
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return -1;
  if (setgroups(0, NULL) < 0 || setresgid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED) < 0 ||
      setresuid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED) < 0)
    return -1;
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2] = {{0}};
  for (size_t k = 0; k < sizeof KEPT / sizeof KEPT[0]; k++) {
    d[KEPT[k] / 32].permitted |= 1u << (KEPT[k] % 32);
    d[KEPT[k] / 32].effective |= 1u << (KEPT[k] % 32);
  }
  if (syscall(SYS_capset, &h, d) < 0) return -1;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
  /* Not dumpable: another process of nobody's cannot read or trace it either. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return -1;
  return seccomp_self();
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 4) {
    fprintf(stderr, "usage: podvisor-fs-events QEMU_PID [UID_BASE UID_COUNT] (fd 3: the share)\n");
    return 2;
  }
  if (argc == 4) {
    char *end1, *end2;
    unsigned long base = strtoul(argv[2], &end1, 10), count = strtoul(argv[3], &end2, 10);
    if (*end1 || *end2 || !*argv[2] || !*argv[3] || base == 0 || count == 0 || base > 0xfffffffeUL ||
        count > 0xffffffffUL - base) {
      fprintf(stderr, "podvisor-fs-events: bad uid range\n");
      return 2;
    }
    g_uid_base = (uint32_t)base;
    g_uid_count = (uint32_t)count;
  }
  struct stat share;
  if (fstat(SHARE_FD, &share) < 0 || !S_ISDIR(share.st_mode)) {
    fprintf(stderr, "podvisor-fs-events: fd 3 is not the share's directory\n");
    return 2;
  }
  g_ignored = (pid_t)atoi(argv[1]);
  unsigned int flags = FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_REPORT_FID | FAN_CLOEXEC | FAN_NONBLOCK;
  /* With each event's process pinned (5.15 on); an older kernel's events name no QEMU. */
  int fan = fanotify_init(flags | FAN_REPORT_PIDFD, O_RDONLY | O_CLOEXEC);
  if (fan < 0 && errno == EINVAL) fan = fanotify_init(flags, O_RDONLY | O_CLOEXEC);
  if (fan < 0) {
    fprintf(stderr, "podvisor-fs-events: fanotify_init: %s\n", strerror(errno));
    return 1;
  }
  if (confine() < 0) {
    fprintf(stderr, "podvisor-fs-events: confining itself: %s\n", strerror(errno));
    return 1;
  }
  /* 16 KiB: each event read brings a pidfd with it, so a read must not bring more than the fd limit allows. */
  static char buf[16384] __attribute__((aligned(8)));
  for (;;) {
    struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = fan, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p[1].revents & POLLIN) {
      ssize_t n = read(fan, buf, sizeof buf);
      for (const struct fanotify_event_metadata *e = (const void *)buf; n > 0 && FAN_EVENT_OK(e, n); e = FAN_EVENT_NEXT(e, n)) {
        if (e->vers != FANOTIFY_METADATA_VERSION) return 1;
        int pidfd = event_pidfd(e);
        if (!(e->mask & FAN_Q_OVERFLOW)) report(e, pidfd);
        if (pidfd >= 0) close(pidfd);
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP)) {
      if (add_request(fan) < 0) return 0;
    }
  }
}
