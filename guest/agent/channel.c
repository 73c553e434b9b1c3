/*
 * channel.c - one byte-stream channel to the host (a virtio-serial port in the VM, or a
 * unix socket in host test mode): frame parsing with length checks, SYNC handling and
 * resynchronisation, and a bounded output queue written without blocking.
 *
 * A stream frame's payload can also come straight from a process's pipe (chan_send_spliced):
 * the header is written into the channel's own pipe, the payload spliced behind it (page
 * references move, bytes are not copied), and once the bytes queued before it are written the
 * whole frame is spliced to the port, which takes the pipe's pages as they are: no copy in
 * the guest, where read+write copied each byte twice. The intermediate pipe matters: the
 * kernel's virtio-console splice (6.1) sizes its scatterlist by the pipe's occupancy, and a
 * splice that leaves buffers in the pipe hands QEMU zero-sized entries, which QEMU treats as a
 * broken device. Our pipe holds exactly one frame, so every splice to the port empties it.
 *
 * States: DISCONNECTED (no host) -> CONNECTED (host there, waiting for its SYNC; input is
 * scanned for a SYNC header and everything else dropped) -> SYNCED (frames delivered).
 *
 * A new host connection is not always seen as one: QEMU may show a port's close and the next
 * client's connect to the guest as a single state (the host-connected flag goes off and on
 * before the agent looks), and the new host's bytes then follow the old host's on the same
 * port. If the old host left a frame half-sent (QEMU drops what it had not yet passed on when
 * a client goes), that frame would swallow the new host's SYNC, and the new host would wait
 * for an answer for ever. Two rules keep a new session from being taken for the old one's:
 *  - The host syncs both channels of a connection with one nonce. A SYNC on one channel whose
 *    nonce is not the other channel's session's ends that session (restart_session): its
 *    partial frame and unwritten output are dropped, as when its host is seen to leave, and
 *    its input, kept, is scanned for the new host's SYNC.
 *  - A partial frame that ends with a whole SYNC frame and then gets nothing for
 *    PV_STALLED_SYNC_MS is a SYNC behind a half-sent frame (a host sends nothing after its
 *    SYNC until it is answered): chan_check_stalled drops the frame and takes the SYNC. This
 *    covers a connection whose two channels both come with such a frame.
 * A frame fewer bytes short than a SYNC frame takes the SYNC's start as its own end; the rest
 * is then malformed and dropped while scanning. The host sends an unanswered SYNC again
 * (src/vm/agent/connect.ts), and the scan finds that one; a repeat of the SYNC that began the
 * current session is ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

/* The 12-byte header of a host SYNC frame: length 16, type SYNC, aux 0, id 0. */
static const uint8_t sync_header[PV_HEADER_SIZE] = {PV_NONCE_SIZE, 0, 0, 0, PV_FRAME_SYNC, 0, 0, 0, 0, 0, 0, 0};

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void wr32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

void chan_init(struct channel *ch, const char *name, size_t max_payload, size_t out_max) {
  memset(ch, 0, sizeof *ch);
  ch->name = name;
  ch->max_payload = max_payload;
  ch->listen_fd = -1;
  ch->fd = -1;
  ch->state = CHAN_DISCONNECTED;
  ch->in_cap = PV_HEADER_SIZE + max_payload;
  ch->in = malloc(ch->in_cap);
  if (!ch->in) {
    logf_("out of memory");
    abort();
  }
  buf_init(&ch->out, 65536, out_max);
  ch->splice_r = ch->splice_w = -1;
}

/* Forget a pending spliced frame (new session or no host: the stream restarts anyway). */
static void body_reset(struct channel *ch) {
  uint8_t junk[4096];
  if (ch->splice_r >= 0)
    while (read(ch->splice_r, junk, sizeof junk) > 0) {
    }
  ch->body_left = ch->body_before = 0;
}

