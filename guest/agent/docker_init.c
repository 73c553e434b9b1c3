/*
 * docker_init.c - the container init of `docker run --init`, the job of dockerd's docker-init
 * (tini): the agent's own binary, bound read-only at PV_DOCKER_INIT_PATH in the container
 * (container.c), runs as this when started under that name (main.c), as
 * `docker-init -- CMD ARG...`, as PID 1 of the container's PID namespace:
 *
 *   - CMD runs as its child, in a process group of its own that becomes the terminal's
 *     foreground group when stdin is a terminal (so ^C reaches CMD, as under tini);
 *   - every signal the init gets is forwarded to CMD, except the ones a fault raises. A
 *     namespace's PID 1 only receives signals it catches, so each one has a handler; they are
 *     blocked and taken with sigwaitinfo, so no handler ever runs;
 *   - every child that ends is reaped: orphans reparented to PID 1 leave no zombies;
 *   - when CMD ends the init exits with its status: its exit code, or 128+s for death by
 *     signal s; the kernel then ends whatever else is left in the namespace.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

/* Signals that a fault raises in the init itself: left to their default action. */
static int synchronous(int sig) {
  return sig == SIGFPE || sig == SIGILL || sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT || sig == SIGTRAP ||
         sig == SIGSYS || sig == SIGTTIN || sig == SIGTTOU;
}

static void caught(int sig) { (void)sig; }

/* In the child: the signal state CMD starts with (what the init had), then exec. */
static void run_command(char **argv, const sigset_t *original) {
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  if (isatty(STDIN_FILENO)) {
    setpgid(0, 0);
    signal(SIGTTOU, SIG_IGN);
    (void)tcsetpgrp(STDIN_FILENO, getpid());
    signal(SIGTTOU, SIG_DFL);
  }
  sigprocmask(SIG_SETMASK, original, NULL);
  execvp(argv[0], argv);
  int err = errno;
  fprintf(stderr, "docker-init: exec %s: %s\n", argv[0], strerror(err));
  _exit(err == ENOENT ? 127 : 126);
}

int docker_init_main(int argc, char **argv) {
  int first = argc > 1 && strcmp(argv[1], "--") == 0 ? 2 : 1;
  if (first >= argc) {
    fprintf(stderr, "usage: docker-init -- COMMAND [ARG...]\n");
    return 1;
  }
  sigset_t forwarded, original;
  sigfillset(&forwarded);
  for (int sig = 1; sig < NSIG; sig++)
    if (synchronous(sig)) sigdelset(&forwarded, sig);
  sigprocmask(SIG_SETMASK, &forwarded, &original);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = caught;
  for (int sig = 1; sig < NSIG; sig++)
    if (sigismember(&forwarded, sig) == 1 && sig != SIGKILL && sig != SIGSTOP) (void)sigaction(sig, &sa, NULL);

  pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "docker-init: fork: %s\n", strerror(errno));
    return 1;
  }
  if (child == 0) run_command(argv + first, &original);

  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&forwarded, &si);
    if (sig < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "docker-init: sigwaitinfo: %s\n", strerror(errno));
      return 1;
    }
    if (sig != SIGCHLD) {
      if (kill(child, sig) < 0 && errno != ESRCH) fprintf(stderr, "docker-init: forward signal %d: %s\n", sig, strerror(errno));
      continue;
    }
    int code = -1;
    for (;;) {
      int status;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p <= 0) break;
      if (p == child) code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (code >= 0) return code;
  }
}
