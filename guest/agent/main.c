/*
 * main.c - the podvisor guest agent: argument parsing and the poll(2) loop.
 *
 *   /init (PID 1 in the VM)                 set the VM up (pid1.c), serve on the two
 *                                           virtio-serial ports
 *   podvisor-agent --ctl PATH --io PATH     host test mode: no VM setup, listen on two unix
 *                  [--share DIR]            sockets; container rootfs paths are relative to
 *                                           DIR (default /run/podvisor/share)
 *
 * The loop: poll the signalfd (SIGCHLD: reap), both channels, and every process pipe that
 * may make progress (output with credit and room, stdin with buffered data); then
 * housekeeping (EOF and EXIT frames, stdin credit, deferred replies) and flushing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

struct channel g_ctl;
struct channel g_io;
int g_pid1;
int g_shutdown;
int g_devnull = -1;
int g_self_pidns = -1;

/* Stop reading requests while this much of the answers is still unwritten. */
#define CTL_BACKLOG (2 * 1024 * 1024)

static void io_frame(struct channel *ch, const struct frame_hdr *h, const uint8_t *payload) {
  (void)ch;
  process_io_frame(h, payload);
}

static void io_session(struct channel *ch) {
  (void)ch;
  processes_new_session();
}

static void usage(void) {
  fprintf(stderr, "usage: podvisor-agent            (as /init of a podvisor VM)\n"
                  "       podvisor-agent --ctl PATH --io PATH [--share DIR]   (host test mode)\n");
  exit(2);
}

static void kill_all_containers(void) {
  for (int i = 0; i < PV_MAX_CONTAINERS; i++)
    if (g_containers[i].used) container_kill(&g_containers[i]);
  /* Wait (bounded) for them to go, so a test sees no process left behind. */
  for (int i = 0; i < 200; i++) {
    int live = 0;
    for (int k = 0; k < PV_MAX_CONTAINERS; k++) live |= g_containers[k].used && g_containers[k].init_pid > 0;
    processes_reap();
    if (!live) break;
    struct timespec ts = {0, 10000000};
    nanosleep(&ts, NULL);
  }
}

