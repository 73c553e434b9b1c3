/*
 * process.c - processes in containers: start (init or exec), their stdio pumped to and from
 * the stream channel under credit-based flow control, reaping, and EXIT events.
 *
 * Start: the agent clones a child (CLONE_VM | CLONE_VFORK: see spawn_child) with its
 * pid_ns_for_children set to a new PID namespace (init: unshare(CLONE_NEWPID)) or to the
 * container init's (exec: setns), then restores its own. The child joins the container's mount
 * (and UTS) namespace, mounts /proc when it is the init, sets up stdio and identity, creates and
 * enters the cwd, and execs with a PATH search. A
 * CLOEXEC pipe carries an exec failure back, so START_PROCESS answers ERROR for a missing
 * command instead of a process that exits 127.
 *
 * Output: a pipe (or the pty master) is read only while the host's credit allows; a pipe's
 * bytes are spliced into a DATA frame (chan_send_spliced, no copy), a pty's read straight
 * into one in the stream channel's output queue. After the
 * process exits, what is still readable is delivered, then EOF; the EXIT event goes out on the
 * control channel once those EOF frames have been written.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <grp.h>

#include "agent.h"
#include "archive.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

struct process g_procs[PV_MAX_PROCESSES];
uint32_t g_rr;

#define OUT_FRAME_PAYLOAD (PV_MAX_IO_PAYLOAD - PV_HEADER_SIZE)

enum { ST_SETNS = 1, ST_PROC, ST_SESSION, ST_TTY, ST_STDIO, ST_USER, ST_MKDIR, ST_CWD, ST_EXEC, ST_CGROUP, ST_SECCOMP };

struct exec_error {
  int stage;
  int err;
};

static uint64_t rd64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

struct process *process_find(const char *id) {
  for (int i = 0; i < PV_MAX_PROCESSES; i++)
    if (g_procs[i].used && strcmp(g_procs[i].id, id) == 0) return &g_procs[i];
  return NULL;
}

struct process *process_by_handle(uint32_t handle) {
  for (int i = 0; i < PV_MAX_PROCESSES; i++)
    if (g_procs[i].used && g_procs[i].handle == handle) return &g_procs[i];
  return NULL;
}

int process_count(void) {
  int n = 0;
  for (int i = 0; i < PV_MAX_PROCESSES; i++) n += g_procs[i].used;
  return n;
}

int container_has_processes(const char *container_id) {
  for (int i = 0; i < PV_MAX_PROCESSES; i++)
    if (g_procs[i].used && !g_procs[i].exited && strcmp(g_procs[i].container_id, container_id) == 0) return 1;
  return 0;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void stdin_close(struct process *p) {
  /* A connection's write side is its own: the peer reads EOF while its bytes still come. */
  if (p->is_conn && p->stdin_fd >= 0) shutdown(p->stdin_fd, SHUT_WR);
  close_fd(&p->stdin_fd);
  free(p->stdin_buf);
  p->stdin_buf = NULL;
  /* Whatever was buffered counts as consumed: the host must never wait for credit. */
  p->stdin_consumed = p->stdin_received;
  p->stdin_head = p->stdin_len = 0;
}

void process_release(struct process *p) {
  for (int s = 1; s <= 2; s++) {
    close_fd(&p->out[s].fd);
    free(p->out[s].keep);
  }
  close_fd(&p->master_fd);
  stdin_close(p);
  heldsig_forget(p);
  memset(p, 0, sizeof *p);
  p->master_fd = p->stdin_fd = p->out[0].fd = p->out[1].fd = p->out[2].fd = -1;
}

/* ---- the child ------------------------------------------------------------------------ */

static void child_fail(int fd, int stage) {
  struct exec_error x = {stage, errno ? errno : EIO};
  ssize_t w = write(fd, &x, sizeof x);
  (void)w;
  _exit(127);
}

static int mkdir_p(const char *path) {
  char tmp[PV_MAX_PATH + 1];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *s = tmp + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
    *s = '/';
  }
  if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
  return 0;
}

static const char *env_path(char *const *envp) {
  for (; *envp; envp++)
    if (strncmp(*envp, "PATH=", 5) == 0) return *envp + 5;
  return NULL;
}

/* execvpe with the PATH of the process's own environment; returns with errno on failure. */
static void exec_with_path(char *const *argv, char *const *envp) {
  if (strchr(argv[0], '/')) {
    execve(argv[0], argv, envp);
    return;
  }
  const char *path = env_path(envp);
  if (!path) path = PV_DEFAULT_PATH;
  int eacces = 0;
  char full[PATH_MAX];
  const char *seg = path;
  for (;;) {
    const char *end = strchr(seg, ':');
    size_t n = end ? (size_t)(end - seg) : strlen(seg);
    if (n == 0)
      snprintf(full, sizeof full, "%s", argv[0]);
    else
      snprintf(full, sizeof full, "%.*s/%s", (int)n, seg, argv[0]);
    execve(full, argv, envp);
    if (errno == EACCES)
      eacces = 1;
    else if (errno != ENOENT && errno != ENOTDIR)
      return;
    if (!end) break;
    seg = end + 1;
  }
  errno = eacces ? EACCES : ENOENT;
}

