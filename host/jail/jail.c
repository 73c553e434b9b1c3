/*
 * podvisor-jail: starts one of a VM's processes (its QEMU, virtiofsd, lock holder) in a jail of
 * its own:
 *
 *   podvisor-jail [--cgroup FILE]... [--ro PATH]... [--rw PATH]... [--dev PATH]...
 *                 [--tmpfs PATH]... [--proc] [--pid-ns] [--net-ns] [--tap NAME:FD]... [--caps NAME,NAME...]
 *                 [--uid UID] -- PROGRAM ARG...
 *
 *  1. --cgroup FILE: its pid is written into FILE (a cgroup's cgroup.procs, one per hierarchy),
 *     so everything the program allocates is charged to the VM's cgroup from its first page;
 *     --tap NAME:FD: the tap device NAME is made (TUNSETIFF, with a virtio-net header, as QEMU
 *     makes its own) and left open at fd FD for the program (`-netdev tap,fd=FD`), so the
 *     program needs no CAP_NET_ADMIN; the tap goes when the program's last fd of it closes;
 *  2. new mount and IPC namespaces (unshare), and with --pid-ns a new PID namespace: the jail
 *     then forks, and the child, pid 1 of that namespace, goes on below and becomes PROGRAM,
 *     while the parent stays behind as its supervisor (see supervise()): the daemon finds the
 *     child's host pid as the parent's only child. Without --pid-ns the jail itself becomes
 *     PROGRAM (the same pid). With --net-ns, a new network namespace too, made after the taps
 *     are open: their fds keep working there (a tap stays in the namespace it was made in, the
 *     host's), and the program reaches no network of the host's: no loopback service, no
 *     abstract unix socket, no interface but its own loopback, down. Its unix sockets are files,
 *     which a network namespace does not bound. Every mount becomes a slave of the host's, so
 *     that mounts the host makes later under a shared mount (a VM directory the daemon made a
 *     shared mount of itself) still reach the jail, and nothing made here reaches the host;
 *  3. a new root on a tmpfs holding only the given paths, each bound at the same absolute path
 *     as on the host (so the program's command line and socket paths are unchanged): --ro
 *     read-only, --rw read-write (with the mounts below it), --dev a device node (read-write,
 *     no exec), --tmpfs a small empty tmpfs of the jail's own (for a program that writes a
 *     scratch file at a fixed place: virtiofsd's lock file); the root tmpfs itself is then
 *     made read-only;
 *     With --proc, its own /proc/<pid> bound read-only at /proc/self and nothing else of /proc
 *     (for a helper that reopens its fds through /proc/self/fd: it sees no other process);
 *     with --pid-ns as well, that /proc/self is /proc/1 of a procfs of the new namespace, so
 *     the program does not even learn its host pid;
 *  4. pivot_root into it, the host's root detached: nothing else of the host is reachable;
 *  5. --caps: the capability bounding set cut to the named ones (the rest dropped), the
 *     inheritable and ambient sets emptied, so the program keeps only those;
 *     --uid UID: the program runs as user and group UID (real, effective, saved; no
 *     supplementary group), not root, keeping the --caps capabilities as ambient ones (so they
 *     survive the exec of a program without file capabilities) and no other; with --pid-ns the
 *     supervisor takes the same uid too (it then signals the program without CAP_KILL), and the
 *     program's parent-death signal, which the change of uid clears, is set again;
 *  6. exec PROGRAM with the rest of the arguments and the same environment.
 * Any failure prints one line on stderr (the VM's log) and exits 125 before the program runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PATHS 512
#define STAGE "/tmp"

enum kind { RO, RW, DEV, TMPFS };

struct bind {
  enum kind kind;
  const char *path;
  int fd; /* O_PATH, opened before the tmpfs covers anything (none for TMPFS) */
};

static struct bind binds[MAX_PATHS];
static int nbinds;

static void die(const char *what, const char *arg) {
  fprintf(stderr, "podvisor-jail: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
  exit(125);
}

static void usage(const char *why) {
  fprintf(stderr, "podvisor-jail: %s\n", why);
  exit(125);
}

/* Capability names this jail knows (those a VM's processes may keep), by number. */
static const struct {
  const char *name;
  int cap;
} CAPS[] = {
    {"chown", CAP_CHOWN},           {"dac_override", CAP_DAC_OVERRIDE}, {"dac_read_search", CAP_DAC_READ_SEARCH},
    {"fowner", CAP_FOWNER},         {"fsetid", CAP_FSETID},             {"net_admin", CAP_NET_ADMIN},
    {"setgid", CAP_SETGID},         {"setuid", CAP_SETUID},             {"sys_chroot", CAP_SYS_CHROOT},
    {"setpcap", CAP_SETPCAP},       {"sys_resource", CAP_SYS_RESOURCE},
};

static int cap_number(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof CAPS / sizeof CAPS[0]; i++)
    if (strlen(CAPS[i].name) == len && strncmp(CAPS[i].name, name, len) == 0) return CAPS[i].cap;
  fprintf(stderr, "podvisor-jail: unknown capability %.*s\n", (int)len, name);
  exit(125);
}

