/*
 * podns.c - the namespaces the containers of a multi-container pod share (Kubernetes'
 * shareProcessNamespace with a pause container as PID 1, done inside the agent):
 *
 *   PID  one PID namespace for the pod, made on first use. Its PID 1 is a small reaper forked
 *        from the agent (it reaps the orphans of every container and ignores the containers'
 *        signals, as PID 1 of a namespace does); each shared container's processes join it, so
 *        they see each other's. A container's init is then not PID 1, so the kernel does not
 *        empty the container when it dies: the container's cgroup is killed instead
 *        (cgroup.kill) when its init exits or it is destroyed.
 *   UTS  the first shared container's UTS namespace; the next ones join it (one hostname).
 *
 * Network and IPC are the VM's for every container already. A container created without the
 * share flag (the Docker front end's) keeps its own PID and UTS namespaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

static pid_t g_reaper;       /* PID 1 of the pod's PID namespace (agent's view), 0 when none */
static int g_pod_pidns = -1; /* /proc/<reaper>/ns/pid */
static int g_pod_uts = -1;   /* UTS namespace of the first shared container */

static void reaper_main(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  prctl(PR_SET_NAME, "pod-init");
  syscall(SYS_close_range, 0U, ~0U, 0U);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  for (;;) {
    siginfo_t si;
    if (sigwaitinfo(&all, &si) < 0 && errno != EINTR) _exit(1);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
  }
}

int podns_pidns(struct agent_error *e) {
  if (g_pod_pidns >= 0) return g_pod_pidns;
  if (unshare(CLONE_NEWPID) < 0) {
    set_error(e, code_for_errno(errno), errno, "new pod PID namespace: %s", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  int err = errno;
  if (pid == 0) reaper_main();
  if (setns(g_self_pidns, CLONE_NEWPID) < 0) logf_("cannot return to the agent's PID namespace: %s", strerror(errno));
  if (pid < 0) {
    set_error(e, code_for_errno(err), err, "fork the pod's PID 1: %s", strerror(err));
    return -1;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
    kill(pid, SIGKILL);
    set_error(e, code_for_errno(err), err, "open the pod's PID namespace: %s", strerror(err));
    return -1;
  }
  g_reaper = pid;
  g_pod_pidns = fd;
  logf_("pod PID namespace made, its PID 1 is %d", (int)pid);
  return fd;
}

void podns_join_uts(struct container *c) {
  if (c->uts_fd < 0) return;
  if (g_pod_uts < 0) {
    g_pod_uts = fcntl(c->uts_fd, F_DUPFD_CLOEXEC, 3);
    return;
  }
  int fd = fcntl(g_pod_uts, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) return; /* keeps its own, with the same hostname */
  close(c->uts_fd);
  c->uts_fd = fd;
}

void podns_reaped(pid_t pid) {
  if (g_reaper <= 0 || pid != g_reaper) return;
  /* Only a SIGKILL from outside the namespace ends it: every process of the pod went with it. */
  logf_("the pod's PID 1 (%d) died", (int)pid);
  g_reaper = 0;
  if (g_pod_pidns >= 0) close(g_pod_pidns);
  g_pod_pidns = -1;
}

void podns_release_if_unused(void) {
  for (int i = 0; i < PV_MAX_CONTAINERS; i++)
    if (g_containers[i].used && g_containers[i].share_ns) return;
  if (g_pod_uts >= 0) close(g_pod_uts);
  g_pod_uts = -1;
  /* The next shared container gets a fresh namespace; this one's PID 1 is reaped as any
   * child of the agent. */
  if (g_reaper > 0) kill(g_reaper, SIGKILL);
  g_reaper = 0;
  if (g_pod_pidns >= 0) close(g_pod_pidns);
  g_pod_pidns = -1;
}