static void child_main(const struct process_spec *s, const struct container *c, int is_init, int in_fd,
                       int out_fd, int err_fd, int tty_slave, int fail_fd) {
  errno = 0;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  prctl(PR_SET_PDEATHSIG, SIGKILL);

  if (setns(c->mnt_fd, CLONE_NEWNS) < 0) child_fail(fail_fd, ST_SETNS);
  if (c->uts_fd >= 0 && setns(c->uts_fd, CLONE_NEWUTS) < 0) child_fail(fail_fd, ST_SETNS);
  if (s->job) {
    /* An ARCHIVE process: the agent's own code on its stdio, in the container's mounts. */
    if (setsid() < 0) child_fail(fail_fd, ST_SESSION);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) child_fail(fail_fd, ST_STDIO);
    /* Nothing of the agent's stays open but the upper disk's fd (as fd 3); closing the
     * failure pipe tells the agent the process started. */
    int up = s->job->upper_fd >= 0 ? dup2(s->job->upper_fd, 3) : -1;
    syscall(SYS_close_range, up >= 0 ? 4U : 3U, ~0U, 0U);
    _exit(archive_run(s->job, up));
  }
  if (is_init) {
    umount2("/proc", MNT_DETACH); /* a previous init's /proc, if any */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) child_fail(fail_fd, ST_PROC);
    if (c->has_cgroup) {
      /* As runc on cgroup v2: a cgroup namespace rooted at the container's cgroup (joined
       * above), and cgroup2 read-only on /sys/fs/cgroup, so /sys/fs/cgroup/memory.max is the
       * container's limit. Best effort: without it the container runs as before. */
      umount2("/sys/fs/cgroup", MNT_DETACH); /* a previous init's */
      if (unshare(CLONE_NEWCGROUP) == 0)
        (void)mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    }
  }
  if (setsid() < 0) child_fail(fail_fd, ST_SESSION);
  if (tty_slave >= 0) {
    if (ioctl(tty_slave, TIOCSCTTY, 0) < 0) child_fail(fail_fd, ST_TTY);
    in_fd = out_fd = err_fd = tty_slave;
  }
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) child_fail(fail_fd, ST_STDIO);
  /* Nothing of the agent's may leak into the container (fail_fd is CLOEXEC too). */
  syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);

  if (mkdir_p(s->cwd) < 0) child_fail(fail_fd, ST_MKDIR);
  int sec_stage = 0; /* security.c: the container's settings, capabilities, no_new_privs */
  if (security_before_user(s, c, is_init, &sec_stage) < 0) child_fail(fail_fd, sec_stage);
  int filtered = 0; /* seccomp.c: before the credentials change unless no_new_privs holds */
  if (seccomp_enter(c, 0, &filtered) < 0) child_fail(fail_fd, ST_SECCOMP);
  if (setgroups((size_t)s->ngroups, s->groups) < 0 || setgid(s->gid) < 0 || setuid(s->uid) < 0)
    child_fail(fail_fd, ST_USER);
  if (security_after_user(s, &sec_stage) < 0) child_fail(fail_fd, sec_stage);
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* cleared by a change of credentials */
  if (chdir(s->cwd) < 0) child_fail(fail_fd, ST_CWD);
  if (seccomp_enter(c, 1, &filtered) < 0) child_fail(fail_fd, ST_SECCOMP);
  exec_with_path(s->argv, s->envp);
  child_fail(fail_fd, ST_EXEC);
}

/*
 * The child is started with clone(CLONE_VM | CLONE_VFORK): it runs on its own stack in the
 * agent's memory, and the agent is suspended until it execs (or exits), instead of fork
 * copying the agent's page tables and both sides then taking copy-on-write faults. Under TCG
 * every page fault is expensive. This is safe because the agent is single-threaded and waits:
 * the child only makes system calls and writes its own stack (and errno, which the agent does
 * not read across the call). Its signal handlers and file table are its own (no
 * CLONE_SIGHAND, no CLONE_FILES), so resetting signals and dup2 do not touch the agent.
 */
struct child_args {
  const struct process_spec *s;
  const struct container *c;
  int is_init, in_fd, out_fd, err_fd, tty_slave, fail_read, fail_write;
  int cgroup_fd; /* the container's cgroup.procs, -1 without a cgroup */
};

static int child_entry(void *arg) {
  const struct child_args *a = arg;
  close(a->fail_read);
  /* Join the container's cgroup first: its limits apply to everything the process does. */
  if (a->cgroup_fd >= 0 && write(a->cgroup_fd, "0", 1) < 0) child_fail(a->fail_write, ST_CGROUP);
  child_main(a->s, a->c, a->is_init, a->in_fd, a->out_fd, a->err_fd, a->tty_slave, a->fail_write);
  return 127; /* not reached */
}

