/*
 * heldsig.c - a stop signal that reaches a namespace's init before it is ready for it.
 *
 * The kernel drops a signal sent to PID 1 of a PID namespace unless PID 1 catches it (SIGKILL
 * and SIGSTOP aside): a `docker stop` that comes before the container's init installed its
 * SIGTERM handler is lost, and the stop waits its whole grace period, then kills. With runc on
 * real hardware that window is the few microseconds between the exec and the program's first
 * sigaction, so `docker run -d busybox top; docker stop` takes 70 ms and exits 143. In a VM
 * under emulation (TCG) the same start-up takes tens of milliseconds, and the same commands
 * took 10 s and exited 137.
 *
 * So such a signal is held instead of lost while the process is young (HOLD_MS after its
 * start): every loop pass looks at the process's caught signals (/proc/PID/status SigCgt) and
 * sends the held signal as soon as it is caught. A process that never catches it (sleep as
 * PID 1) is not signalled again, and ends as before: the grace period runs out, then SIGKILL.
 * Signals to processes that are not a namespace's init, or that catch or ignore the signal
 * already, go out once as before.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent.h"

/* As long as a stop's grace period commonly runs (docker's 10 s, the kubelet's 30 s) with room for
 * a start-up slowed by a loaded host: the first 10 s were once not enough on a busy CI machine. */
enum { HOLD_MS = 60000 };

static int g_held; /* processes with a held signal */

/* From /proc/PID/status: whether the process is PID 1 of its innermost PID namespace, and
 * whether it catches or ignores `sig`. -1 when the file cannot be read. */
static int read_status(pid_t pid, int sig, int *ns_init, int *handled) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  *ns_init = 0;
  *handled = 0;
  unsigned long long bit = 1ULL << (sig - 1);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "NSpid:", 6) == 0) {
      const char *last = strrchr(line, '\t');
      *ns_init = last && strcmp(last, "\t1\n") == 0;
    } else if (strncmp(line, "SigCgt:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0) {
      unsigned long long mask = 0;
      if (sscanf(line + 7, "%llx", &mask) == 1 && (mask & bit)) *handled = 1;
    }
  }
  fclose(f);
  return 0;
}

void heldsig_note(struct process *p, int sig) {
  if (sig == SIGKILL || sig == SIGSTOP || sig < 1 || sig > 64) return;
  if (monotonic_ms() - p->started_ms >= HOLD_MS) return;
  int ns_init, handled;
  if (read_status(p->pid, sig, &ns_init, &handled) < 0 || !ns_init || handled) return;
  if (!p->held_sig) g_held++;
  p->held_sig = sig;
  logf_("process %s: holding signal %d until it catches it (its start-up is not done)", p->id, sig);
}

int heldsig_pending(void) { return g_held > 0; }

void heldsig_check(void) {
  if (!g_held) return;
  uint64_t now = monotonic_ms();
  for (int i = 0; i < PV_MAX_PROCESSES; i++) {
    struct process *p = &g_procs[i];
    if (!p->used || !p->held_sig) continue;
    int sig = p->held_sig, ns_init, handled = 0;
    int gone = p->exited || read_status(p->pid, sig, &ns_init, &handled) < 0;
    if (!gone && handled) kill(p->pid, sig);
    if (gone || handled || now - p->started_ms >= HOLD_MS) {
      p->held_sig = 0;
      g_held--;
    }
  }
}

void heldsig_forget(struct process *p) {
  if (p->held_sig) g_held--;
  p->held_sig = 0;
}