/* Keep only the capabilities named in `list` (comma-separated) in the bounding set; empty the
 * inheritable and ambient sets. Returns the kept ones, as a mask. */
static unsigned long long cut_capabilities(const char *list) {
  unsigned long long keep = 0;
  for (const char *p = list; *p;) {
    size_t len = strcspn(p, ",");
    if (len) keep |= 1ULL << cap_number(p, len);
    p += len;
    if (*p == ',') p++;
  }
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) die("dropping a capability", NULL);
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) die("clearing ambient capabilities", NULL);
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) < 0) die("capget", NULL);
  /* For root, inheritable capabilities survive an exec whatever the bounding set says. */
  data[0].inheritable = data[1].inheritable = 0;
  if (syscall(SYS_capset, &hdr, data) < 0) die("capset", NULL);
  return keep;
}

/* Become user and group `id` (real, effective, saved; no supplementary group), from root. */
static void set_ids(unsigned id) {
  if (setgroups(0, NULL) < 0) die("setgroups", NULL);
  if (setresgid(id, id, id) < 0) die("setresgid", NULL);
  if (setresuid(id, id, id) < 0) die("setresuid", NULL);
}

/*
 * Become user and group `id`, keeping the capabilities `keep` (already the whole bounding set)
 * across the exec that follows: permitted, effective and inheritable are `keep`, and each is
 * raised in the ambient set, which a non-root user's exec of a program without file
 * capabilities keeps (permitted and effective then equal it, and the exec is no secure one:
 * the loader still honours LD_PRELOAD, as a clone's RAM shim needs).
 */
static void become(unsigned id, unsigned long long keep) {
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die("keeping capabilities", NULL);
  set_ids(id);
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  data[0].permitted = data[0].effective = data[0].inheritable = (unsigned)(keep & 0xffffffffULL);
  data[1].permitted = data[1].effective = data[1].inheritable = (unsigned)(keep >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0) die("capset", NULL);
  for (int cap = 0; cap < 64; cap++)
    if ((keep & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
      die("raising an ambient capability", NULL);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) die("resetting keep-capabilities", NULL);
}

/* Make tap `spec` (NAME:FD) and leave it open at fd FD, inherited across the exec. */
static void open_tap(const char *spec) {
  const char *colon = strrchr(spec, ':');
  if (!colon || colon == spec || (size_t)(colon - spec) >= IFNAMSIZ) usage("--tap wants NAME:FD");
  char *end;
  long want = strtol(colon + 1, &end, 10);
  if (*end || want < 3 || want > 1000) usage("--tap wants NAME:FD");
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("opening", "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, spec, (size_t)(colon - spec));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("making tap", spec);
  if (fd != want) {
    if (dup2(fd, (int)want) < 0) die("dup2 of tap", spec);
    close(fd);
  } else if (fcntl(fd, F_SETFD, 0) < 0) {
    die("fcntl of tap", spec);
  }
}

static void join_cgroup(const char *procs) {
  int fd = open(procs, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("opening", procs);
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  if (write(fd, pid, (size_t)n) != n) die("joining the cgroup", procs);
  close(fd);
}

/* mkdir -p of `path` (absolute) below the staging root; the last component is a file when `file`. */
static void make_target(const char *path, int file) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s%s", STAGE, path) >= (int)sizeof buf) usage("path too long");
  for (char *s = buf + strlen(STAGE) + 1; (s = strchr(s, '/')); s++) {
    *s = '\0';
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) die("mkdir", buf);
    *s = '/';
  }
  if (file) {
    int fd = open(buf, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) die("creating", buf);
    close(fd);
  } else if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
    die("mkdir", buf);
  }
}

static void bind_into_root(const struct bind *b) {
  struct stat st;
  if (fstat(b->fd, &st) < 0) die("stat", b->path);
  make_target(b->path, !S_ISDIR(st.st_mode));
  char src[64], dst[4096];
  snprintf(src, sizeof src, "/proc/self/fd/%d", b->fd);
  snprintf(dst, sizeof dst, "%s%s", STAGE, b->path);
  unsigned long flags = MS_BIND | (b->kind == RW ? MS_REC : 0);
  if (mount(src, dst, NULL, flags, NULL) < 0) die("binding", b->path);
  unsigned long re = MS_BIND | MS_REMOUNT | MS_NOSUID;
  if (b->kind == RO) re |= MS_RDONLY | MS_NODEV;
  if (b->kind == RW) re |= MS_NODEV;
  if (b->kind == DEV) re |= MS_NOEXEC;
  if (mount(NULL, dst, NULL, re, NULL) < 0) die("remounting", b->path);
}

