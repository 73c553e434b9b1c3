/*
 * sockets.c - a host unix socket bound into a container as a single file (`-v SOCK:/path`).
 *
 * SOCKET_LISTEN binds a stream socket of the agent's at the path in the container's root (its
 * parents made, mode and owner from the request: the host socket's) and listens on it. The host keeps one
 * SOCKET_ACCEPT pending per listener; it is answered when a process of the container connects:
 * the accepted connection becomes a process without a pid under the request's handle
 * (process_adopt_conn), so its bytes travel as that process's STDOUT and STDIN under the
 * stream channel's credits in both directions. The host, not the guest, then connects to the
 * host socket the user named, as the uid, gid and supplementary groups of the process that
 * connected (SO_PEERCRED and SO_PEERGROUPS of the accepted connection, in the ACK: UID GID
 * GROUP...), so the host service sees them as it would under runc. The guest names nothing: the request's handle and process id
 * are the host's, and the listener number is only looked up here.
 *
 * While no ACCEPT is pending the listener is not polled, and connections wait in its backlog.
 * Destroying the container closes its listeners (a pending ACCEPT answers NOT_FOUND) and ends
 * its connections at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "reply.h"

struct listener {
  int used;
  uint32_t number; /* the host's LISTENER, unique per container */
  char container_id[PV_MAX_ID + 1];
  int fd;
  /* The pending SOCKET_ACCEPT, if any. */
  int pending;
  uint32_t req;
  uint64_t session;
  uint32_t handle;
  uint32_t window;
  char process_id[PV_MAX_ID + 1];
  /* A one-shot listener (share_sockets.c): unnamed, closed after its one connection or at
   * its deadline. */
  int oneshot;
  uint64_t deadline_ms;
};

static struct listener g_listeners[PV_MAX_LISTENERS];

static struct channel *ctl(void) { return &g_ctl; }

static struct listener *listener_find(const char *cid, uint32_t number) {
  for (int i = 0; i < PV_MAX_LISTENERS; i++)
    if (g_listeners[i].used && !g_listeners[i].oneshot && g_listeners[i].number == number && strcmp(g_listeners[i].container_id, cid) == 0)
      return &g_listeners[i];
  return NULL;
}

/* Bind a listening stream socket at `path` in the container's root, owned by `uid`:`gid` (-1:
 * root's); the fd, or -1 with *e set. */
static int bind_in_container(struct container *c, const char *path, mode_t mode, int64_t uid, int64_t gid,
                             struct agent_error *e) {
  if (make_parents(c, path) < 0) {
    set_error(e, code_for_errno(errno), errno, "make the directory of %s: %s", path, strerror(errno));
    return -1;
  }
  char dir[PV_MAX_PATH + 1];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  const char *base = slash + 1;
  char name[256];
  if (strlen(base) >= sizeof name) {
    set_error(e, PV_ERR_INVALID, ENAMETOOLONG, "socket name too long: %s", path);
    return -1;
  }
  snprintf(name, sizeof name, "%s", base);
  if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
  int dfd = open_in_root(c->root_fd, dir, O_PATH | O_DIRECTORY, 0);
  if (dfd < 0) {
    set_error(e, code_for_errno(errno), errno, "open %s: %s", dir, strerror(errno));
    return -1;
  }
  /* What the image has at the target is replaced, as a bind mount would hide it. */
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) {
      set_error(e, PV_ERR_INVALID, EISDIR, "cannot bind a socket on directory %s", path);
      close(dfd);
      return -1;
    }
    unlinkat(dfd, name, 0);
  }
  /* The directory by its fd (a magic link resolved by the kernel, not a path the container
   * can swap), and the file's mode from the umask at bind, not a chmod by name afterwards. */
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int n = snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dfd, name);
  int fd = -1;
  if (n < 0 || (size_t)n >= sizeof sa.sun_path) {
    set_error(e, PV_ERR_INVALID, ENAMETOOLONG, "socket name too long: %s", path);
    goto out;
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    set_error(e, code_for_errno(errno), errno, "socket: %s", strerror(errno));
    goto out;
  }
  mode_t old = umask((mode_t)(~mode & 0777));
  int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  int err = errno;
  umask(old);
  if (r < 0 || listen(fd, 128) < 0) {
    if (r == 0) err = errno;
    set_error(e, code_for_errno(err), err, "bind a socket at %s: %s", path, strerror(err));
    close(fd);
    fd = -1;
    goto out;
  }
  /* The host socket's owner, so its mode means here what it means on the host. By name in the
   * held directory, never followed: no process of the container runs yet (its init comes after
   * its mounts). */
  if (uid >= 0 && fchownat(dfd, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0) {
    err = errno;
    set_error(e, code_for_errno(err), err, "own the socket at %s: %s", path, strerror(err));
    unlinkat(dfd, name, 0);
    close(fd);
    fd = -1;
  }
out:
  close(dfd);
  return fd;
}