#define CHILD_STACK_SIZE (256 * 1024)

/* clone() the child on a stack kept for the agent's lifetime (one child at a time). */
static pid_t spawn_child(struct child_args *a) {
  static char *stack;
  if (!stack) {
    stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
      stack = NULL;
      return -1;
    }
  }
  if (a->s->job) {
    /* An ARCHIVE process runs the agent's code for as long as its tar takes: a real fork. */
    pid_t pid = fork();
    if (pid == 0) _exit(child_entry(a));
    return pid;
  }
  return clone(child_entry, stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
}

/*
 * An errno's text as Go (and so runc and dockerd) writes it: glibc's strerror with a lower-case
 * first letter ("no such file or directory"). The docker CLI matches these words
 * case-sensitively to choose exit status 127 or 126 for a failed `docker run`.
 */
static const char *go_strerror(int err, char *buf, size_t len) {
  snprintf(buf, len, "%s", strerror(err));
  if (buf[0] >= 'A' && buf[0] <= 'Z') buf[0] = (char)(buf[0] - 'A' + 'a');
  return buf;
}

static void describe_failure(const struct process_spec *s, const struct container *c, const struct exec_error *x,
                             struct agent_error *e) {
  if (x->stage >= ST_SECURITY_BASE && security_describe(x->stage, x->err, c, e)) return;
  const char *arg0 = s->argv[0];
  char text[128];
  switch (x->stage) {
  case ST_EXEC:
    /* runc's wording: `exec: "x": executable file not found in $PATH` for a PATH search,
     * `exec: "/x": stat /x: no such file or directory` for a path, else the errno text. */
    if (x->err == ENOENT && !strchr(arg0, '/'))
      set_error(e, PV_ERR_NOT_FOUND, x->err, "exec: \"%s\": executable file not found in $PATH", arg0);
    else if (x->err == ENOENT)
      /* runc's wording: exec: "/x": stat /x: no such file or directory */
      set_error(e, PV_ERR_NOT_FOUND, x->err, "exec: \"%s\": stat %s: %s", arg0, arg0, go_strerror(x->err, text, sizeof text));
    else
      set_error(e, code_for_errno(x->err), x->err, "exec: \"%s\": %s", arg0, go_strerror(x->err, text, sizeof text));
    return;
  case ST_CWD:
  case ST_MKDIR:
    set_error(e, code_for_errno(x->err), x->err, "working directory %s: %s", s->cwd, go_strerror(x->err, text, sizeof text));
    return;
  case ST_USER:
    set_error(e, PV_ERR_INVALID, x->err, "set user %u:%u: %s", (unsigned)s->uid, (unsigned)s->gid,
              strerror(x->err));
    return;
  default: {
    static const char *names[] = {"", "join namespaces", "mount /proc", "setsid", "controlling tty", "stdio"};
    if (x->stage == ST_SECCOMP) {
      set_error(e, PV_ERR_UNAVAILABLE, x->err, "load the seccomp filter: %s", strerror(x->err));
      return;
    }
    if (x->stage == ST_CGROUP) {
      set_error(e, PV_ERR_UNAVAILABLE, x->err, "join the container's cgroup: %s", strerror(x->err));
      return;
    }
    const char *what = x->stage > 0 && x->stage < (int)(sizeof names / sizeof names[0]) ? names[x->stage] : "start";
    set_error(e, PV_ERR_UNAVAILABLE, x->err, "%s: %s", what, strerror(x->err));
  }
  }
}

static int set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- start ---------------------------------------------------------------------------- */

struct process *process_start(const struct process_spec *s, struct agent_error *e) {
  struct container *c = container_find(s->container_id);
  if (!c) {
    set_error(e, PV_ERR_NOT_FOUND, ENOENT, "no such container: %s", s->container_id);
    return NULL;
  }
  if (c->destroying) {
    set_error(e, PV_ERR_CONFLICT, EBUSY, "container %s is being destroyed", s->container_id);
    return NULL;
  }
  if (process_find(s->process_id)) {
    set_error(e, PV_ERR_CONFLICT, EEXIST, "process id %s is in use", s->process_id);
    return NULL;
  }
  if (s->handle == 0 || process_by_handle(s->handle)) {
    set_error(e, PV_ERR_CONFLICT, EEXIST, "process handle %u is zero or in use", s->handle);
    return NULL;
  }
  struct process *p = NULL;
  for (int i = 0; i < PV_MAX_PROCESSES; i++)
    if (!g_procs[i].used) {
      p = &g_procs[i];
      break;
    }
  if (!p) {
    set_error(e, PV_ERR_TOO_LARGE, 0, "too many processes (at most %d)", PV_MAX_PROCESSES);
    return NULL;
  }