/* A small empty tmpfs of the jail's own at `path`, writable by root only. */
static void scratch_into_root(const char *path) {
  make_target(path, 0);
  char dst[4096];
  snprintf(dst, sizeof dst, "%s%s", STAGE, path);
  if (mount("podvisor-jail", dst, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=64k,nr_inodes=64") < 0)
    die("mounting a tmpfs at", path);
}

static void build_root(int own_proc) {
  /* Every mount a slave of the host's: the host's later mounts show, none of ours go back. */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) die("making / a slave", NULL);
  /* In a PID namespace of its own, /proc/self comes from a procfs of that namespace (this
   * mount is in the jail's mount namespace only, and goes with the host's root below). */
  if (own_proc && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    die("mounting the namespace's procfs", NULL);
  for (int i = 0; i < nbinds; i++) {
    if (binds[i].kind == TMPFS) continue;
    binds[i].fd = open(binds[i].path, O_PATH | O_CLOEXEC);
    if (binds[i].fd < 0) die("opening", binds[i].path);
  }
  if (mkdir(STAGE, 01777) < 0 && errno != EEXIST) die("mkdir", STAGE);
  if (mount("podvisor-jail", STAGE, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=4096") < 0)
    die("mounting the root tmpfs", NULL);
  /* Directories first, then files and devices: a file's bind never hides a directory's. */
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < nbinds; i++) {
      struct stat st;
      if (binds[i].kind == TMPFS) {
        if (pass == 0) scratch_into_root(binds[i].path);
        continue;
      }
      if (fstat(binds[i].fd, &st) < 0) die("stat", binds[i].path);
      if ((pass == 0) == S_ISDIR(st.st_mode)) bind_into_root(&binds[i]);
    }
  for (int i = 0; i < nbinds; i++)
    if (binds[i].kind != TMPFS) close(binds[i].fd);
  if (mount(NULL, STAGE, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    die("making the root read-only", NULL);
  if (chdir(STAGE) < 0) die("chdir", STAGE);
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root", NULL);
  if (umount2(".", MNT_DETACH) < 0) die("detaching the host's root", NULL);
  if (chdir("/") < 0) die("chdir", "/");
}

/* The program's host pid, for the supervisor's signal forwarding. */
static volatile pid_t g_child;

/* In the program's process under --pid-ns: the read end of a pipe whose write end only the
 * supervisor holds (end of file once it is gone); -1 otherwise. */
static int g_alive = -1;

/*
 * SIGKILL when the supervisor dies (PR_SET_PDEATHSIG), and end now if it died already: its end
 * of the pipe is then closed (end of file), not empty. Set again after a change of uid, which
 * clears the parent-death signal (so a supervisor killed with SIGKILL still takes the program).
 */
static void die_with_parent(void) {
  if (g_alive < 0) return;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die("setting the parent-death signal", NULL);
  char c;
  if (read(g_alive, &c, 1) == 0) _exit(125);
}

static void forward_signal(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

/* Signals the supervisor passes on to the program (SIGKILL and SIGSTOP cannot be caught: a
 * SIGKILL of the supervisor kills the program through its parent-death signal). */
static const int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH, SIGALRM};

/* Drop every capability of this process: bounding, inheritable, ambient, permitted, effective;
 * become user and group `uid` on the way, when it is one (>= 0). */
static void drop_all_capabilities(long uid) {
  for (int cap = 0; cap < 64; cap++)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) die("dropping a capability", NULL);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) die("clearing ambient capabilities", NULL);
  if (uid >= 0) set_ids((unsigned)uid);
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) < 0) die("capset", NULL);
}

/*
 * After unshare(CLONE_NEWPID): fork. Returns in the child, pid 1 of the new namespace, which
 * gets SIGKILL when its parent dies (PR_SET_PDEATHSIG: a supervisor killed with SIGKILL takes
 * the program with it) and goes on to build the jail. The parent never returns: with no
 * capabilities and no fd but stdio, it forwards FORWARDED signals to the child, waits for it,
 * and ends as it ended (the same exit code, or killed by the same signal), so that whoever
 * started the jail sees the program's end as the end of its own child. Under --uid, the
 * supervisor takes the program's uid. When the program (pid
 * 1) ends, the kernel kills whatever else is left in its namespace.
 */
static void supervise(long uid) {
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  int alive[2];
  if (pipe2(alive, O_CLOEXEC) < 0) die("pipe", NULL);
  pid_t child = fork();
  if (child < 0) die("fork", NULL);
  if (child == 0) {
    close(alive[1]);
    if (fcntl(alive[0], F_SETFL, O_NONBLOCK) < 0) die("fcntl of a pipe", NULL);
    g_alive = alive[0]; /* close-on-exec: kept for die_with_parent after a change of uid */
    die_with_parent();
    sigprocmask(SIG_SETMASK, &old, NULL);
    return;
  }
  g_child = child;
  /* Nothing of the program's (its taps, the caller's extra fds) stays open here. */
  if (alive[1] > 3) syscall(SYS_close_range, 3, alive[1] - 1, 0);
  syscall(SYS_close_range, alive[1] + 1, ~0U, 0);
  close(alive[0]);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* With the program's uid, if it has one of its own, so that it can still signal it. */
  drop_all_capabilities(uid);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward_signal;
  sa.sa_flags = SA_RESTART;
  for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) sigaction(FORWARDED[i], &sa, NULL);
  sigprocmask(SIG_SETMASK, &old, NULL);
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) die("waitpid", NULL);
  if (WIFEXITED(status)) exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  sigprocmask(SIG_UNBLOCK, &one, NULL);
  raise(sig);
  exit(128 + sig);
}

