/*
 * podvisor-hijack-wait: waits until the peer of the stream socket on its standard input has
 * read everything written to that socket, or until a bound passes (src/api/v1.41/peer-read.ts).
 *
 *   podvisor-hijack-wait MS      (fd 0: the socket, shared with the daemon)
 *
 * The daemon runs it after writing the 101 of a hijacked stream (attach, exec start) and holds
 * the stream's first bytes until it exits. docker-py reads the 101 through a buffered reader
 * that takes up to 8 KiB from the socket at once, then reads the stream from the socket itself:
 * whatever output came in the same read as the 101 is lost. Once the peer has read the 101,
 * anything written after it comes in a read of its own.
 *
 * The socket's unread bytes are SIOCOUTQ: for an AF_UNIX stream socket, the bytes this end
 * wrote that the peer has not yet read; for TCP, the bytes the peer has not yet acknowledged
 * (received, not necessarily read). Nothing wakes a process when the peer reads, so it looks
 * again after a short sleep, 20 us at first and doubling up to 1 ms, until MS milliseconds
 * have passed.
 *
 * Exit status: 0 when nothing is left unread, 1 when the bound passed first, 2 when the
 * socket cannot be asked (not a socket, bad argument).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <time.h>

static long long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  char *end = NULL;
  long ms = strtol(argv[1], &end, 10);
  if (!end || *end || ms < 0 || ms > 60000) return 2;
  long long deadline = now_us() + ms * 1000LL;
  long sleep_us = 20;
  for (;;) {
    int unread = 0;
    if (ioctl(0, SIOCOUTQ, &unread) < 0) return 2;
    if (unread <= 0) return 0;
    long long left = deadline - now_us();
    if (left <= 0) return 1;
    if (sleep_us > left) sleep_us = (long)left;
    struct timespec d = {0, sleep_us * 1000};
    while (nanosleep(&d, &d) < 0 && errno == EINTR) {
    }
    if (sleep_us < 1000) sleep_us *= 2;
  }
}
