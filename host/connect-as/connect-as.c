/*
 * podvisor-connect-as: connects to a host unix stream socket as a container process's
 * credentials, then relays the connection's bytes through its standard input and output
 * (src/pod/network/connect-as.ts).
 *
 *   podvisor-connect-as UID GID [GROUP...]
 *   podvisor-connect-as --peer
 *   podvisor-connect-as --peers
 *
 *   fd 0  what the container's process writes (EOF: shut the connection's write side)
 *   fd 1  what the host service writes (closed once the service shut its write side)
 *   fd 2  the status: "0\n" once connected, else "<errno>\n"; closed after either
 *   fd 3  an O_PATH fd of the socket file, opened by the daemon (no symlink followed)
 *
 * A host service reading SO_PEERCRED of the connection sees UID and GID, and SO_PEERGROUPS the
 * GROUPs, as under runc, where the container's process connects itself; the socket file's mode
 * and owner are checked against them as they would be for that process. Node can neither
 * change its credentials per connection nor take a socket back from a child (SCM_RIGHTS), so
 * the connection stays here and its bytes travel through this process.
 *
 * The credentials are set for good before the connect (groups, gid, then uid; no_new_privs):
 * any uid but 0 leaves no capability. The socket is reached through /proc/self/fd/3, which a
 * process may open even once it is no longer dumpable. Only fds 0-3 are kept.
 *
 * With --peer it connects nothing: fd 3 is a connection a host client made to a listener of the
 * daemon's (a guest's socket in a share, src/pod/network/share-sockets.ts), and what it writes
 * on fd 1 is who that client is, "UID GID[ GROUP...]\n" (SO_PEERCRED, and SO_PEERGROUPS: at
 * most MAX_GROUPS, none when the client has more), for the guest agent to connect as them
 * (src/pod/network/peer-of.ts). Node cannot read either option; /proc/<pid>/status of the
 * client would be read after the fact, by a pid that may be another process's by then. On
 * error "<errno>\n" on fd 2 and exit status 1. Nothing of the socket is read or changed.
 * With --peers it does the same for many connections, staying: each line on fd 0 is the
 * number of a descriptor of its parent's (the daemon's), which it takes a copy of
 * (pidfd_getfd: no process per connection) and answers on fd 1, in order, with
 * "ok INODE UID GID[ GROUP...]\n" (INODE: the socket's, for the daemon to check it asked
 * about the descriptor it meant) or "err <errno>\n"; it ends at fd 0's end or its parent's.
 *
 * Exit status: 0 once both directions ended (or the daemon stopped reading), 1 when the
 * connect failed, 2 on bad arguments or credentials that cannot be taken, 3 when the
 * connection was reset (the daemon then ends the container's side at once, not as an EOF).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_GROUPS 64 /* the agent's PV_MAX_GROUPS */
#define BUF_SIZE 65536

/* A decimal id, 0..4294967294 (4294967295 is no id); 0, or -1 when it is not one. */
static int parse_id(const char *s, uint32_t *out) {
  size_t n = strlen(s);
  if (n == 0 || n > 10) return -1;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return -1;
  unsigned long long v = strtoull(s, NULL, 10);
  if (v > 4294967294ULL) return -1;
  *out = (uint32_t)v;
  return 0;
}

static void status(int err) {
  char b[16];
  int n = snprintf(b, sizeof b, "%d\n", err);
  if (write(2, b, (size_t)n) < 0) {
    /* the daemon went: nothing to tell */
  }
  close(2);
}

struct buf {
  char data[BUF_SIZE];
  size_t off, len;
};

/* Relay fd 0 to `s` and `s` to fd 1 until both directions ended; the exit status. */
static int relay(int s) {
  static struct buf up, down; /* up: fd 0 to the socket; down: the socket to fd 1 */
  int in_eof = 0, s_eof = 0, wr_shut = 0, out_closed = 0;
  for (;;) {
    if (in_eof && up.len == 0 && !wr_shut) {
      shutdown(s, SHUT_WR);
      wr_shut = 1;
    }
    if (s_eof && down.len == 0 && !out_closed) {
      close(1);
      out_closed = 1;
    }
    if (wr_shut && out_closed) return 0;
    struct pollfd p[3] = {{.fd = -1}, {.fd = s}, {.fd = -1}};
    if (!in_eof && up.len == 0) p[0] = (struct pollfd){.fd = 0, .events = POLLIN};
    if (up.len) p[1].events |= POLLOUT;
    if (!s_eof && down.len == 0) p[1].events |= POLLIN;
    if (down.len) p[2] = (struct pollfd){.fd = 1, .events = POLLOUT};
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return 3;
    }
    if (p[0].revents) {
      ssize_t n = read(0, up.data, sizeof up.data);
      if (n > 0) {
        up.off = 0;
        up.len = (size_t)n;
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        in_eof = 1;
      }
    }
    if (p[1].revents && up.len) {
      ssize_t n = send(s, up.data + up.off, up.len, MSG_NOSIGNAL);
      if (n > 0) {
        up.off += (size_t)n;
        up.len -= (size_t)n;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return 3; /* EPIPE, ECONNRESET: the service is gone */
      }
    }
    if (p[1].revents && !s_eof && down.len == 0) {
      ssize_t n = recv(s, down.data, sizeof down.data, 0);
      if (n > 0) {
        down.off = 0;
        down.len = (size_t)n;
      } else if (n == 0) {
        s_eof = 1;
      } else if (errno != EAGAIN && errno != EINTR) {
        return 3;
      }
    }
    if (p[2].revents && down.len) {
      ssize_t n = write(1, down.data + down.off, down.len);
      if (n > 0) {
        down.off += (size_t)n;
        down.len -= (size_t)n;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return 0; /* the daemon stopped reading: it has ended the connection */
      }
    }
  }
}