  /* Child-side and agent-side descriptors. */
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, fail[2] = {-1, -1};
  int master = -1, slave = -1, out_read = -1, stdin_write = -1;
  int child_in = g_devnull;
  if (pipe2(fail, O_CLOEXEC) < 0) goto sys_fail;
  if (s->terminal) {
    master = open_in_root(c->root_fd, "/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0);
    if (master < 0) goto sys_fail;
    int unlock = 0;
    struct winsize ws = {.ws_row = (unsigned short)s->rows, .ws_col = (unsigned short)s->cols};
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCSWINSZ, &ws) < 0) goto sys_fail;
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) goto sys_fail;
    out_read = fcntl(master, F_DUPFD_CLOEXEC, 3);
    if (out_read < 0 || set_nonblock(out_read) < 0) goto sys_fail;
    if (s->stdin_open) {
      stdin_write = fcntl(master, F_DUPFD_CLOEXEC, 3);
      if (stdin_write < 0 || set_nonblock(stdin_write) < 0) goto sys_fail;
    }
  } else {
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) goto sys_fail;
    if (set_nonblock(out[0]) < 0 || set_nonblock(err[0]) < 0) goto sys_fail;
    fcntl(out[0], F_SETPIPE_SZ, 1 << 18); /* bigger reads per wakeup; best effort */
    out_read = out[0];
    if (s->stdin_open) {
      if (pipe2(in, O_CLOEXEC) < 0 || set_nonblock(in[1]) < 0) goto sys_fail;
      child_in = in[0];
      stdin_write = in[1];
    }
  }

  int joined = c->share_ns || c->pid_peer[0];
  int is_init = !s->job && (c->init_pid == 0 || (!joined && c->pidns_fd < 0));
  if (s->job) {
    /* The agent's PID namespace and cgroup: never the container's init, never its limits. */
  } else if (c->share_ns) {
    int ns = podns_pidns(e);
    if (ns < 0) goto fail_quiet;
    if (setns(ns, CLONE_NEWPID) < 0) goto sys_fail;
  } else if (c->pid_peer[0]) {
    /* docker --pid container:X: the PID namespace of X's live init. */
    struct container *peer = container_find(c->pid_peer);
    if (!peer || peer->pidns_fd < 0 || peer->init_pid == 0) {
      set_error(e, PV_ERR_CONFLICT, ESRCH, "container %s, whose PID namespace this one joins, has no running init", c->pid_peer);
      goto fail_quiet;
    }
    if (setns(peer->pidns_fd, CLONE_NEWPID) < 0) goto sys_fail;
  } else if (is_init ? unshare(CLONE_NEWPID) < 0 : setns(c->pidns_fd, CLONE_NEWPID) < 0) {
    goto sys_fail;
  }
  int cg_fd = s->job ? -1 : cgroup_procs_fd(c);
  if (c->has_cgroup && cg_fd < 0) logf_("container %s: open cgroup.procs: %s", c->id, strerror(errno));
  if (is_init) c->oom_base = cgroup_oom_kills(c);
  struct child_args ca = {s, c, is_init, child_in, s->terminal ? -1 : out[1], s->terminal ? -1 : err[1], slave, fail[0], fail[1], cg_fd};
  pid_t pid = spawn_child(&ca);
  int fork_errno = errno;
  close_fd(&cg_fd);
  if (setns(g_self_pidns, CLONE_NEWPID) < 0) logf_("cannot return to the agent's PID namespace: %s", strerror(errno));
  if (pid < 0) {
    errno = fork_errno;
    goto sys_fail;
  }
  /* The child's ends. */
  close_fd(&fail[1]);
  close_fd(&slave);
  close_fd(&out[1]);
  close_fd(&err[1]);
  close_fd(&in[0]);
  struct exec_error x;
  ssize_t n;
  do n = read(fail[0], &x, sizeof x);
  while (n < 0 && errno == EINTR);
  close_fd(&fail[0]);
  if (n == (ssize_t)sizeof x) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    describe_failure(s, c, &x, e);
    close_fd(&master);
    if (out_read != out[0]) close_fd(&out_read);
    close_fd(&out[0]);
    close_fd(&err[0]);
    if (stdin_write != in[1]) close_fd(&stdin_write);
    close_fd(&in[1]);
    return NULL;
  }

  memset(p, 0, sizeof *p);
  p->used = 1;
  snprintf(p->id, sizeof p->id, "%s", s->process_id);
  snprintf(p->container_id, sizeof p->container_id, "%s", s->container_id);
  p->handle = s->handle;
  p->pid = pid;
  p->terminal = s->terminal;
  p->is_init = is_init;
  p->started_ms = monotonic_ms();
  p->master_fd = master;
  p->out[0].fd = -1;
  p->out[PV_STREAM_STDOUT] = (struct ostream){.present = 1, .fd = out_read, .limit = s->window};
  if (s->terminal)
    p->out[PV_STREAM_STDERR] = (struct ostream){.present = 0, .fd = -1};
  else
    p->out[PV_STREAM_STDERR] = (struct ostream){.present = 1, .fd = err[0], .limit = s->window};
  p->has_stdin = s->stdin_open;
  p->stdin_fd = stdin_write;
  p->stdin_announced = PV_STDIN_WINDOW;
  p->attached = chan_synced(&g_io);
  p->is_job = s->job != NULL;
  if (is_init && joined) {
    c->init_pid = pid;
  } else if (is_init) {
    c->init_pid = pid;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)pid);
    if (c->pidns_fd >= 0) close(c->pidns_fd);
    c->pidns_fd = open(path, O_RDONLY | O_CLOEXEC);
  }
  return p;

