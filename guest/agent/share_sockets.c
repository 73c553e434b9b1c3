/*
 * share_sockets.c - unix stream sockets in the VM's volume share, across the VM's edge (our
 * kernel's /dev/podvisor-sockets: guest/kernel/patches/0006-9p-host-sockets.patch).
 *
 * The kernel hands this agent two kinds of events about socket files in 9p mounts:
 *   CONNECT  a process connects to a socket file no socket of this kernel is bound to (the
 *            host's, or another VM's). The kernel waits for the answer.
 *   BOUND    a process bound a stream socket in a 9p mount (nobody waits).
 * Each is queued here and handed to the host, one per SOCKET_EVENT (a request the host keeps
 * pending, answered when an event comes), naming the mount's tag and the file's path from the
 * mount's root: the host resolves both itself, beneath the share it exports.
 *
 * SOCKET_ANSWER answers a CONNECT. With an errno, the kernel refuses the connect with it. With
 * none, the host has connected on its side: a listening socket of the agent's, unnamed, is made
 * for this one connection and its fd given to the kernel, which connects the caller to it;
 * the connection is accepted as a process without a pid (as SOCKET_ACCEPT's are, sockets.c),
 * and the SOCKET_ANSWER request is answered then. SOCKET_DIAL connects the agent itself to a
 * socket file of the share (a socket bound here, which the host listens for at its file) and
 * answers with that connection as such a process. The kernel never sends the agent's own
 * connects out again, so a socket no longer bound here is refused, never looped. A DIAL with
 * UID GID GROUP... (the host client's, SO_PEERCRED and SO_PEERGROUPS of its connection on the
 * host) connects as them: the guest's server reads them with SO_PEERCRED, as under runc, where
 * the host client connects itself, and the socket file's mode is checked against them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "reply.h"

#define SOCKETS_DEVICE "/dev/podvisor-sockets"
/* The kernel's wire format (podvisor_sockets.c). */
#define SOCK_MAGIC 0x4b535650u
#define SOCK_REQ_HEADER 28 /* magic id op pad tag_len path_len uid gid ngroups */
#define SOCK_MAX_GROUPS 64 /* the kernel's PV_SOCK_MAX_GROUPS */
#define SOCK_OP_CONNECT 1
#define SOCK_OP_BOUND 2
#define SOCK_OP_WATCH 3
#define NOTIFY_MAGIC 0x544e5650u
#define NOTIFY_HEADER 24
#define MAX_EVENTS 64
#define MAX_EVENT_TAG 64

struct sock_event {
  uint32_t kind; /* PV_SOCKET_EVENT_* */
  uint32_t token;
  char tag[MAX_EVENT_TAG + 1];
  char path[PV_MAX_PATH + 1];
  /* The caller's effective uid and gid and first supplementary groups (a CONNECT's: the host
   * connects as them). */
  uint32_t uid, gid, ngroups;
  uint32_t groups[SOCK_MAX_GROUPS];
};

static int g_dev = -1;
static struct sock_event g_events[MAX_EVENTS];
static int g_head, g_count;
/* The host's pending SOCKET_EVENT, if any. */
static int g_waiting;
static uint32_t g_waiting_req;
static uint64_t g_waiting_session;

static struct channel *ctl(void) { return &g_ctl; }
static void keep(const struct sock_event *ev);

void share_sockets_start(void) { g_dev = open(SOCKETS_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC); }

/* Answer the kernel's CONNECT `token`: 0 and a listening socket, or an errno. */
static void kernel_reply(uint32_t token, uint32_t err, int fd) {
  uint32_t rep[4] = {SOCK_MAGIC, token, err, (uint32_t)fd};
  if (g_dev < 0 || write(g_dev, rep, sizeof rep) != (ssize_t)sizeof rep)
    logf_("sockets: reply to the kernel: %s", strerror(errno));
}

static int send_event(uint32_t req, const struct sock_event *ev) {
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ACK, 0, req) < 0) return -1;
  if (tlv_put_u32(&ch->out, PV_TAG_SOCKET_EVENT, ev->kind) || tlv_put_u32(&ch->out, PV_TAG_SOCKET_TOKEN, ev->token) ||
      tlv_put_str(&ch->out, PV_TAG_SOURCE, ev->tag) || tlv_put_str(&ch->out, PV_TAG_PATH, ev->path)) {
    chan_abort(ch);
    return -1;
  }
  if (ev->kind == PV_SOCKET_EVENT_CONNECT && put_peer(&ch->out, ev->uid, ev->gid, ev->groups, ev->ngroups)) {
    chan_abort(ch);
    return -1;
  }
  chan_end(ch);
  return 0;
}