int chan_listen_unix(struct channel *ch, const char *path) {
  struct sockaddr_un sa;
  if (strlen(path) >= sizeof sa.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  strcpy(sa.sun_path, path);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  ch->listen_fd = fd;
  return 0;
}

/* The status port, or -1 (host test mode, or a VM without one). */
static int status_fd = -1;

void chan_set_status_port(int fd) { status_fd = fd; }

void chan_use_vport(struct channel *ch, int fd) {
  ch->fd = fd;
  ch->is_vport = 1;
  ch->state = CHAN_DISCONNECTED;
  chan_check_vport(ch);
}

static void disconnect(struct channel *ch, const char *why) {
  if (ch->state == CHAN_DISCONNECTED) return;
  logf_("host left the %s channel (%s)", ch->name, why);
  ch->rescan = 0;
  if (ch->is_vport) {
    /* Drop what an earlier host wrote but we did not read. */
    uint8_t junk[4096];
    for (int i = 0; i < 256; i++)
      if (read(ch->fd, junk, sizeof junk) <= 0) break;
    /* The host's sign that this agent saw it leave (it waits for it before saving a template,
     * and before it connects to a restored checkpoint): on a port only the agent holds, never
     * a console line, which any process that can open the VM's console could write. */
    if (status_fd >= 0) {
      char line[32];
      int n = snprintf(line, sizeof line, "%s\n", ch->name);
      if (write(status_fd, line, (size_t)n) != n) logf_("status port: %s", strerror(errno));
    }
  } else if (ch->fd >= 0) {
    close(ch->fd);
    ch->fd = -1;
  }
  ch->state = CHAN_DISCONNECTED;
  ch->in_len = 0;
  ch->scanning = 0;
  buf_clear(&ch->out);
  body_reset(ch);
  ch->out_queued = ch->out_written = 0;
  if (ch->on_disconnect) ch->on_disconnect(ch);
}

void chan_check_vport(struct channel *ch) {
  if (!ch->is_vport || ch->state != CHAN_DISCONNECTED) return;
  struct pollfd p = {.fd = ch->fd, .events = POLLIN};
  if (poll(&p, 1, 0) < 0) return;
  if (p.revents & POLLHUP) return;
  ch->state = CHAN_CONNECTED;
  ch->in_len = 0;
  ch->rescan = 0;
  logf_("host connected to the %s channel", ch->name);
}

void chan_handle_listen(struct channel *ch) {
  int fd = accept4(ch->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  if (ch->fd >= 0) disconnect(ch, "replaced by a new connection");
  ch->fd = fd;
  ch->state = CHAN_CONNECTED;
  ch->in_len = 0;
  ch->scanning = 0;
  ch->rescan = 0;
  logf_("host connected to the %s channel", ch->name);
}

short chan_poll_events(const struct channel *ch, int read_allowed) {
  if (ch->fd < 0 || ch->state == CHAN_DISCONNECTED) return 0;
  short ev = 0;
  if (read_allowed) ev |= POLLIN;
  if (buf_len(&ch->out) > 0 || ch->body_left > 0) ev |= POLLOUT;
  return ev;
}

/* The peer's SYNC named another host connection: the host of this channel's session is gone,
 * though the port was not seen to close. End the session as disconnect() does, but keep the
 * port and the bytes read (the new host's SYNC may be among them, behind a frame the old host
 * left half-sent): they are scanned for a SYNC (take_input) and so is what follows. */
static void restart_session(struct channel *ch) {
  logf_("a new host synced the %s channel: the %s channel's session ends, its SYNC awaited", ch->peer->name, ch->name);
  ch->state = CHAN_CONNECTED;
  ch->scanning = 0;
  buf_clear(&ch->out);
  body_reset(ch);
  ch->out_queued = ch->out_written = 0;
  if (ch->on_disconnect) ch->on_disconnect(ch);
  ch->rescan = 1;
}

static void handle_sync(struct channel *ch, const uint8_t *nonce) {
  /* The host sends its SYNC again while it has no answer (the first may have been lost in a
   * frame an earlier host left a few bytes short); a repeat of the one that began this session
   * was answered already, and nothing of the session can have come before it. */
  if (ch->state == CHAN_SYNCED && memcmp(ch->nonce, nonce, PV_NONCE_SIZE) == 0) {
    logf_("the host repeated its SYNC on the %s channel: answered already", ch->name);
    return;
  }
  buf_clear(&ch->out);
  body_reset(ch);
  ch->out_queued = ch->out_written = 0;
  ch->session++;
  ch->state = CHAN_SYNCED;
  memcpy(ch->nonce, nonce, PV_NONCE_SIZE);
  chan_send(ch, PV_FRAME_SYNC_REPLY, 0, 0, nonce, PV_NONCE_SIZE);
  if (ch->on_session) ch->on_session(ch);
  struct channel *peer = ch->peer;
  if (peer && peer->state == CHAN_SYNCED && memcmp(peer->nonce, ch->nonce, PV_NONCE_SIZE) != 0) restart_session(peer);
}

static int type_allowed(const struct channel *ch, uint16_t type) {
  if (type == PV_FRAME_SYNC) return 1;
  if (ch->max_payload == PV_MAX_IO_PAYLOAD)
    return type == PV_FRAME_DATA || type == PV_FRAME_EOF || type == PV_FRAME_CREDIT;
  /* Every request opcode ops.c serves: a frame of another type is garbage, and the agent
   * resynchronises instead of answering it (the host would wait for that answer). */
  if (type >= PV_OP_VERSION && type <= PV_OP_MEMORY_STATS) return 1;
  if (type >= PV_OP_CONFIGURE_INTERFACE && type <= PV_OP_UNMOUNT) return 1;
  if (type >= PV_OP_RESUME_OUTPUT && type <= PV_OP_PROCESS_TABLE) return 1;
  if (type == PV_OP_SET_SECCOMP) return 1;
  if (type == PV_OP_ARCHIVE) return 1;
  if (type == PV_OP_DISK_USAGE) return 1;
  if (type >= PV_OP_SOCKET_LISTEN && type <= PV_OP_DROP_READY_DISK) return 1;
  return 0;
}

/* Parse whole frames out of ch->in; keeps a partial frame for the next read. */
static void process_input(struct channel *ch) {
  size_t off = 0;
  while (ch->state != CHAN_DISCONNECTED) {
    uint8_t *p = ch->in + off;
    size_t avail = ch->in_len - off;
    if (ch->scanning || ch->state != CHAN_SYNCED) {
      /* Only a SYNC means anything here: find its header. */
      size_t k = 0;
      int found = 0;
      while (k + PV_HEADER_SIZE <= avail) {
        uint8_t *hit = memchr(p + k, sync_header[0], avail - k - PV_HEADER_SIZE + 1);
        if (!hit) break;
        k = (size_t)(hit - p);
        if (memcmp(hit, sync_header, PV_HEADER_SIZE) == 0) {
          found = 1;
          break;
        }
        k++;
      }
      if (!found) {
        /* Keep a possible header prefix. */
        size_t keep = avail < PV_HEADER_SIZE - 1 ? avail : PV_HEADER_SIZE - 1;
        off += avail - keep;
        break;
      }
      off += k;
      ch->scanning = 0;
      if (avail - k < PV_HEADER_SIZE + PV_NONCE_SIZE) break;
      handle_sync(ch, ch->in + off + PV_HEADER_SIZE);
      off += PV_HEADER_SIZE + PV_NONCE_SIZE;
      continue;
    }
    if (avail < PV_HEADER_SIZE) break;
    struct frame_hdr h = {
        .len = rd32(p), .type = (uint16_t)(p[4] | (p[5] << 8)), .aux = (uint16_t)(p[6] | (p[7] << 8)), .id = rd32(p + 8)};
    if (h.len > ch->max_payload || !type_allowed(ch, h.type) ||
        (h.type == PV_FRAME_SYNC && (h.len != PV_NONCE_SIZE || h.aux || h.id))) {
      logf_("malformed frame on the %s channel (type %u, length %u): resynchronising", ch->name, h.type, h.len);
      ch->scanning = 1;
      off += 1;
      continue;
    }
    if (avail < PV_HEADER_SIZE + h.len) break;
    if (h.type == PV_FRAME_SYNC)
      handle_sync(ch, p + PV_HEADER_SIZE);
    else
      ch->on_frame(ch, &h, p + PV_HEADER_SIZE);
    off += PV_HEADER_SIZE + h.len;
  }
  if (ch->state == CHAN_DISCONNECTED) {
    ch->in_len = 0;
    return;
  }
  if (off > 0) {
    memmove(ch->in, ch->in + off, ch->in_len - off);
    ch->in_len -= off;
  }
}

/* Parse ch's input, then the kept input of a channel whose session a SYNC in it ended: that
 * may already hold the new host's SYNC, and nothing more would come to make us look. Bounded:
 * each pass needs another SYNC with a new nonce in the bytes already read. */
static void take_input(struct channel *ch) {
  process_input(ch);
  for (int i = 0; i < 4; i++) {
    struct channel *c = ch->peer && ch->peer->rescan ? ch->peer : ch->rescan ? ch : NULL;
    if (!c) return;
    c->rescan = 0;
    process_input(c);
  }
}

int chan_check_stalled(struct channel *ch) {
  const size_t sync_len = PV_HEADER_SIZE + PV_NONCE_SIZE;
  /* Synced and not scanning, the input holds one partial frame, from its header on. */
  if (ch->state != CHAN_SYNCED || ch->scanning || ch->in_len < PV_HEADER_SIZE + sync_len) return -1;
  uint8_t *tail = ch->in + ch->in_len - sync_len;
  if (memcmp(tail, sync_header, PV_HEADER_SIZE) != 0) return -1;
  uint64_t quiet = monotonic_ms() - ch->input_ms;
  if (quiet < PV_STALLED_SYNC_MS) return (int)(PV_STALLED_SYNC_MS - quiet);
  logf_("a SYNC ended a partial frame on the %s channel and nothing came for %llu ms: a new host's, behind a "
        "frame the old one left half-sent; dropping that frame (%zu bytes)",
        ch->name, (unsigned long long)quiet, ch->in_len - sync_len);
  memmove(ch->in, tail, sync_len);
  ch->in_len = sync_len;
  take_input(ch);
  return -1;
}

/* Write (part of) the pending spliced frame. 1: progress, 0: try later, -1: disconnected. */
static int flush_body(struct channel *ch) {
  ssize_t n = splice(ch->splice_r, NULL, ch->fd, NULL, ch->body_left, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) {
    ch->body_left -= (size_t)n;
    ch->out_written += (uint64_t)n;
    return 1;
  }
  if (n < 0 && errno == EINTR) return 1;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0; /* the port is full */
  if (n == 0) {
    /* Nothing moved: a full port, or the kernel dropped the bytes (its splice answers 0 when
     * the virtqueue refused them). Then the frame is completed with zeros to stay framed. */
    int avail = 0;
    if (ioctl(ch->splice_r, FIONREAD, &avail) == 0 && (size_t)avail < ch->body_left) {
      static const uint8_t zeros[4096];
      size_t missing = ch->body_left - (size_t)avail;
      logf_("the %s port dropped %zu spliced bytes: padding the frame", ch->name, missing);
      while (missing > 0) {
        ssize_t w = write(ch->splice_w, zeros, missing < sizeof zeros ? missing : sizeof zeros);
        if (w <= 0) break;
        missing -= (size_t)w;
      }
      if (missing == 0) return 1;
      disconnect(ch, "cannot pad a spliced frame");
      return -1;
    }
    return 0;
  }
  disconnect(ch, strerror(errno));
  return -1;
}

void chan_flush(struct channel *ch) {
  while (ch->fd >= 0 && ch->state != CHAN_DISCONNECTED) {
    if (ch->body_left > 0 && ch->body_before == 0) {
      if (flush_body(ch) <= 0) return;
      continue;
    }
    size_t len = buf_len(&ch->out);
    if (len == 0) return;
    if (ch->body_left > 0 && len > ch->body_before) len = ch->body_before;
    ssize_t n = write(ch->fd, ch->out.data + ch->out.head, len);
    if (n > 0) {
      buf_consume(&ch->out, (size_t)n);
      ch->out_written += (uint64_t)n;
      if (ch->body_left > 0) ch->body_before -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    /* A virtio-serial port answers 0 when its queue is momentarily full: retry later. */
    if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) return;
    disconnect(ch, strerror(errno));
    return;
  }
}

void chan_handle(struct channel *ch, short revents, int read_allowed) {
  if (ch->fd < 0 || ch->state == CHAN_DISCONNECTED) return;
  if (revents & POLLOUT) chan_flush(ch);
  if ((revents & POLLIN) && read_allowed) {
    for (int i = 0; i < 8 && ch->state != CHAN_DISCONNECTED; i++) {
      size_t space = ch->in_cap - ch->in_len;
      ssize_t n = read(ch->fd, ch->in + ch->in_len, space);
      if (n > 0) {
        ch->in_len += (size_t)n;
        ch->input_ms = monotonic_ms();
        take_input(ch);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      disconnect(ch, n == 0 ? "end of file" : strerror(errno));
      return;
    }
  } else if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
    disconnect(ch, "hang-up");
    return;
  }
  if (ch->state != CHAN_DISCONNECTED && (buf_len(&ch->out) > 0 || ch->body_left > 0)) chan_flush(ch);
}

void chan_drain(struct channel *ch, int timeout_ms) {
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (ch->fd >= 0 && ch->state != CHAN_DISCONNECTED && (buf_len(&ch->out) > 0 || ch->body_left > 0)) {
    struct pollfd p = {.fd = ch->fd, .events = POLLOUT};
    poll(&p, 1, 50);
    chan_flush(ch);
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    if (ms > timeout_ms) break;
  }
}

int chan_begin(struct channel *ch, uint16_t type, uint16_t aux, uint32_t id) {
  if (ch->state != CHAN_SYNCED) return -1;
  uint8_t *p = buf_reserve(&ch->out, PV_HEADER_SIZE);
  if (!p) return -1;
  wr32(p, 0);
  wr16(p + 4, type);
  wr16(p + 6, aux);
  wr32(p + 8, id);
  /* Relative to head: see tlv_begin_nested. */
  ch->frame_start = ch->out.tail - ch->out.head;
  ch->out.tail += PV_HEADER_SIZE;
  return 0;
}

uint8_t *chan_payload(struct channel *ch, size_t n) {
  uint8_t *p = buf_reserve(&ch->out, n);
  if (!p) return NULL;
  ch->out.tail += n;
  return p;
}

void chan_end(struct channel *ch) {
  size_t start = ch->out.head + ch->frame_start;
  size_t total = ch->out.tail - start;
  wr32(ch->out.data + start, (uint32_t)(total - PV_HEADER_SIZE));
  ch->out_queued += total;
}

void chan_abort(struct channel *ch) { ch->out.tail = ch->out.head + ch->frame_start; }

int chan_send(struct channel *ch, uint16_t type, uint16_t aux, uint32_t id, const void *payload, size_t n) {
  if (chan_begin(ch, type, aux, id) < 0) return -1;
  if (n) {
    uint8_t *p = chan_payload(ch, n);
    if (!p) {
      chan_abort(ch);
      return -1;
    }
    memcpy(p, payload, n);
  }
  chan_end(ch);
  return 0;
}

int chan_send_spliced(struct channel *ch, uint16_t type, uint16_t aux, uint32_t id, int pipe_fd, size_t n) {
  if (ch->body_left > 0 || n == 0 || n > ch->max_payload || ch->state != CHAN_SYNCED) return -1;
  if (ch->splice_r < 0) {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return -1;
    /* Room for a header and a maximal payload spread over partly filled pages. */
    if (fcntl(fds[1], F_SETPIPE_SZ, 4 * (int)(PV_HEADER_SIZE + ch->max_payload)) < 0) {
      close(fds[0]);
      close(fds[1]);
      return -1;
    }
    ch->splice_r = fds[0];
    ch->splice_w = fds[1];
  }
  uint8_t h[PV_HEADER_SIZE];
  wr32(h, (uint32_t)n);
  wr16(h + 4, type);
  wr16(h + 6, aux);
  wr32(h + 8, id);
  if (write(ch->splice_w, h, sizeof h) != (ssize_t)sizeof h) {
    body_reset(ch);
    return -1;
  }
  size_t moved = 0;
  while (moved < n) {
    ssize_t m = splice(pipe_fd, NULL, ch->splice_w, NULL, n - moved, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (m > 0) {
      moved += (size_t)m;
      continue;
    }
    if (m < 0 && errno == EINTR) continue;
    break;
  }
  if (moved < n) {
    /* Should not happen (n bytes were readable): copy what is left, pad what is missing. */
    uint8_t tmp[4096];
    while (moved < n) {
      size_t want = n - moved < sizeof tmp ? n - moved : sizeof tmp;
      ssize_t r = read(pipe_fd, tmp, want);
      if (r <= 0) {
        memset(tmp, 0, want);
        r = (ssize_t)want;
      }
      if (write(ch->splice_w, tmp, (size_t)r) != r) {
        logf_("cannot fill the %s channel's pipe: disconnecting", ch->name);
        disconnect(ch, "splice pipe full");
        return 0;
      }
      moved += (size_t)r;
    }
  }
  ch->out_queued += PV_HEADER_SIZE + n;
  ch->body_left = PV_HEADER_SIZE + n;
  ch->body_before = buf_len(&ch->out);
  return 0;
}