sys_fail:
  set_error(e, code_for_errno(errno), errno, "start process: %s", strerror(errno));
fail_quiet:
  {
    int fds[] = {in[0], in[1], out[0], out[1], err[0], err[1], fail[0], fail[1], master, slave};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
      if (fds[i] >= 0) close(fds[i]);
    if (s->terminal) {
      if (out_read >= 0) close(out_read);
      if (stdin_write >= 0) close(stdin_write);
    }
  }
  return NULL;
}

/* ---- connections (sockets.c) ----------------------------------------------------------- */

struct process *process_adopt_conn(const char *container_id, const char *process_id, uint32_t handle,
                                   uint32_t window, int fd, struct agent_error *e) {
  struct process *p = NULL;
  if (process_find(process_id)) {
    set_error(e, PV_ERR_CONFLICT, EEXIST, "process id %s is in use", process_id);
  } else if (handle == 0 || process_by_handle(handle)) {
    set_error(e, PV_ERR_CONFLICT, EEXIST, "process handle %u is zero or in use", handle);
  } else {
    for (int i = 0; i < PV_MAX_PROCESSES && !p; i++)
      if (!g_procs[i].used) p = &g_procs[i];
    if (!p) set_error(e, PV_ERR_TOO_LARGE, 0, "too many processes (at most %d)", PV_MAX_PROCESSES);
  }
  int wfd = p ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
  if (p && wfd < 0) set_error(e, code_for_errno(errno), errno, "dup a connection: %s", strerror(errno));
  if (wfd < 0) {
    close(fd);
    return NULL;
  }
  memset(p, 0, sizeof *p);
  p->used = 1;
  p->is_conn = 1;
  snprintf(p->id, sizeof p->id, "%s", process_id);
  snprintf(p->container_id, sizeof p->container_id, "%s", container_id);
  p->handle = handle;
  p->started_ms = monotonic_ms();
  p->master_fd = -1;
  p->out[0].fd = -1;
  p->out[PV_STREAM_STDOUT] = (struct ostream){.present = 1, .fd = fd, .limit = window};
  /* No stderr: present and already ended, so its EOF goes out at once. */
  p->out[PV_STREAM_STDERR] = (struct ostream){.present = 1, .fd = -1, .done = 1, .limit = window};
  p->has_stdin = 1;
  p->stdin_fd = wfd;
  p->stdin_announced = PV_STDIN_WINDOW;
  p->attached = chan_synced(&g_io);
  return p;
}

void process_conn_shutdown(struct process *p) {
  struct ostream *o = &p->out[PV_STREAM_STDOUT];
  if (o->fd >= 0) shutdown(o->fd, SHUT_RDWR);
  close_fd(&o->fd);
  o->done = 1;
  stdin_close(p);
}

/* A connection has ended when both directions have: it then exits with status 0. */
static void conn_check_ended(struct process *p) {
  if (p->is_conn && !p->exited && p->out[PV_STREAM_STDOUT].done && p->stdin_fd < 0) p->exited = 1;
}

/* ---- reaping -------------------------------------------------------------------------- */

/* An ARCHIVE process (ops_archive.c) was reaped: thaw the container it froze. */
static void job_ended(struct process *p) {
  struct container *c = p->thaw ? container_find(p->container_id) : NULL;
  if (c) cgroup_freeze(c, 0);
  p->thaw = 0;
}

void processes_reap(void) {
  for (;;) {
    int st;
    pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid <= 0) break;
    container_init_exited(pid);
    podns_reaped(pid);
    for (int i = 0; i < PV_MAX_PROCESSES; i++) {
      struct process *p = &g_procs[i];
      if (!p->used || p->exited || p->pid != pid) continue;
      p->exited = 1;
      if (p->is_job) job_ended(p);
      if (p->is_init) {
        struct container *c = container_find(p->container_id);
        p->oom_killed = c && cgroup_oom_kills(c) > c->oom_base;
      }
      if (WIFSIGNALED(st)) {
        p->exit_signal = WTERMSIG(st);
        p->exit_code = 128 + p->exit_signal;
      } else {
        p->exit_code = WEXITSTATUS(st);
      }
      stdin_close(p);
      break;
    }
  }
}

/* ---- sessions ------------------------------------------------------------------------- */