/* Hand the oldest event to the host's pending SOCKET_EVENT, when both are there. */
static void deliver(void) {
  if (!g_waiting || g_count == 0 || g_waiting_session != ctl()->session || !chan_synced(ctl())) return;
  struct sock_event *ev = &g_events[g_head];
  g_waiting = 0;
  int sent = send_event(g_waiting_req, ev) == 0;
  if (!sent && ev->kind == PV_SOCKET_EVENT_CONNECT) kernel_reply(ev->token, ECONNREFUSED, -1);
  if (sent && ev->kind != PV_SOCKET_EVENT_CONNECT) keep(ev);
  g_head = (g_head + 1) % MAX_EVENTS;
  g_count--;
}

void op_socket_event(const struct tlv_msg *m, uint32_t id) {
  (void)m;
  if (g_dev < 0) return fail(id, PV_ERR_NOT_FOUND, ENODEV, "this guest kernel has no " SOCKETS_DEVICE);
  if (g_waiting && g_waiting_session == ctl()->session) return fail(id, PV_ERR_CONFLICT, EBUSY, "an event request is pending");
  g_waiting = 1;
  g_waiting_req = id;
  g_waiting_session = ctl()->session;
  deliver();
}

/* Read one request of the kernel's into the queue (a CONNECT that does not fit is refused). */
static void read_kernel_request(void) {
  static uint8_t buf[SOCK_REQ_HEADER + MAX_EVENT_TAG + PV_MAX_PATH + 64 + 4 * SOCK_MAX_GROUPS];
  ssize_t r = read(g_dev, buf, sizeof buf);
  if (r < SOCK_REQ_HEADER) return;
  uint32_t magic, token, path_len, uid, gid, ngroups;
  uint16_t tag_len;
  memcpy(&magic, buf, 4);
  memcpy(&token, buf + 4, 4);
  uint8_t op = buf[8];
  memcpy(&tag_len, buf + 10, 2);
  memcpy(&path_len, buf + 12, 4);
  memcpy(&uid, buf + 16, 4);
  memcpy(&gid, buf + 20, 4);
  memcpy(&ngroups, buf + 24, 4);
  if (magic != SOCK_MAGIC || path_len > PV_MAX_PATH || ngroups > SOCK_MAX_GROUPS ||
      (size_t)r != SOCK_REQ_HEADER + (size_t)tag_len + path_len + 4 * (size_t)ngroups)
    return;
  int connect = op == SOCK_OP_CONNECT;
  if (g_count == MAX_EVENTS || tag_len > MAX_EVENT_TAG ||
      (!connect && op != SOCK_OP_BOUND && op != SOCK_OP_WATCH)) {
    if (connect) kernel_reply(token, ECONNREFUSED, -1);
    return;
  }
  struct sock_event *ev = &g_events[(g_head + g_count) % MAX_EVENTS];
  ev->kind = connect ? PV_SOCKET_EVENT_CONNECT : op == SOCK_OP_BOUND ? PV_SOCKET_EVENT_BOUND : PV_SOCKET_EVENT_WATCH;
  ev->token = token;
  memcpy(ev->tag, buf + SOCK_REQ_HEADER, tag_len);
  ev->tag[tag_len] = '\0';
  memcpy(ev->path, buf + SOCK_REQ_HEADER + tag_len, path_len);
  ev->path[path_len] = '\0';
  ev->uid = uid;
  ev->gid = gid;
  ev->ngroups = ngroups;
  memcpy(ev->groups, buf + SOCK_REQ_HEADER + tag_len + path_len, 4 * (size_t)ngroups);
  g_count++;
  deliver();
}

int share_sockets_pollfds(struct pollfd *pfds, int max, int *owners, int *kinds) {
  if (g_dev < 0 || max < 1 || g_count == MAX_EVENTS) return 0;
  pfds[0] = (struct pollfd){.fd = g_dev, .events = POLLIN};
  owners[0] = 0;
  kinds[0] = PV_KIND_SOCKETS_DEVICE;
  return 1;
}