/* --peer: who connected on fd 3 (see the comment at the top); the exit status. */
static int peer_of(void) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(3, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof cred) {
    status(errno ? errno : EINVAL);
    return 1;
  }
  gid_t groups[MAX_GROUPS];
  socklen_t glen = sizeof groups;
  size_t ngroups = 0;
  if (getsockopt(3, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) {
    ngroups = glen / sizeof groups[0];
  } else if (errno != ERANGE) { /* ERANGE: more than MAX_GROUPS, none carried (no partial list) */
    status(errno);
    return 1;
  }
  char out[12 * (MAX_GROUPS + 2) + 2];
  int n = snprintf(out, sizeof out, "%u %u", (unsigned)cred.uid, (unsigned)cred.gid);
  for (size_t i = 0; i < ngroups; i++) n += snprintf(out + n, sizeof out - (size_t)n, " %u", (unsigned)groups[i]);
  n += snprintf(out + n, sizeof out - (size_t)n, "\n");
  for (int off = 0; off < n;) {
    ssize_t w = write(1, out + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return 1;
    off += (int)w;
  }
  return 0;
}

/* Write all of `b` to fd 1; -1 when the daemon went. */
static int put_all(const char *b, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One answer of --peers about `fd` (a copy of the daemon's descriptor) into `out`. */
static int peer_answer(int fd, char *out, size_t max) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  struct stat st;
  gid_t groups[MAX_GROUPS];
  socklen_t glen = sizeof groups;
  size_t ngroups = 0;
  if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) return snprintf(out, max, "err %d\n", ENOTSOCK);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof cred)
    return snprintf(out, max, "err %d\n", errno ? errno : EINVAL);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) ngroups = glen / sizeof groups[0];
  else if (errno != ERANGE) return snprintf(out, max, "err %d\n", errno);
  int n = snprintf(out, max, "ok %llu %u %u", (unsigned long long)st.st_ino, (unsigned)cred.uid, (unsigned)cred.gid);
  for (size_t i = 0; i < ngroups; i++) n += snprintf(out + n, max - (size_t)n, " %u", (unsigned)groups[i]);
  n += snprintf(out + n, max - (size_t)n, "\n");
  return n;
}

/* --peers: answer for each descriptor number the daemon names (see the comment at the top). */
static int peers(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  int pidfd = (int)syscall(SYS_pidfd_open, getppid(), 0);
  if (pidfd < 0) return 1;
  char in[64], out[32 + 12 * (MAX_GROUPS + 2)];
  size_t have = 0;
  for (;;) {
    ssize_t r = read(0, in + have, sizeof in - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    have += (size_t)r;
    char *nl;
    while ((nl = memchr(in, '\n', have))) {
      *nl = '\0';
      uint32_t num;
      int n;
      if (parse_id(in, &num) < 0 || num > 0x7fffffff) {
        n = snprintf(out, sizeof out, "err %d\n", EBADF);
      } else {
        int fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)num, 0);
        if (fd < 0) {
          n = snprintf(out, sizeof out, "err %d\n", errno);
        } else {
          n = peer_answer(fd, out, sizeof out);
          close(fd);
        }
      }
      if (put_all(out, (size_t)n) < 0) return 0;
      size_t used = (size_t)(nl - in) + 1;
      memmove(in, nl + 1, have - used);
      have -= used;
    }
    if (have == sizeof in) return 2; /* a line longer than any number: not the daemon's */
  }
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 2 && strcmp(argv[1], "--peers") == 0) {
    syscall(SYS_close_range, 3U, ~0U, 0U);
    return peers();
  }
  if (argc == 2 && strcmp(argv[1], "--peer") == 0) {
    syscall(SYS_close_range, 4U, ~0U, 0U);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return peer_of();
  }
  pid_t parent = getppid();
  uint32_t uid, gid;
  gid_t groups[MAX_GROUPS];
  int ngroups = argc - 3;
  if (argc < 3 || ngroups > MAX_GROUPS || parse_id(argv[1], &uid) < 0 || parse_id(argv[2], &gid) < 0) {
    status(EINVAL);
    return 2;
  }
  for (int i = 0; i < ngroups; i++) {
    uint32_t g;
    if (parse_id(argv[3 + i], &g) < 0) {
      status(EINVAL);
      return 2;
    }
    groups[i] = g;
  }
  syscall(SYS_close_range, 4U, ~0U, 0U);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || setgroups((size_t)ngroups, groups) < 0 ||
      setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
    status(errno);
    return 2;
  }
  /* Cleared by the change of credentials: set again, and gone with the daemon. */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid() != parent) return 2;
  if (fcntl(3, F_GETFD) < 0) { /* no socket given: the socket made below must not take its number */
    status(EBADF);
    return 2;
  }
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    status(errno);
    return 1;
  }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/3");
  if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
    status(errno);
    return 1;
  }
  close(3);
  status(0);
  /* Only our own ends change: the daemon's ends of fds 0 and 1 are other descriptions. */
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
  fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
  return relay(s);
}
