/*
 * pause.c - the pod's pause process: a CRI sandbox's infra container is the agent's own
 * binary, bound read-only at PV_POD_PAUSE_PATH in a container with no image (CREATE_CONTAINER
 * with POD_PAUSE, container.c) and started there under that name (main.c). It does what
 * Kubernetes' pause image does, without an image to read or a process of another binary to
 * start in a fresh VM:
 *
 *   - it is PID 1 of the pod's PID namespace, which the pod's containers join (PID_PEER);
 *   - it reaps every child that ends (orphans of the pod's containers are reparented to it);
 *   - SIGTERM or SIGINT ends it with status 0; no other signal does (a namespace's PID 1 gets
 *     only the signals it takes, and it takes only these three).
 */
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

int pause_main(void) {
  /* Nothing of the process's start stays open (stdio included: it never reads or writes). */
  syscall(SYS_close_range, 0U, ~0U, 0U);
  sigset_t taken;
  sigemptyset(&taken);
  sigaddset(&taken, SIGTERM);
  sigaddset(&taken, SIGINT);
  sigaddset(&taken, SIGCHLD);
  sigprocmask(SIG_BLOCK, &taken, NULL);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&taken, &si);
    if (sig < 0 && errno != EINTR) return 1;
    if (sig == SIGTERM || sig == SIGINT) return 0;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
  }
}