void share_sockets_handle_fd(short revents) {
  if (revents & POLLIN) read_kernel_request();
}

/*
 * BOUND and WATCH events already handed to a host, remembered (the newest MAX_KEPT): a new
 * host (the daemon restarted) gets them again, so it listens for the guest's sockets and
 * watches its files as the one before did.
 */
#define MAX_KEPT 128
static struct sock_event g_kept[MAX_KEPT];
static int g_kept_next, g_kept_count;

static void keep(const struct sock_event *ev) {
  for (int i = 0; i < g_kept_count; i++)
    if (g_kept[i].kind == ev->kind && strcmp(g_kept[i].tag, ev->tag) == 0 && strcmp(g_kept[i].path, ev->path) == 0)
      return;
  g_kept[g_kept_next] = *ev;
  g_kept_next = (g_kept_next + 1) % MAX_KEPT;
  if (g_kept_count < MAX_KEPT) g_kept_count++;
}

void share_sockets_new_session(void) {
  g_waiting = 0;
  for (int i = 0; i < g_kept_count && g_count < MAX_EVENTS; i++) {
    int k = (g_kept_next - g_kept_count + i + MAX_KEPT) % MAX_KEPT;
    g_events[(g_head + g_count) % MAX_EVENTS] = g_kept[k];
    g_count++;
  }
  deliver();
}

/* The stream half of a request: CONTAINER_ID PROCESS_ID HANDLE WINDOW; 0, or -1 answered. */
static int need_stream(const struct tlv_msg *m, uint32_t id, struct stream_request *s) {
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", s->container_id, PV_MAX_ID) < 0) return -1;
  if (need_str(m, id, PV_TAG_PROCESS_ID, "process id", s->process_id, PV_MAX_ID) < 0) return -1;
  if (!valid_id(s->process_id)) return fail(id, PV_ERR_INVALID, EINVAL, "invalid process id"), -1;
  if (tlv_get_u32(m, PV_TAG_HANDLE, &s->handle) < 0 || s->handle == 0)
    return fail(id, PV_ERR_INVALID, EINVAL, "missing process handle"), -1;
  if (tlv_get_u32(m, PV_TAG_WINDOW, &s->window) < 0 || s->window < PV_MIN_WINDOW || s->window > PV_MAX_WINDOW)
    return fail(id, PV_ERR_INVALID, EINVAL, "window out of range"), -1;
  struct container *c = container_find(s->container_id);
  if (!c || c->destroying) return fail(id, PV_ERR_NOT_FOUND, ENOENT, "no such container"), -1;
  return 0;
}

void op_socket_answer(const struct tlv_msg *m, uint32_t id) {
  uint32_t token, err = 0;
  if (tlv_get_u32(m, PV_TAG_SOCKET_TOKEN, &token) < 0) return fail(id, PV_ERR_INVALID, EINVAL, "missing token");
  if (tlv_get_u32(m, PV_TAG_ERRNO, &err) == 0 && err != 0) {
    kernel_reply(token, err, -1);
    return reply_ack_empty(id);
  }
  struct stream_request s;
  if (need_stream(m, id, &s) < 0) {
    kernel_reply(token, ECONNREFUSED, -1);
    return;
  }
  struct agent_error e;
  int fd = sockets_listen_once(&s, id, &e);
  if (fd < 0) {
    kernel_reply(token, ECONNREFUSED, -1);
    return reply_error(id, &e);
  }
  kernel_reply(token, 0, fd);
}

/* Who a SOCKET_DIAL connects as: the host client's ids. */
struct dial_peer {
  uint32_t uid, gid;
  uint32_t ngroups;
  gid_t groups[PV_MAX_GROUPS];
};

static uint32_t u32_le(const uint8_t *v) { return v[0] | (v[1] << 8) | (v[2] << 16) | ((uint32_t)v[3] << 24); }

/* A SOCKET_DIAL's UID GID GROUP...: 1 with them in *p, 0 with none at all, -1 answered. Strict:
 * one UID and one GID or neither, no id 2^32-1, at most PV_MAX_GROUPS groups, every field 4
 * bytes; anything else is refused, never a connection made as someone else. */