int main(int argc, char **argv) {
  const char *caps = NULL;
  int pid_ns = 0, net_ns = 0, own_proc = 0;
  long uid = -1;
  int i = 1;
  const char *cgroups[8];
  int ncgroups = 0;
  const char *taps[8];
  int ntaps = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "--proc") == 0) {
      /* /proc/self opens as /proc/<pid> (/proc/1 in a PID namespace of its own), which stays
       * this process's across the exec. */
      if (nbinds == MAX_PATHS) usage("too many paths");
      binds[nbinds].kind = RO;
      binds[nbinds++].path = "/proc/self";
      own_proc = 1;
      continue;
    }
    if (strcmp(a, "--pid-ns") == 0) {
      pid_ns = 1;
      continue;
    }
    if (strcmp(a, "--net-ns") == 0) {
      net_ns = 1;
      continue;
    }
    if (i + 1 >= argc) usage("an option without its value");
    const char *v = argv[++i];
    if (strcmp(a, "--caps") == 0) {
      caps = v;
    } else if (strcmp(a, "--uid") == 0) {
      char *end;
      uid = strtol(v, &end, 10);
      /* Never root, nor the kernel's overflow and invalid ids. */
      if (*end || uid < 1 || uid >= 0x7fffffffL || uid == 65534) usage("--uid wants a user id other than 0");
    } else if (strcmp(a, "--tap") == 0) {
      if (ntaps == 8) usage("too many --tap");
      taps[ntaps++] = v;
    } else if (strcmp(a, "--cgroup") == 0) {
      if (ncgroups == 8) usage("too many --cgroup");
      cgroups[ncgroups++] = v;
    } else if (strcmp(a, "--ro") == 0 || strcmp(a, "--rw") == 0 || strcmp(a, "--dev") == 0 ||
               strcmp(a, "--tmpfs") == 0) {
      if (nbinds == MAX_PATHS) usage("too many paths");
      if (v[0] != '/' || strstr(v, "/../") || strstr(v, "/./")) usage("paths must be absolute and plain");
      binds[nbinds].kind = a[2] == 'r' ? (a[3] == 'o' ? RO : RW) : a[2] == 'd' ? DEV : TMPFS;
      binds[nbinds++].path = v;
    } else {
      usage("unknown option");
    }
  }
  if (i >= argc) usage("no program to run");
  if (uid >= 0 && !caps) usage("--uid wants --caps");
  for (int c = 0; c < ncgroups; c++) join_cgroup(cgroups[c]);
  for (int t = 0; t < ntaps; t++) open_tap(taps[t]);
  /* After the taps: they are made in the host's network namespace, and keep working from the new one. */
  if (unshare(CLONE_NEWNS | CLONE_NEWIPC | (pid_ns ? CLONE_NEWPID : 0) | (net_ns ? CLONE_NEWNET : 0)) < 0)
    die("unshare", NULL);
  if (pid_ns) supervise(uid);
  build_root(pid_ns && own_proc);
  unsigned long long keep = caps ? cut_capabilities(caps) : ~0ULL;
  if (uid >= 0) {
    become((unsigned)uid, keep);
    die_with_parent();
  }
  execv(argv[i], &argv[i]);
  die("exec", argv[i]);
}
