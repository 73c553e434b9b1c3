/*
 * locks.c - the relay of the guest kernel's 9p lock requests to the host (our kernel's
 * /dev/podvisor-locks: guest/kernel/patches/0005-9p-host-locks.patch). QEMU's 9p server
 * grants every lock without taking one, so the kernel hands a POSIX lock or a flock on a 9p
 * file to this relay, which sends it over the virtio-serial port PV_PORT_LOCKS_NAME to the
 * host, where the VM's lock holder takes it (host/lock-holder). A child of the agent: it
 * copies each request read from the device to the port, and each whole reply from the port
 * back to the device. A request the port does not take (no host end connected) is answered here with
 * P9_LOCK_ERROR, so the caller gets ENOLCK at once instead of waiting. Without the device
 * (Debian's kernel) or the port, there is no relay, and the kernel asks the 9p server as
 * before.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "agent.h"

#define LOCKS_DEVICE "/dev/podvisor-locks"
/* The kernel's wire format (podvisor_locks.c): a request's header, and a reply. */
#define LOCK_MAGIC 0x4b4c5650u
#define LOCK_REQ_HEADER 40
#define LOCK_REPLY 32
#define LOCK_ERROR 2 /* P9_LOCK_ERROR */

static int write_all(int fd, const char *p, size_t n, int wait_ms) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN && wait_ms > 0) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      if (poll(&pf, 1, wait_ms) > 0 && (pf.revents & POLLOUT)) continue;
    }
    return -1;
  }
  return 0;
}

/* Answer the request in `req` with P9_LOCK_ERROR (its id is bytes 4-7). */
static void refuse(int dev, const char *req) {
  char rep[LOCK_REPLY] = {0};
  uint32_t magic = LOCK_MAGIC;
  memcpy(rep, &magic, 4);
  memcpy(rep + 4, req + 4, 4);
  rep[8] = LOCK_ERROR;
  if (write_all(dev, rep, sizeof rep, 0) < 0) logf_("locks: reply to the kernel: %s", strerror(errno));
}

static void relay(int dev, int port) {
  static char req[8192], reps[4096];
  size_t have = 0;
  int hup = 0;
  for (;;) {
    /* A port without its host end polls as POLLHUP at once: look at it again in 200 ms. */
    struct pollfd pf[2] = {{.fd = dev, .events = POLLIN}, {.fd = hup ? -1 : port, .events = POLLIN}};
    int n = poll(pf, 2, hup ? 200 : -1);
    if (n < 0 && errno != EINTR) {
      logf_("locks: poll: %s", strerror(errno));
      return;
    }
    hup = 0;
    if (pf[1].revents & POLLIN) {
      ssize_t r = read(port, reps + have, sizeof reps - have);
      if (r > 0) {
        have += (size_t)r;
        size_t whole = have - have % LOCK_REPLY;
        if (whole > 0 && write_all(dev, reps, whole, 0) < 0) logf_("locks: replies to the kernel: %s", strerror(errno));
        memmove(reps, reps + whole, have - whole);
        have -= whole;
      }
    } else if (pf[1].revents & (POLLHUP | POLLERR)) {
      hup = 1;
      have = 0; /* a host end that went away takes its half reply with it */
    }
    if (pf[0].revents & POLLIN) {
      ssize_t r = read(dev, req, sizeof req);
      if (r >= LOCK_REQ_HEADER && write_all(port, req, (size_t)r, 1000) < 0) refuse(dev, req);
    }
  }
}

void locks_relay_start(void) {
  int dev = open(LOCKS_DEVICE, O_RDWR | O_CLOEXEC);
  if (dev < 0) return; /* not podvisor's kernel: locks stay the 9p server's */
  int port = pid1_open_port_named(PV_PORT_LOCKS_NAME);
  if (port < 0) {
    logf_("locks: no port %s: locks are not taken on the host", PV_PORT_LOCKS_NAME);
    close(dev);
    return;
  }
  pid_t pid = fork();
  if (pid < 0) logf_("locks: fork: %s", strerror(errno));
  if (pid != 0) {
    close(dev);
    close(port);
    return;
  }
  /* The child keeps only its two descriptors (the agent's ports among the rest must not stay
   * open here: a virtio-serial port is opened once). */
  for (int fd = 0; fd < 1024; fd++)
    if (fd != dev && fd != port && fd > 2) close(fd);
  prctl(PR_SET_NAME, "pv-lock-relay");
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  /* Out of the guest OOM killer's reach: killing the relay frees next to nothing and leaves every
   * container of the VM without POSIX locks on its shares. */
  int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (adj >= 0) {
    if (write(adj, "-1000", 5) < 0) logf_("locks: oom_score_adj: %s", strerror(errno));
    close(adj);
  }
  relay(dev, port);
  _exit(1);
}