static int dial_peer(const struct tlv_msg *m, uint32_t id, struct dial_peer *p) {
  int nuid = tlv_count(m, PV_TAG_UID), ngid = tlv_count(m, PV_TAG_GID), ngroups = tlv_count(m, PV_TAG_GROUP);
  if (nuid == 0 && ngid == 0 && ngroups == 0) return 0;
  if (nuid != 1 || ngid != 1 || tlv_get_u32(m, PV_TAG_UID, &p->uid) < 0 || tlv_get_u32(m, PV_TAG_GID, &p->gid) < 0 ||
      p->uid == (uint32_t)-1 || p->gid == (uint32_t)-1)
    return fail(id, PV_ERR_INVALID, EINVAL, "bad peer credentials"), -1;
  if (ngroups > PV_MAX_GROUPS) return fail(id, PV_ERR_TOO_LARGE, E2BIG, "too many supplementary groups"), -1;
  p->ngroups = 0;
  size_t pos = 0;
  struct tlv_field f;
  while (tlv_next(m, &pos, &f))
    if (f.tag == PV_TAG_GROUP) {
      if (f.len != 4 || u32_le(f.val) == (uint32_t)-1) return fail(id, PV_ERR_INVALID, EINVAL, "bad peer group"), -1;
      p->groups[p->ngroups++] = (gid_t)u32_le(f.val);
    }
  return 1;
}

/*
 * connect(fd, sa) with `p`'s groups, effective gid and effective uid (what SO_PEERCRED and
 * SO_PEERGROUPS record, and what the socket file's mode is checked against), then the agent's
 * own again. Raw syscalls: they change this thread only, and the agent is one thread, so
 * nothing else runs meanwhile; the real and saved ids stay the agent's, so it may go back. A
 * failure to go back ends the agent (the VM with it) rather than go on as someone else.
 */
static int connect_as(int fd, const struct sockaddr_un *sa, const struct dial_peer *p) {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid, saved[PV_MAX_GROUPS];
  int nsaved = getgroups(PV_MAX_GROUPS, saved);
  if (nsaved < 0 || getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0) return -1;
  int r = -1, err = 0;
  if (syscall(SYS_setgroups, (size_t)p->ngroups, p->groups) < 0 || syscall(SYS_setresgid, -1, p->gid, -1) < 0 ||
      syscall(SYS_setresuid, -1, p->uid, -1) < 0)
    err = errno;
  else if ((r = connect(fd, (const struct sockaddr *)sa, sizeof *sa)) < 0)
    err = errno;
  if (syscall(SYS_setresuid, -1, euid, -1) < 0 || syscall(SYS_setresgid, -1, egid, -1) < 0 ||
      syscall(SYS_setgroups, (size_t)nsaved, saved) < 0) {
    logf_("sockets: cannot take back the agent's credentials: %s", strerror(errno));
    _exit(1);
  }
  errno = err;
  return r;
}

void op_socket_dial(const struct tlv_msg *m, uint32_t id) {
  struct stream_request s;
  struct dial_peer peer;
  char tag[MAX_EVENT_TAG + 1], rel[PV_MAX_PATH + 1], dir[PV_MAX_PATH * 2 + 2];
  if (need_stream(m, id, &s) < 0) return;
  int as_peer = dial_peer(m, id, &peer);
  if (as_peer < 0) return;
  if (need_str(m, id, PV_TAG_SOURCE, "share tag", tag, MAX_EVENT_TAG) < 0) return;
  if (need_str(m, id, PV_TAG_PATH, "path", rel, PV_MAX_PATH) < 0) return;
  if (!valid_container_path(rel)) return fail(id, PV_ERR_INVALID, EINVAL, "path must be absolute without ..");
  if (volume_tag_dir(tag, dir, sizeof dir) < 0) return fail(id, PV_ERR_NOT_FOUND, ENOENT, "share not mounted");
  /* The parent by its own path (the guest's, resolved by this kernel), the name under it. */
  char *slash = strrchr(rel, '/');
  const char *name = slash + 1;
  if (!*name) return fail(id, PV_ERR_INVALID, EINVAL, "no socket name");
  *slash = '\0';
  size_t used = strlen(dir);
  snprintf(dir + used, sizeof dir - used, "%s", rel);
  int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return fail(id, code_for_errno(errno), errno, "open the socket's directory");
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int n = snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dfd, name);
  int fd = -1;
  if (n < 0 || (size_t)n >= sizeof sa.sun_path) {
    close(dfd);
    return fail(id, PV_ERR_INVALID, ENAMETOOLONG, "socket name too long");
  }
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int r = fd < 0 ? -1 : as_peer ? connect_as(fd, &sa, &peer) : connect(fd, (struct sockaddr *)&sa, sizeof sa);
  int err = errno;
  close(dfd);
  if (r < 0) {
    if (fd >= 0) close(fd);
    /* A full backlog (EAGAIN) is refused, as a blocking client would wait forever otherwise. */
    if (err == EAGAIN) err = ECONNREFUSED;
    /* The peer's ids may not open the socket: that client is refused, the socket still listens. */
    if (err == EACCES || err == EPERM) return fail(id, PV_ERR_PERMISSION, err, strerror(err));
    return fail(id, PV_ERR_NOT_FOUND, err, strerror(err));
  }
  struct agent_error e;
  struct process *p = process_adopt_conn(s.container_id, s.process_id, s.handle, s.window, fd, &e);
  if (!p) return reply_error(id, &e);
  reply_connection(id);
}