void op_socket_listen(const struct tlv_msg *m, uint32_t id) {
  struct container *c = need_container(m, id);
  if (!c) return;
  char path[PV_MAX_PATH + 1];
  if (need_str(m, id, PV_TAG_PATH, "path", path, PV_MAX_PATH) < 0) return;
  uint32_t number, mode;
  if (tlv_get_u32(m, PV_TAG_LISTENER, &number) < 0) return fail(id, PV_ERR_INVALID, EINVAL, "missing listener");
  if (tlv_get_u32(m, PV_TAG_MODE, &mode) < 0 || mode > 0777) return fail(id, PV_ERR_INVALID, EINVAL, "bad socket mode");
  uint32_t uid, gid;
  int64_t owner_uid = -1, owner_gid = -1;
  int has_uid = tlv_get_u32(m, PV_TAG_UID, &uid) == 0, has_gid = tlv_get_u32(m, PV_TAG_GID, &gid) == 0;
  if (has_uid != has_gid || (has_uid && (uid == (uint32_t)-1 || gid == (uint32_t)-1)))
    return fail(id, PV_ERR_INVALID, EINVAL, "bad socket owner");
  if (has_uid) {
    owner_uid = uid;
    owner_gid = gid;
  }
  if (!valid_container_path(path)) return fail(id, PV_ERR_INVALID, EINVAL, "path must be absolute without ..");
  if (c->destroying) return fail(id, PV_ERR_CONFLICT, EBUSY, "container is being destroyed");
  if (listener_find(c->id, number)) return fail(id, PV_ERR_CONFLICT, EEXIST, "listener in use");
  struct listener *l = NULL;
  for (int i = 0; i < PV_MAX_LISTENERS && !l; i++)
    if (!g_listeners[i].used) l = &g_listeners[i];
  if (!l) return fail(id, PV_ERR_TOO_LARGE, EMFILE, "too many bound sockets");
  struct agent_error e;
  int fd = bind_in_container(c, path, (mode_t)mode, owner_uid, owner_gid, &e);
  if (fd < 0) return reply_error(id, &e);
  memset(l, 0, sizeof *l);
  l->used = 1;
  l->number = number;
  l->fd = fd;
  snprintf(l->container_id, sizeof l->container_id, "%s", c->id);
  reply_ack_empty(id);
}

void op_socket_accept(const struct tlv_msg *m, uint32_t id) {
  char cid[PV_MAX_ID + 1], pid_s[PV_MAX_ID + 1];
  uint32_t number, handle, window;
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", cid, PV_MAX_ID) < 0) return;
  if (need_str(m, id, PV_TAG_PROCESS_ID, "process id", pid_s, PV_MAX_ID) < 0) return;
  if (!valid_id(pid_s)) return fail(id, PV_ERR_INVALID, EINVAL, "invalid process id");
  if (tlv_get_u32(m, PV_TAG_LISTENER, &number) < 0) return fail(id, PV_ERR_INVALID, EINVAL, "missing listener");
  if (tlv_get_u32(m, PV_TAG_HANDLE, &handle) < 0 || handle == 0)
    return fail(id, PV_ERR_INVALID, EINVAL, "missing process handle");
  if (tlv_get_u32(m, PV_TAG_WINDOW, &window) < 0 || window < PV_MIN_WINDOW || window > PV_MAX_WINDOW)
    return fail(id, PV_ERR_INVALID, EINVAL, "window out of range");
  struct listener *l = listener_find(cid, number);
  if (!l) return fail(id, PV_ERR_NOT_FOUND, ENOENT, "no such listener");
  if (l->pending && l->session == ctl()->session) return fail(id, PV_ERR_CONFLICT, EBUSY, "an accept is pending");
  l->pending = 1;
  l->req = id;
  l->session = ctl()->session;
  l->handle = handle;
  l->window = window;
  snprintf(l->process_id, sizeof l->process_id, "%s", pid_s);
}

int sockets_pollfds(struct pollfd *pfds, int max, int *owners, int *kinds) {
  int n = 0;
  for (int i = 0; i < PV_MAX_LISTENERS && n < max; i++) {
    struct listener *l = &g_listeners[i];
    if (!l->used || !l->pending || l->session != ctl()->session || !chan_synced(ctl())) continue;
    pfds[n] = (struct pollfd){.fd = l->fd, .events = POLLIN};
    owners[n] = i;
    kinds[n++] = PV_KIND_LISTENER;
  }
  return n;
}

static void listener_close(struct listener *l) {
  close(l->fd);
  memset(l, 0, sizeof *l);
}