int main(int argc, char **argv) {
  /* Bound into a container as its init (docker --init) or the pod's pause: that job alone,
   * before anything that would take PID 1 for the VM's. */
  const char *name = strrchr(argv[0], '/');
  if (strcmp(name ? name + 1 : argv[0], "docker-init") == 0) return docker_init_main(argc, argv);
  /* Bound into a CRI sandbox's container as the pod's pause (CREATE_CONTAINER POD_PAUSE). */
  if (strcmp(name ? name + 1 : argv[0], "pause") == 0) return pause_main();
  const char *ctl_path = NULL, *io_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--ctl") == 0 && i + 1 < argc)
      ctl_path = argv[++i];
    else if (strcmp(argv[i], "--io") == 0 && i + 1 < argc)
      io_path = argv[++i];
    else if (strcmp(argv[i], "--share") == 0 && i + 1 < argc)
      g_share_dir = argv[++i];
    else if (getpid() != 1)
      usage();
  }
  g_pid1 = getpid() == 1;
  /* `rdinit=/init -- --poweroff`: the KVM probe's boot (src/vm/accel.ts), which only has to
   * reach user space and power off. */
  if (g_pid1)
    for (int i = 1; i < argc; i++)
      if (strcmp(argv[i], "--poweroff") == 0) pid1_poweroff();
  if (!g_pid1 && (!ctl_path || !io_path)) usage();
  signal(SIGPIPE, SIG_IGN);

  if (g_pid1) pid1_setup();
  if (g_pid1) {
    /* SCHED_BATCH: the agent's wakeups never preempt a running container process. A writer
     * then fills its pipe before the agent drains it, in a few frames per wakeup, instead of
     * the two trading the single vCPU at every write; each guest context switch flushes TCG's
     * TLB and jump cache, which cost more than the copying. Measured: stream 84 -> 107 MB/s,
     * vCPU time per 200 MiB 2.12 -> 1.66 s (docs/performance.md). Same weight as nice 0, and
     * RESET_ON_FORK gives the container processes the normal policy. */
    struct sched_param sp = {0};
    if (sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &sp) < 0) logf_("SCHED_BATCH: %s", strerror(errno));
  }
  for (int i = 0; i < PV_MAX_CONTAINERS; i++)
    g_containers[i].mnt_fd = g_containers[i].uts_fd = g_containers[i].root_fd = g_containers[i].pidns_fd = g_containers[i].upper_fd =
        g_containers[i].holder_fd = -1;
  static char stage[PV_MAX_PATH];
  if (g_pid1) {
    mkdir("/run/podvisor", 0755);
  } else {
    snprintf(stage, sizeof stage, "%s.stage", ctl_path);
    g_stage_dir = stage;
  }
  if (mkdir(g_stage_dir, 0700) < 0 && errno != EEXIST) logf_("mkdir %s: %s", g_stage_dir, strerror(errno));
  g_devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  g_self_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  if (g_devnull < 0 || g_self_pidns < 0) {
    logf_("cannot open /dev/null or /proc/self/ns/pid: %s", strerror(errno));
    if (!g_pid1) return 1;
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  if (!g_pid1) {
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
  }
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) {
    logf_("signalfd: %s", strerror(errno));
    return 1;
  }

  chan_init(&g_ctl, "control", PV_MAX_CTL_PAYLOAD, 8 * 1024 * 1024);
  chan_init(&g_io, "stream", PV_MAX_IO_PAYLOAD, 1024 * 1024);
  g_ctl.on_frame = ops_frame;
  g_ctl.on_session = ops_session;
  g_io.on_frame = io_frame;
  g_io.on_session = io_session;
  g_io.on_disconnect = io_session;
  g_ctl.peer = &g_io;
  g_io.peer = &g_ctl;

  if (g_pid1) {
    int cfd, ifd;
    while (pid1_open_ports(&cfd, &ifd) < 0) {
      if (cfd >= 0) close(cfd);
      if (ifd >= 0) close(ifd);
    }
    chan_set_status_port(pid1_open_port_named(PV_PORT_STATUS_NAME));
    chan_use_vport(&g_ctl, cfd);
    chan_use_vport(&g_io, ifd);
    locks_relay_start();
    share_sockets_start();
  } else {
    if (chan_listen_unix(&g_ctl, ctl_path) < 0 || chan_listen_unix(&g_io, io_path) < 0) {
      logf_("listen on %s / %s: %s", ctl_path, io_path, strerror(errno));
      return 1;
    }
  }
  logf_("ready");
  /* The boot's handshake does not wait for it. A template makes none (container_prepare_spare
   * makes none while the share waits for a mount): the spare's namespace would lack the share
   * that ACTIVATE mounts, so every clone would kill it and make another (its exit, namespace
   * teardown included, run in each clone under TCG); ACTIVATE makes it. */
  container_prepare_spare(0);

  enum { FIXED = 5, MAXFDS = FIXED + 3 * PV_MAX_PROCESSES + PV_MAX_LISTENERS + 1 };
  static struct pollfd pfds[MAXFDS];
  static int owners[MAXFDS], kinds[MAXFDS];
  int busy = 0;
  while (!g_shutdown) {
    /* A new host's SYNC held up behind a half-sent frame (channel.c): when to look again. */
    int stall_ctl = chan_check_stalled(&g_ctl), stall_io = chan_check_stalled(&g_io);
    int stall_wait = stall_ctl < 0 ? stall_io : stall_io < 0 || stall_ctl < stall_io ? stall_ctl : stall_io;
    int ctl_read = buf_len(&g_ctl.out) < CTL_BACKLOG;
    int n = 0;
    pfds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    pfds[n++] = (struct pollfd){.fd = g_ctl.listen_fd, .events = POLLIN};
    pfds[n++] = (struct pollfd){.fd = g_io.listen_fd, .events = POLLIN};
    short ce = chan_poll_events(&g_ctl, ctl_read), ie = chan_poll_events(&g_io, 1);
    pfds[n++] = (struct pollfd){.fd = ce ? g_ctl.fd : -1, .events = ce};
    pfds[n++] = (struct pollfd){.fd = ie ? g_io.fd : -1, .events = ie};
    n += processes_pollfds(pfds + FIXED, MAXFDS - FIXED, owners + FIXED, kinds + FIXED);
    n += sockets_pollfds(pfds + n, MAXFDS - n, owners + n, kinds + n);
    n += share_sockets_pollfds(pfds + n, MAXFDS - n, owners + n, kinds + n);
    int waiting_vport = (g_ctl.is_vport && g_ctl.state == CHAN_DISCONNECTED) ||
                        (g_io.is_vport && g_io.state == CHAN_DISCONNECTED);
    /* virtio-serial readiness comes from device interrupts; a lost or coalesced one would
     * leave us asleep with data in the ring. A bounded sleep re-checks the ports: often while
     * processes run, rarely when idle (one wakeup a second costs nothing measurable).
     * A disconnected port reads as hung up until a host connects, so the wait for a host is a
     * poll: every 10 ms for the first 200 checks (2 s of guest time) after the boot or after a
     * host left, then every 100 ms. A clone of a template resumes inside that window (its
     * template was saved just after its host left), and its host is answered ~90 ms sooner. */
    static int quick_checks;
    if (!waiting_vport) quick_checks = 0;
    int timeout = busy ? 0 : heldsig_pending() ? 10 : waiting_vport ? (quick_checks++ < 200 ? 10 : 100) : !g_ctl.is_vport ? -1 : process_count() > 0 ? 200 : 1000;
    if (stall_wait >= 0 && (timeout < 0 || timeout > stall_wait)) timeout = stall_wait;
    int r = poll(pfds, (nfds_t)n, timeout);
    if (r < 0 && errno != EINTR) {
      logf_("poll: %s", strerror(errno));
      continue;
    }
    if (r == 0 && g_ctl.is_vport) {
      for (int k = 3; k <= 4; k++) {
        struct channel *ch = k == 3 ? &g_ctl : &g_io;
        if (!pfds[k].events) continue;
        struct pollfd q = {.fd = pfds[k].fd, .events = pfds[k].events};
        if (poll(&q, 1, 0) > 0 && q.revents) {
          static int reported;
          if (reported++ < 5) logf_("the %s port was ready without a wakeup (revents %#x)", ch->name, q.revents);
          chan_handle(ch, q.revents, k == 3 ? ctl_read : 1);
        }
      }
    }
    if (r > 0) {
      if (pfds[0].revents & POLLIN) {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
          if (si.ssi_signo == SIGCHLD) processes_reap();
          if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) g_shutdown = 1;
        }
      }
      if (pfds[1].revents & POLLIN) chan_handle_listen(&g_ctl);
      if (pfds[2].revents & POLLIN) chan_handle_listen(&g_io);
      if (pfds[3].revents && pfds[3].fd == g_ctl.fd) chan_handle(&g_ctl, pfds[3].revents, ctl_read);
      if (pfds[4].revents && pfds[4].fd == g_io.fd) chan_handle(&g_io, pfds[4].revents, 1);
      for (int i = FIXED; i < n; i++)
        if (pfds[i].revents && kinds[i] == PV_KIND_LISTENER) sockets_handle_fd(owners[i], pfds[i].revents);
        else if (pfds[i].revents && kinds[i] == PV_KIND_SOCKETS_DEVICE) share_sockets_handle_fd(pfds[i].revents);
        else if (pfds[i].revents) process_handle_fd(owners[i], kinds[i], pfds[i].revents);
    }
    chan_check_vport(&g_ctl);
    chan_check_vport(&g_io);
    /* Housekeeping until it stops finding work: draining an exited process can end its
     * stream (EOF), and writing that EOF releases its EXIT event. Nothing else would wake
     * us for those steps. After many productive passes, poll without sleeping instead. */
    busy = 0;
    for (int pass = 0; pass < 8; pass++) {
      int progressed = processes_housekeeping();
      chan_flush(&g_io);
      if (!progressed) break;
      if (pass == 7) busy = 1;
    }
    ops_housekeeping();
    heldsig_check();
    chan_flush(&g_io);
    chan_flush(&g_ctl);
  }

  chan_drain(&g_ctl, 1000);
  if (g_pid1) pid1_poweroff();
  kill_all_containers();
  if (ctl_path) unlink(ctl_path);
  if (!g_pid1) rmdir(g_stage_dir);
  if (io_path) unlink(io_path);
  logf_("exiting");
  return 0;
}