void processes_new_session(void) {
  for (int i = 0; i < PV_MAX_PROCESSES; i++) {
    struct process *p = &g_procs[i];
    if (!p->used) continue;
    p->attached = 0;
    for (int s = 1; s <= 2; s++) {
      p->out[s].limit = p->out[s].sent;
      p->out[s].eof_sent = 0;
      p->out[s].eof_at = 0;
    }
  }
}

/* ---- stdin ---------------------------------------------------------------------------- */

static void pump_stdin(struct process *p) {
  while (p->stdin_fd >= 0 && p->stdin_len > 0) {
    size_t chunk = PV_STDIN_WINDOW - p->stdin_head;
    if (chunk > p->stdin_len) chunk = p->stdin_len;
    ssize_t n = write(p->stdin_fd, p->stdin_buf + p->stdin_head, chunk);
    if (n > 0) {
      p->stdin_head = (p->stdin_head + (size_t)n) % PV_STDIN_WINDOW;
      p->stdin_len -= (size_t)n;
      p->stdin_consumed += (uint64_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    stdin_close(p); /* the process closed its stdin (EPIPE) */
    return;
  }
  if (p->stdin_len == 0) {
    free(p->stdin_buf);
    p->stdin_buf = NULL;
    p->stdin_head = 0;
    if (p->stdin_eof) stdin_close(p);
  }
}

static void stdin_data(struct process *p, const uint8_t *data, size_t len) {
  if (p->stdin_fd < 0 || p->stdin_eof) {
    /* Closed: drop, but count it so the host's credit accounting stays whole. */
    p->stdin_received += len;
    p->stdin_consumed += len;
    return;
  }
  if (p->stdin_len + len > PV_STDIN_WINDOW) {
    logf_("process %s: host sent stdin beyond its credit; dropping %zu bytes", p->id, len);
    return;
  }
  if (!p->stdin_buf) {
    p->stdin_buf = malloc(PV_STDIN_WINDOW);
    if (!p->stdin_buf) {
      logf_("out of memory for stdin of %s", p->id);
      return;
    }
    p->stdin_head = 0;
  }
  size_t tail = (p->stdin_head + p->stdin_len) % PV_STDIN_WINDOW;
  size_t first = PV_STDIN_WINDOW - tail;
  if (first > len) first = len;
  memcpy(p->stdin_buf + tail, data, first);
  memcpy(p->stdin_buf, data + first, len - first);
  p->stdin_len += len;
  p->stdin_received += len;
  pump_stdin(p);
}

void process_io_frame(const struct frame_hdr *h, const uint8_t *payload) {
  struct process *p = process_by_handle(h->id);
  if (!p) return; /* raced with an exit: ignore */
  if (!p->attached) {
    p->attached = 1;
    p->stdin_announced = 0; /* tell this session the stdin credit */
  }
  switch (h->type) {
  case PV_FRAME_DATA:
    if (h->aux == PV_STREAM_STDIN && h->len > 0 && p->has_stdin) stdin_data(p, payload, h->len);
    break;
  case PV_FRAME_EOF:
    if (h->aux == PV_STREAM_STDIN) {
      p->stdin_eof = 1;
      if (p->stdin_len == 0) stdin_close(p);
    }
    break;
  case PV_FRAME_CREDIT:
    if (h->len == 8 && (h->aux == PV_STREAM_STDOUT || h->aux == PV_STREAM_STDERR)) {
      struct ostream *o = &p->out[h->aux];
      uint64_t limit = rd64(payload);
      if (o->present && limit > o->limit) o->limit = limit;
    }
    break;
  }
}

/* ---- output --------------------------------------------------------------------------- */

static void stream_done(struct ostream *o) {
  close_fd(&o->fd);
  o->done = 1;
}

/* Remember bytes just read (a container's init only): the ring keeps the last PV_OUTPUT_KEEP. */
static void keep_bytes(struct process *p, struct ostream *o, const uint8_t *data, size_t n) {
  if (!p->is_init) return;
  if (!o->keep) {
    o->keep = malloc(PV_OUTPUT_KEEP);
    if (!o->keep) {
      static int reported;
      if (!reported++) logf_("out of memory for kept output: re-sending after a restart is off");
      return;
    }
  }
  if (n > PV_OUTPUT_KEEP) {
    data += n - PV_OUTPUT_KEEP;
    n = PV_OUTPUT_KEEP;
  }
  size_t at = (size_t)((o->got - n) % PV_OUTPUT_KEEP); /* got already counts these n */
  size_t first = PV_OUTPUT_KEEP - at < n ? PV_OUTPUT_KEEP - at : n;
  memcpy(o->keep + at, data, first);
  memcpy(o->keep, data + first, n - first);
}

/* Oldest offset still kept. */
static uint64_t kept_from(const struct ostream *o) {
  if (!o->keep) return o->got;
  return o->got > PV_OUTPUT_KEEP ? o->got - PV_OUTPUT_KEEP : 0;
}

int64_t process_resume_stream(struct process *p, int s, uint64_t durable) {
  struct ostream *o = &p->out[s];
  if (!o->present || durable > o->got) {
    errno = EINVAL;
    return -1;
  }
  uint64_t from = durable > kept_from(o) ? durable : kept_from(o);
  o->sent = from;
  o->limit = from;
  return (int64_t)from;
}

/* Re-send kept bytes [sent, got) (after RESUME_OUTPUT), one frame at a time. */
static void resend_kept(struct ostream *o, struct process *p, int s, size_t want) {
  uint64_t left = o->got - o->sent;
  if (want > left) want = (size_t)left;
  if (chan_begin(&g_io, PV_FRAME_DATA, (uint16_t)s, p->handle) < 0) return;
  uint8_t *dst = chan_payload(&g_io, want);
  if (!dst) {
    chan_abort(&g_io);
    return;
  }
  size_t at = (size_t)(o->sent % PV_OUTPUT_KEEP);
  size_t first = PV_OUTPUT_KEEP - at < want ? PV_OUTPUT_KEEP - at : want;
  memcpy(dst, o->keep + at, first);
  memcpy(dst + first, o->keep, want - first);
  chan_end(&g_io);
  o->sent += want;
}

/* How long a pty read waits for the rest of a burst, in microseconds (see read_tty). */
#define TTY_GATHER_US 2000

/*
 * Read a pty master into dst. A terminal program's write reaches the master in pieces (the
 * line discipline passes "hello" and the "\r\n" that ONLCR makes of "\n" separately), and
 * reading the first piece at once would send two frames where a terminal shows one burst.
 * So when what was read does not end a line, wait up to TTY_GATHER_US for more, as a
 * terminal emulator's read loop effectively does. Keystroke echoes of interactive use end
 * without a newline too, but 2 ms is far below what a person notices.
 */
static ssize_t read_tty(int fd, uint8_t *dst, size_t want) {
  ssize_t n;
  do n = read(fd, dst, want);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return n;
  size_t got = (size_t)n;
  for (int i = 0; i < 4 && got < want && dst[got - 1] != '\n'; i++) {
    struct pollfd q = {.fd = fd, .events = POLLIN};
    if (poll(&q, 1, TTY_GATHER_US / 1000) <= 0 || !(q.revents & POLLIN)) break;
    ssize_t m = read(fd, dst + got, want - got);
    if (m <= 0) break;
    got += (size_t)m;
  }
  return (ssize_t)got;
}

/* One read of up to a frame from the stream into the channel's queue, within credit. */
static void pump_output(struct process *p, int s) {
  struct ostream *o = &p->out[s];
  if (!o->present || !p->attached || !chan_synced(&g_io)) return;
  if (o->limit <= o->sent) return;
  size_t room = buf_room(&g_io.out);
  if (room < PV_HEADER_SIZE + 1) return;
  uint64_t credit = o->limit - o->sent;
  /* The bytes of a spliced frame still in flight are in a pipe: nothing is read meanwhile. */
  if (chan_body_pending(&g_io)) return;
  size_t want = room - PV_HEADER_SIZE;
  /* A virtio-serial write takes at most 32 KiB: frames of exactly 64 KiB (header
   * included) keep every write full instead of leaving a 12-byte tail write per frame. */
  if (want > OUT_FRAME_PAYLOAD) want = OUT_FRAME_PAYLOAD;
  if (credit < want) want = (size_t)credit;
  if (o->sent < o->got) {
    resend_kept(o, p, s, want);
    return;
  }
  if (o->done || o->fd < 0) return;
  if (!p->terminal && !p->is_init && !p->is_conn) {
    /* An exec's pipe: what it holds goes to the channel by splice (channel.c), without a
     * copy. A container's init is read instead, to keep a copy for re-sending. */
    int avail = 0;
    if (ioctl(o->fd, FIONREAD, &avail) == 0 && avail > 0) {
      size_t n = (size_t)avail < PV_MAX_IO_PAYLOAD ? (size_t)avail : PV_MAX_IO_PAYLOAD;
      if (credit < n) n = (size_t)credit;
      if (chan_send_spliced(&g_io, PV_FRAME_DATA, (uint16_t)s, p->handle, o->fd, n) == 0) {
        o->sent += n;
        o->got += n;
        return;
      }
    }
  }
  if (chan_begin(&g_io, PV_FRAME_DATA, (uint16_t)s, p->handle) < 0) return;
  uint8_t *dst = chan_payload(&g_io, want);
  if (!dst) {
    chan_abort(&g_io);
    return;
  }
  ssize_t n;
  if (p->terminal) {
    n = read_tty(o->fd, dst, want);
  } else {
    do n = read(o->fd, dst, want);
    while (n < 0 && errno == EINTR);
  }
  if (n > 0) {
    g_io.out.tail -= want - (size_t)n;
    chan_end(&g_io);
    o->sent += (uint64_t)n;
    o->got += (uint64_t)n;
    keep_bytes(p, o, dst, (size_t)n);
    return;
  }
  chan_abort(&g_io);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    if (p->exited) stream_done(o); /* exited and nothing more readable */
    return;
  }
  stream_done(o); /* EOF, or EIO from a pty whose other side closed */
}

int processes_pollfds(struct pollfd *pfds, int max, int *owners, int *kinds) {
  int n = 0;
  int io_ok = chan_synced(&g_io) && buf_room(&g_io.out) >= PV_HEADER_SIZE + 1 && !chan_body_pending(&g_io);
  for (int k = 0; k < PV_MAX_PROCESSES && n + 3 <= max; k++) {
    int i = (int)((g_rr + (uint32_t)k) % PV_MAX_PROCESSES);
    struct process *p = &g_procs[i];
    if (!p->used) continue;
    for (int s = 1; s <= 2; s++) {
      struct ostream *o = &p->out[s];
      if (io_ok && p->attached && o->present && !o->done && o->fd >= 0 && o->limit > o->sent) {
        pfds[n] = (struct pollfd){.fd = o->fd, .events = POLLIN};
        owners[n] = i;
        kinds[n++] = s;
      }
    }
    if (p->stdin_fd >= 0 && p->stdin_len > 0) {
      pfds[n] = (struct pollfd){.fd = p->stdin_fd, .events = POLLOUT};
      owners[n] = i;
      kinds[n++] = PV_STREAM_STDIN;
    }
  }
  g_rr++;
  return n;
}

void process_handle_fd(int owner, int kind, short revents) {
  struct process *p = &g_procs[owner];
  if (!p->used) return;
  if (kind == PV_STREAM_STDIN) {
    if (revents & (POLLOUT | POLLERR | POLLHUP)) pump_stdin(p);
    return;
  }
  if (revents & (POLLIN | POLLHUP | POLLERR)) pump_output(p, kind);
}

static void maybe_send_stdin_credit(struct process *p) {
  /* After the host's EOF no more stdin comes: a credit then would reach a later daemon that
   * LIST_PROCESSES told this process has no stdin (ops.c), as a protocol error. */
  if (!p->has_stdin || p->stdin_eof || !p->attached || p->exited || !chan_synced(&g_io)) return;
  if (p->stdin_fd < 0 && p->stdin_announced != 0) return;
  uint64_t limit = p->stdin_consumed + PV_STDIN_WINDOW;
  if (limit <= p->stdin_announced) return;
  if (p->stdin_announced != 0 && limit - p->stdin_announced < PV_STDIN_WINDOW / 4 && p->stdin_len > 0) return;
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(limit >> (8 * i));
  if (chan_send(&g_io, PV_FRAME_CREDIT, PV_STREAM_STDIN, p->handle, le, 8) == 0) p->stdin_announced = limit;
}

int processes_housekeeping(void) {
  uint64_t io_before = g_io.out_queued, ctl_before = g_ctl.out_queued;
  for (int i = 0; i < PV_MAX_PROCESSES; i++) {
    struct process *p = &g_procs[i];
    if (!p->used) continue;
    conn_check_ended(p);
    maybe_send_stdin_credit(p);
    if (!p->attached || !chan_synced(&g_io)) continue;
    int all_eof = 1;
    uint64_t last_eof = 0;
    for (int s = 1; s <= 2; s++) {
      struct ostream *o = &p->out[s];
      if (!o->present) continue;
      if ((p->exited && !o->done) || o->sent < o->got) pump_output(p, s);
      if (o->done && !o->eof_sent && o->sent >= o->got && chan_send(&g_io, PV_FRAME_EOF, (uint16_t)s, p->handle, NULL, 0) == 0) {
        o->eof_sent = 1;
        o->eof_at = g_io.out_queued;
      }
      if (!o->eof_sent) all_eof = 0;
      if (o->eof_at > last_eof) last_eof = o->eof_at;
    }
    if (!p->exited || !all_eof || g_io.out_written < last_eof || !chan_synced(&g_ctl)) continue;
    if (chan_begin(&g_ctl, PV_FRAME_EXIT, 0, 0) < 0) continue;
    int bad = tlv_put_u32(&g_ctl.out, PV_TAG_HANDLE, p->handle) || tlv_put_str(&g_ctl.out, PV_TAG_PROCESS_ID, p->id) ||
              tlv_put_u32(&g_ctl.out, PV_TAG_EXIT_CODE, (uint32_t)p->exit_code) ||
              (p->exit_signal && tlv_put_u32(&g_ctl.out, PV_TAG_SIGNAL, (uint32_t)p->exit_signal)) ||
              (p->oom_killed && tlv_put_u32(&g_ctl.out, PV_TAG_OOM_KILLED, 1));
    if (bad) {
      chan_abort(&g_ctl);
      continue;
    }
    chan_end(&g_ctl);
    process_release(p);
  }
  return g_io.out_queued != io_before || g_ctl.out_queued != ctl_before;
}