void sockets_handle_fd(int owner, short revents) {
  struct listener *l = &g_listeners[owner];
  if (!l->used || !l->pending || !(revents & POLLIN)) return;
  int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return; /* EAGAIN, or a connection already reset: wait for the next */
  /* Who connected (a socket bind's: the host connects to the host socket as them; a one-shot
   * listener's caller was named in its CONNECT event already). */
  struct ucred cred;
  socklen_t len = sizeof cred;
  uint32_t groups[PV_MAX_GROUPS];
  int ngroups = 0, peer = !l->oneshot && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
  if (peer) {
    /* More groups than PV_MAX_GROUPS (ERANGE): none carried, as the host takes no partial list. */
    socklen_t glen = sizeof groups;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0) ngroups = (int)(glen / sizeof groups[0]);
  }
  l->pending = 0;
  struct agent_error e;
  uint32_t req = l->req;
  struct process *p = process_adopt_conn(l->container_id, l->process_id, l->handle, l->window, fd, &e);
  if (l->oneshot) listener_close(l);
  if (!p) return reply_error(req, &e);
  if (!peer) return reply_connection(req);
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ACK, 0, req) < 0) return;
  if (tlv_put_u32(&ch->out, PV_TAG_PID, 0) || put_peer(&ch->out, cred.uid, cred.gid, groups, (uint32_t)ngroups))
    chan_abort(ch);
  else
    chan_end(ch);
}

void reply_connection(uint32_t req) {
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ACK, 0, req) < 0) return;
  if (tlv_put_u32(&ch->out, PV_TAG_PID, 0))
    chan_abort(ch);
  else
    chan_end(ch);
}

int put_peer(struct buf *b, uint32_t uid, uint32_t gid, const uint32_t *groups, uint32_t ngroups) {
  if (tlv_put_u32(b, PV_TAG_UID, uid) || tlv_put_u32(b, PV_TAG_GID, gid)) return -1;
  for (uint32_t i = 0; i < ngroups; i++)
    if (tlv_put_u32(b, PV_TAG_GROUP, groups[i])) return -1;
  return 0;
}

void sockets_container_gone(const char *container_id) {
  for (int i = 0; i < PV_MAX_LISTENERS; i++) {
    struct listener *l = &g_listeners[i];
    if (!l->used || strcmp(l->container_id, container_id) != 0) continue;
    if (l->pending && l->session == ctl()->session) fail(l->req, PV_ERR_NOT_FOUND, ENOENT, "the container is gone");
    close(l->fd);
    memset(l, 0, sizeof *l);
  }
  for (int i = 0; i < PV_MAX_PROCESSES; i++) {
    struct process *p = &g_procs[i];
    if (p->used && p->is_conn && strcmp(p->container_id, container_id) == 0) process_conn_shutdown(p);
  }
}

void sockets_new_session(void) {
  for (int i = 0; i < PV_MAX_LISTENERS; i++)
    if (g_listeners[i].used && g_listeners[i].oneshot)
      listener_close(&g_listeners[i]); /* its host is gone: the caller's connect ends */
    else
      g_listeners[i].pending = 0;
}

int sockets_listen_once(const struct stream_request *s, uint32_t req, struct agent_error *e) {
  struct listener *l = NULL;
  for (int i = 0; i < PV_MAX_LISTENERS && !l; i++)
    if (!g_listeners[i].used) l = &g_listeners[i];
  if (!l) {
    set_error(e, PV_ERR_TOO_LARGE, EMFILE, "too many sockets waiting for a connection");
    return -1;
  }
  /* An unix socket listens once bound: autobound (an abstract name the kernel picks), since the
   * kernel connects the caller to it by its fd, never by a name. */
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa.sun_family) < 0 || listen(fd, 1) < 0) {
    set_error(e, code_for_errno(errno), errno, "listen: %s", strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  memset(l, 0, sizeof *l);
  l->used = 1;
  l->oneshot = 1;
  l->deadline_ms = monotonic_ms() + PV_LISTEN_ONCE_MS;
  l->fd = fd;
  l->pending = 1;
  l->req = req;
  l->session = ctl()->session;
  l->handle = s->handle;
  l->window = s->window;
  snprintf(l->container_id, sizeof l->container_id, "%s", s->container_id);
  snprintf(l->process_id, sizeof l->process_id, "%s", s->process_id);
  return fd;
}

void sockets_expire(void) {
  uint64_t now = 0;
  for (int i = 0; i < PV_MAX_LISTENERS; i++) {
    struct listener *l = &g_listeners[i];
    if (!l->used || !l->oneshot) continue;
    if (!now) now = monotonic_ms();
    if (now < l->deadline_ms) continue;
    if (l->pending && l->session == ctl()->session) fail(l->req, PV_ERR_NOT_FOUND, ECONNABORTED, "nothing connected");
    listener_close(l);
  }
}