/* An O_PATH fd of the mounted tag's root, kept open (the kernel walks from it). */
static int tag_root_fd(const char *tag) {
  static char tags[8][MAX_EVENT_TAG + 1];
  static int fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  for (int i = 0; i < 8; i++)
    if (fds[i] >= 0 && strcmp(tags[i], tag) == 0) return fds[i];
  char dir[PV_MAX_PATH + 1];
  if (volume_tag_dir(tag, dir, sizeof dir) < 0) return -1;
  for (int i = 0; i < 8; i++)
    if (fds[i] < 0) {
      fds[i] = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      snprintf(tags[i], sizeof tags[i], "%s", tag);
      return fds[i];
    }
  return -1;
}

void op_file_event(const struct tlv_msg *m, uint32_t id) {
  char tag[MAX_EVENT_TAG + 1], rel[PV_MAX_PATH + 1], name[256] = "";
  uint32_t mask, cookie = 0;
  if (need_str(m, id, PV_TAG_SOURCE, "share tag", tag, MAX_EVENT_TAG) < 0) return;
  if (need_str(m, id, PV_TAG_PATH, "path", rel, PV_MAX_PATH) < 0) return;
  if (tlv_get_u32(m, PV_TAG_EVENT_MASK, &mask) < 0) return fail(id, PV_ERR_INVALID, EINVAL, "missing event mask");
  tlv_get_u32(m, PV_TAG_EVENT_COOKIE, &cookie);
  struct tlv_field f;
  if (tlv_find(m, PV_TAG_EVENT_NAME, &f) && tlv_get_str(m, PV_TAG_EVENT_NAME, name, sizeof name - 1) < 0)
    return fail(id, PV_ERR_INVALID, EINVAL, "bad event name");
  if (g_dev < 0) return fail(id, PV_ERR_NOT_FOUND, ENODEV, "this guest kernel has no " SOCKETS_DEVICE);
  int root = tag_root_fd(tag);
  if (root < 0) return fail(id, PV_ERR_NOT_FOUND, ENOENT, "share not mounted");
  size_t pl = strlen(rel), nl = strlen(name);
  static uint8_t rec[NOTIFY_HEADER + PV_MAX_PATH + 256];
  uint32_t hdr[4] = {NOTIFY_MAGIC, mask, cookie, (uint32_t)root};
  uint16_t lens[2] = {(uint16_t)pl, (uint16_t)nl};
  memset(rec, 0, NOTIFY_HEADER);
  memcpy(rec, hdr, sizeof hdr);
  memcpy(rec + 16, lens, sizeof lens);
  memcpy(rec + NOTIFY_HEADER, rel, pl);
  memcpy(rec + NOTIFY_HEADER + pl, name, nl);
  /* The kernel refuses what is malformed (EINVAL): the event is dropped, as nobody could get it. */
  if (write(g_dev, rec, NOTIFY_HEADER + pl + nl) < 0 && errno != EINVAL)
    return fail(id, code_for_errno(errno), errno, "deliver the event");
  reply_ack_empty(id);
}
