/* log.c - agent log lines, "podvisor-agent: <message>", to the console (VM) or stderr. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static int log_fd = 2;

void log_init(int fd) { log_fd = fd; }

void logf_(const char *fmt, ...) {
  char line[1024];
  int saved = errno;
  int n = snprintf(line, sizeof line, "podvisor-agent: ");
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  /* The console is slow under TCG but a log line is rare; one write keeps lines whole. */
  ssize_t w = write(log_fd, line, len);
  (void)w;
  errno = saved;
}

/* Milliseconds of CLOCK_MONOTONIC: the time base of held signals, stalled frames and listen
 * deadlines. */
uint64_t monotonic_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}
