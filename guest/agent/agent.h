/*
 * agent.h - shared declarations of the podvisor guest agent (one C module per job; each
 * calls only the modules below it, as docs/agent.md lists them bottom up; request answers
 * are in reply.h, request errors in error.h).
 *
 * The agent is single-threaded: one poll(2) loop in main.c drives two channels (control and
 * stream, see ../include/podvisor_agent.h), every process's pipes, and a signalfd for
 * SIGCHLD. Nothing blocks for long except the short fork/exec handshakes.
 */
#ifndef PV_AGENT_H
#define PV_AGENT_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../include/podvisor_agent.h"
#include "error.h"

#define AGENT_VERSION_STRING "podvisor-agent 0.1 (protocol 1)"

/* ---- log.c ---------------------------------------------------------------------------- */
/* Every line goes to the log fd prefixed "podvisor-agent: " (the console in the VM). */
void log_init(int fd);
void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t monotonic_ms(void);

/* ---- buf.c: a growable byte queue with a hard capacity ------------------------------- */
struct buf {
  uint8_t *data;
  size_t head; /* first unread byte */
  size_t tail; /* one past the last byte */
  size_t cap;  /* allocated */
  size_t max;  /* never grow beyond */
};
void buf_init(struct buf *b, size_t initial, size_t max);
void buf_free(struct buf *b);
static inline size_t buf_len(const struct buf *b) { return b->tail - b->head; }
void buf_clear(struct buf *b);
/* Make room for n more bytes at the tail; returns a pointer to it, or NULL over max. */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_consume(struct buf *b, size_t n);
/* Bytes that can be appended without exceeding max. */
size_t buf_room(const struct buf *b);

/* ---- tlv.c ---------------------------------------------------------------------------- */
struct tlv_field {
  uint16_t tag;
  uint32_t len;
  const uint8_t *val;
};
/* A validated TLV payload (fields point into the frame). */
struct tlv_msg {
  const uint8_t *data;
  size_t len;
};
/* 0 when every field header fits; -1 otherwise. */
int tlv_parse(struct tlv_msg *m, const uint8_t *data, size_t len);
/* Iterate: *pos starts at 0; returns 1 with *f set, 0 at end. */
int tlv_next(const struct tlv_msg *m, size_t *pos, struct tlv_field *f);
/* First field with this tag, or NULL. */
int tlv_find(const struct tlv_msg *m, uint16_t tag, struct tlv_field *f);
int tlv_count(const struct tlv_msg *m, uint16_t tag);
/* Typed getters: 0 on success, -1 when missing or malformed. */
int tlv_get_u32(const struct tlv_msg *m, uint16_t tag, uint32_t *out);
int tlv_get_u64(const struct tlv_msg *m, uint16_t tag, uint64_t *out);
/* Copies a string (no NUL inside, len <= max) into out[max+1]. */
int tlv_get_str(const struct tlv_msg *m, uint16_t tag, char *out, size_t max);
/* Same for an already found field. */
int tlv_field_str(const struct tlv_field *f, char *out, size_t max);

/* Appending fields to a buffer (a frame under construction). */
int tlv_put(struct buf *b, uint16_t tag, const void *val, uint32_t len);
int tlv_put_u32(struct buf *b, uint16_t tag, uint32_t v);
int tlv_put_u64(struct buf *b, uint16_t tag, uint64_t v);
int tlv_put_str(struct buf *b, uint16_t tag, const char *s);
/* Start a nested field; returns its offset for tlv_end_nested. */
size_t tlv_begin_nested(struct buf *b, uint16_t tag);
void tlv_end_nested(struct buf *b, size_t off);

/* ---- channel.c ------------------------------------------------------------------------ */
enum chan_state { CHAN_DISCONNECTED, CHAN_CONNECTED, CHAN_SYNCED };

struct frame_hdr {
  uint32_t len;
  uint16_t type;
  uint16_t aux;
  uint32_t id;
};

struct channel;
typedef void (*frame_fn)(struct channel *ch, const struct frame_hdr *h, const uint8_t *payload);
typedef void (*event_fn)(struct channel *ch);

struct channel {
  const char *name;      /* "ctl" or "io", for logs */
  size_t max_payload;    /* PV_MAX_CTL_PAYLOAD or PV_MAX_IO_PAYLOAD */
  int listen_fd;         /* host test mode: listening unix socket, else -1 */
  int fd;                /* vport or accepted connection, -1 when none */
  int is_vport;
  enum chan_state state;
  int scanning;          /* after garbage: looking for a SYNC header */
  uint8_t *in;           /* inbound bytes, at most one maximal frame */
  size_t in_len;
  size_t in_cap;
  struct buf out;        /* outbound bytes not yet written */
  uint64_t out_queued;   /* bytes queued since the last SYNC (offsets for EXIT ordering) */
  uint64_t out_written;  /* bytes written since the last SYNC */
  uint64_t session;      /* incremented at every SYNC */
  uint8_t nonce[PV_NONCE_SIZE]; /* the SYNC nonce of the current session: names its host connection */
  struct channel *peer;  /* the other channel of the same host connection */
  int rescan;            /* its session was ended by the peer's SYNC: scan the kept input anew */
  uint64_t input_ms;     /* monotonic_ms() of the last byte read */
  size_t frame_start;    /* offset of the frame under construction in out */
  /* Spliced frames (chan_send_spliced): a whole frame, header and payload, waits in the
   * channel's own pipe; body_before bytes of out precede it in the stream. */
  int splice_r, splice_w; /* the channel's pipe, created on first use; -1 before */
  size_t body_left;       /* bytes of that frame still in the pipe; 0 = none pending */
  size_t body_before;     /* bytes of out to write before it */
  frame_fn on_frame;     /* a whole frame arrived while synced */
  event_fn on_session;   /* a SYNC started a new session */
  event_fn on_disconnect;
};

void chan_init(struct channel *ch, const char *name, size_t max_payload, size_t out_max);
/* Host test mode: listen on a unix socket path (replacing a stale socket file). */
int chan_listen_unix(struct channel *ch, const char *path);
/* VM mode: the status port (PV_PORT_STATUS_NAME), where a host's leaving is reported. */
void chan_set_status_port(int fd);
/* VM mode: use an opened virtio-serial port. */
void chan_use_vport(struct channel *ch, int fd);
/* poll(2) events wanted for fd / listen fd. */
short chan_poll_events(const struct channel *ch, int read_allowed);
void chan_handle_listen(struct channel *ch);
void chan_handle(struct channel *ch, short revents, int read_allowed);
/* VM mode: re-check a disconnected port (the host may have connected). */
void chan_check_vport(struct channel *ch);
/* A partial frame that ends with a whole SYNC frame and got no byte for PV_STALLED_SYNC_MS is
 * a new host's SYNC behind a frame a gone host left half-sent: drop the frame, take the SYNC.
 * Returns the ms until the channel should be checked again, -1 when nothing is pending. */
#define PV_STALLED_SYNC_MS 1000
int chan_check_stalled(struct channel *ch);
/* Write out what is queued (non-blocking). */
void chan_flush(struct channel *ch);
/* Block up to timeout_ms until the queue is written (used before reboot). */
void chan_drain(struct channel *ch, int timeout_ms);
/* Frame building: begin, append payload with tlv_put* or chan_payload, end. */
int chan_begin(struct channel *ch, uint16_t type, uint16_t aux, uint32_t id);
uint8_t *chan_payload(struct channel *ch, size_t n);
void chan_end(struct channel *ch);
void chan_abort(struct channel *ch);
/* Whole-frame helper. */
int chan_send(struct channel *ch, uint16_t type, uint16_t aux, uint32_t id, const void *p, size_t n);
/* A frame whose n payload bytes are the next n bytes of pipe_fd (at least that many must be
 * readable): header and payload are moved into the channel's own pipe (the payload's pages
 * by splice, not copied) and from there to the channel when its turn comes. One at a time;
 * -1 (nothing taken) when one is still pending or the channel's pipe cannot be made. */
int chan_send_spliced(struct channel *ch, uint16_t type, uint16_t aux, uint32_t id, int pipe_fd, size_t n);
static inline int chan_body_pending(const struct channel *ch) { return ch->body_left > 0; }
static inline int chan_synced(const struct channel *ch) { return ch->state == CHAN_SYNCED; }

/* ---- container.c ---------------------------------------------------------------------- */
/* The spare's stage in a VM (host test mode: "<ctl socket path>.stage"). */
#define PV_STAGE_DIR "/run/podvisor/stage"
/* The pods' empty directories (mounts.c). */
#define PV_EMPTYDIR_DIR "/run/podvisor/emptydir"
struct sock_fprog;
struct container {
  int used;
  char id[PV_MAX_ID + 1];
  int mnt_fd;        /* /proc/<helper>/ns/mnt */
  int uts_fd;        /* -1 unless a hostname was given */
  int root_fd;       /* O_PATH fd of the container's / (for files and /dev/pts/ptmx) */
  int pidns_fd;      /* PID namespace of the live init, -1 when none */
  int holder_fd;     /* request pipe of the helper holding the namespace; closing it lets it go */
  pid_t init_pid;    /* 0 when no init runs */
  int destroying;    /* DESTROY_CONTAINER waits for its processes */
  int has_cgroup;    /* /sys/fs/cgroup/pv-<id> exists (cgroup.c) */
  uint64_t oom_base; /* memory.events oom_kill when the current init started */
  uint32_t destroy_req;
  uint64_t destroy_session;
  int share_ns;      /* 1: in the pod's shared PID and UTS namespaces (podns.c) */
  int has_disk;      /* 1: / is an overlay whose upper is on a block device (synced on release) */
  int upper_fd;      /* has_disk: O_PATH fd of the disk's root (upper/ and work/), else -1 */
  char disk[16];     /* has_disk: the block device's name ("vda", or "sdb" for a hot-plugged one) */
  char pid_peer[PV_MAX_ID + 1]; /* "": own PID namespace; else the container whose init's it joins */
  char cgroup_name[PV_MAX_ID + 1]; /* its cgroup is pv-<cgroup_name>: its first id (a rename keeps it) */
  struct sock_fprog *seccomp;   /* its processes' seccomp filter (seccomp.c), NULL for none */
};

extern struct container g_containers[PV_MAX_CONTAINERS];
extern const char *g_share_dir;
/* 1 when the VM has the layers share (PV_LAYERS_TAG, 9p): a block-mode container mounts it
 * in its own namespace and takes its image tree from there (shares.c). */
extern int g_layers_share;
extern const char *g_stage_dir;

int valid_id(const char *s);
struct container *container_find(const char *id);
struct cgroup_limits;
/* What of the agent's own binary a container gets (container_create's `bind`). */
enum agent_bind {
  BIND_NONE = 0,
  BIND_DOCKER_INIT = 1, /* at PV_DOCKER_INIT_PATH in its rootfs (docker --init) */
  BIND_POD_PAUSE = 2,   /* at PV_POD_PAUSE_PATH in an empty root of its own: the pod's pause (no rootfs) */
};
struct device_policy;
/* A container on `rootfs` (share-relative; NULL with BIND_POD_PAUSE alone), its writable layer
 * on upper disk `disk` when given, its image then read from the read-only device of serial
 * `image_disk` when given, its device program attached and its device nodes made (dev); -1
 * with *e set. */
int container_create(const char *id, const char *rootfs, const char *hostname, const struct cgroup_limits *limits,
                     int share_ns, const char *pid_peer, const char *disk, const char *image_disk,
                     enum agent_bind bind, const struct device_policy *dev, struct agent_error *e);

/* ---- docker_init.c ---------------------------------------------------------------------- */
/* The agent run as PV_DOCKER_INIT_PATH (docker --init): `docker-init -- CMD ARG...`. */
int docker_init_main(int argc, char **argv);

/* ---- pause.c -------------------------------------------------------------------------- */
/* The agent run as PV_POD_PAUSE_PATH: the pod's pause process (a CRI sandbox's PID 1). */
int pause_main(void);

/* ---- podns.c -------------------------------------------------------------------------- */
/* The pod's shared PID namespace (made with its reaper on first use); -1 with *e set. */
int podns_pidns(struct agent_error *e);
/* Put a shared container into the pod's UTS namespace (the first one's). */
void podns_join_uts(struct container *c);
/* A reaped pid: forget the pod's PID 1 if it was that. */
void podns_reaped(pid_t pid);
/* After a container's release: drop the shared namespaces when no shared container is left. */
void podns_release_if_unused(void);
/* Kill its init (and so its PID namespace) and release its namespaces. */
void container_kill(struct container *c);
/* Its upper disk synced, its namespaces, cgroup and seccomp filter let go, its slot freed. The
 * caller (ops_housekeeping) first ends what the modules above this one hold of it:
 * sockets_container_gone. */
void container_release(struct container *c);
/* Called when a reaped pid was a container's init. */
void container_init_exited(pid_t pid);

/* ---- devcg.c -------------------------------------------------------------------------- */
/* One DEVICE_RULE: type 'a', 'b' or 'c', access bits (BPF_DEVCG_ACC_*), numbers or any. */
struct device_rule {
  uint8_t type, access;
  int has_major, has_minor;
  uint32_t major, minor;
};
/* One DEVICE_NODE: made at path (under /dev) in the container. */
struct device_node {
  char path[256];
  uint8_t type; /* 'b' or 'c' */
  uint32_t major, minor, mode;
};
/* CREATE_CONTAINER's device fields. */
struct device_policy {
  int filter; /* 1: a device program of the rules on the container's cgroup */
  int nrules, nnodes;
  struct device_rule rules[PV_MAX_DEVICE_RULES];
  struct device_node nodes[PV_MAX_DEVICE_NODES];
};
/* DEVICE_FILTER, DEVICE_RULE and DEVICE_NODE of a request into p; -1 with *e set. */
int devcg_parse(const struct tlv_msg *m, struct device_policy *p, struct agent_error *e);
/* Attach p's program to the cgroup directory cgroup_fd (-1: no cgroup, nothing attached and
 * that logged once). 0 too when the kernel has no cgroup device programs (logged once). */
int devcg_attach(int cgroup_fd, const struct device_policy *p, const char *id, struct agent_error *e);
/* Make p's nodes in the container whose root is root_fd; -1 with *e set. */
int devcg_make_nodes(int root_fd, const struct device_policy *p, struct agent_error *e);

/* ---- cgroup.c ------------------------------------------------------------------------- */
/* Limits of a container's cgroup; has_* = 0 leaves that limit as it is. */
struct cgroup_limits {
  int has_memory_max, has_cpu_quota, has_cpu_weight, has_memory_low, has_cpuset_cpus, has_cpuset_mems, has_pids_max;
  uint64_t memory_max; /* bytes, 0 = none */
  uint64_t pids_max;   /* pids.max, 0 = none */
  uint64_t cpu_quota;  /* microseconds per period, 0 = none */
  uint64_t cpu_weight; /* cpu.weight, 1..10000 */
  uint64_t memory_low; /* bytes, 0 = none */
  uint64_t cpu_period; /* microseconds, 0 = 100000 */
  char cpuset_cpus[64]; /* cpuset.cpus, a list such as "0-1,3" ("" = all) */
  char cpuset_mems[64]; /* cpuset.mems, likewise */
};
/* Mount cgroup2 and enable its memory and cpu controllers (PID 1 only). */
void cgroup_setup(void);
/* Make the container's cgroup with these limits; sets c->has_cgroup. */
int cgroup_create(struct container *c, const struct cgroup_limits *l, struct agent_error *e);
int cgroup_set_limits(struct container *c, const struct cgroup_limits *l, struct agent_error *e);
/* An fd on its cgroup.procs (the child writes "0" to join), or -1 without a cgroup. */
int cgroup_procs_fd(const struct container *c);
/* An O_RDONLY fd of its cgroup's directory (a device program is attached there), or -1. */
int cgroup_dir_fd(const struct container *c);
/* The pids in its cgroup.procs, at most max; -1 without a cgroup. */
int cgroup_pids(const struct container *c, uint32_t *out, int max);
uint64_t cgroup_oom_kills(const struct container *c);
/* memory.current, memory.max (0 = none), page cache; -1 without a cgroup. */
int cgroup_memory(const struct container *c, uint64_t *usage, uint64_t *limit, uint64_t *cache);
void cgroup_remove(struct container *c);
/* Freeze (1) or thaw (0) the container's cgroup; freezing waits up to ~2 s for it to take.
 * 0, or -1 without a cgroup. */
int cgroup_freeze(const struct container *c, int on);
/* Kill every process of the container's cgroup (cgroup.kill); 0 without a cgroup. */
int cgroup_kill(const struct container *c);
/* Fork a spare container namespace ahead of the next CREATE_CONTAINER, unless one is there
 * or the rootfs share waits for a mount (pid1_share_deferred: the spare would lack it; its
 * mount makes one). Call when idle: at start and after a container was released. With
 * `wait`, return once it is prepared, so that a VM answering its next request has no
 * preparation left running. */
void container_prepare_spare(int wait);
/* Mount the rootfs share (pid1_mount_share_now), then let the spare go and fork a new one (its
 * copy of the agent's mounts lacks the share): ACTIVATE's MOUNT_SHARE, and a create or
 * READY_DISK while the share waits for a mount. 0, or -1 with *e set. */
int container_mount_share(struct agent_error *e);
/* Let the spare go and fork a new one: after a mount the spare's copy of the agent's mounts
 * lacks (the rootfs share's: container_mount_share). */
void container_renew_spare(void);
/* container.c: let the spare go (killed and reaped; its copy of the share's mount goes with it). */
void container_drop_spare(void);
/* READY_DISK: the spare mounts block device `disk`'s ext4 at its stage's disk/, with upper/
 * and work/, so that the next create over that disk skips those steps (a pool VM's fresh
 * disk, put behind the device by the host ahead of a request). */
int container_ready_disk(const char *disk, struct agent_error *e);
/* DROP_READY_DISK: the spare holding a ready disk goes (its namespace held the disk's only
 * mount); returns once the device is free, so that the host can put another file behind it. */
void container_drop_ready_disk(void);

/* ---- process.c ------------------------------------------------------------------------ */
struct ostream {
  int present;
  int fd;          /* pipe read end or pty master; -1 once done */
  int done;        /* drained to EOF; an EOF frame is due */
  int eof_sent;    /* EOF frame queued in the current session */
  uint64_t eof_at; /* io out_queued offset after that EOF frame */
  uint64_t sent;   /* absolute offset sent (in this session; RESUME_OUTPUT moves it back) */
  uint64_t got;    /* bytes read from fd so far; sent < got while kept bytes are re-sent */
  uint64_t limit;  /* credit: may send up to here */
  uint8_t *keep;   /* init only: ring of the last PV_OUTPUT_KEEP bytes read, byte k at k % KEEP */
};

struct process {
  int used;
  char id[PV_MAX_ID + 1];
  char container_id[PV_MAX_ID + 1];
  uint32_t handle;
  pid_t pid;
  int terminal;
  int is_init;
  int master_fd;    /* pty master, -1 without a TTY */
  struct ostream out[3]; /* [PV_STREAM_STDOUT], [PV_STREAM_STDERR] */
  /* stdin */
  int has_stdin;
  int stdin_fd;     /* write end (or dup of the master), -1 when closed */
  int stdin_eof;    /* host closed stdin: close after the buffer drains */
  uint8_t *stdin_buf; /* ring of PV_STDIN_WINDOW bytes, allocated on demand */
  size_t stdin_head;
  size_t stdin_len;
  uint64_t stdin_received;
  uint64_t stdin_consumed;
  uint64_t stdin_announced; /* limit last sent in a CREDIT */
  /* life */
  int exited;
  int exit_code;
  int exit_signal;
  int oom_killed;   /* init only: its container's cgroup saw an OOM kill during its life */
  int attached;     /* may send stream frames in the current session */
  uint64_t started_ms; /* monotonic_ms() at its start */
  int held_sig;     /* a signal its namespace's init would have dropped, sent once caught (heldsig.c) */
  int is_job;       /* an ARCHIVE process (killed when its container is destroyed) */
  int thaw;         /* an ARCHIVE process that froze its container: thawed when it ends */
  int is_conn;      /* a connection accepted on a bound host socket (sockets.c): no pid */
};

extern struct process g_procs[PV_MAX_PROCESSES];

/* security.c: a process's capability sets and no_new_privs (START_PROCESS). */
struct process_security {
  int has_caps; /* 0: keep every capability (the other fields unused) */
  uint64_t bounding, effective, permitted, inheritable, ambient;
  int no_new_privs;
  int has_oom_score_adj; /* OOM_SCORE_ADJ: written to /proc/self/oom_score_adj before the change of user */
  int oom_score_adj;
  int nrlimits; /* RLIMIT records: setrlimit before the change of user */
  struct {
    uint32_t resource;
    uint64_t soft, hard;
  } rlimits[PV_MAX_RLIMITS];
};

struct process_spec {
  const char *container_id;
  const char *process_id;
  uint32_t handle;
  char **argv;
  char **envp;
  const char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t groups[PV_MAX_GROUPS];
  int ngroups;
  int terminal;
  unsigned rows, cols;
  int stdin_open;
  uint32_t window;
  struct process_security security;
  /* ARCHIVE: a process of the agent's own (archive.c) instead of argv; no exec. */
  const struct archive_job *job;
};

struct process *process_find(const char *id);
struct process *process_by_handle(uint32_t handle);
struct process *process_start(const struct process_spec *s, struct agent_error *e);
/* SIGCHLD: reap everything; records exit status. */
void processes_reap(void);
/* A new stream session: detach everything, withdraw credit, forget sent EOFs. */
void processes_new_session(void);
/* Stream-channel frame from the host. */
void process_io_frame(const struct frame_hdr *h, const uint8_t *payload);
/* poll set helpers */
int processes_pollfds(struct pollfd *pfds, int max, int *owners, int *kinds);
void process_handle_fd(int owner, int kind, short revents);
/* After each loop iteration: drain exited processes, send EOFs, credits, EXIT events.
 * Returns non-zero when it queued a frame (another pass may then find more to do). */
int processes_housekeeping(void);
int process_count(void);

/* A connection accepted on a bound host socket as a process without a pid (sockets.c): the
 * peer's bytes are its STDOUT, STDIN goes to the peer, STDERR is empty. Takes `fd` (closed on
 * failure); NULL with *e set. */
struct process *process_adopt_conn(const char *container_id, const char *process_id, uint32_t handle,
                                   uint32_t window, int fd, struct agent_error *e);
/* End a connection at once, both ways (SIGNAL, its container destroyed). */
void process_conn_shutdown(struct process *p);

/* ---- sockets.c: host sockets bound into containers (SOCKET_LISTEN, SOCKET_ACCEPT) ------- */
#define PV_MAX_LISTENERS 64
void op_socket_listen(const struct tlv_msg *m, uint32_t id);
void op_socket_accept(const struct tlv_msg *m, uint32_t id);
/* Listeners with a pending ACCEPT, for poll (kind PV_KIND_LISTENER, owner = the listener's slot). */
#define PV_KIND_LISTENER 100
int sockets_pollfds(struct pollfd *pfds, int max, int *owners, int *kinds);
void sockets_handle_fd(int owner, short revents);
/* The container is destroyed: close its listeners (a pending ACCEPT answers NOT_FOUND) and end
 * its connections. */
void sockets_container_gone(const char *container_id);
/* A new control session: pending ACCEPTs of the old one are forgotten. */
void sockets_new_session(void);
/* What a connection's process is made under (SOCKET_ANSWER, SOCKET_DIAL). */
struct stream_request {
  char container_id[PV_MAX_ID + 1];
  char process_id[PV_MAX_ID + 1];
  uint32_t handle;
  uint32_t window;
};
/* An unnamed listening socket for one connection, accepted as a process under `s`, request
 * `req` answered then (or NOT_FOUND after PV_LISTEN_ONCE_MS without one); its fd (still the
 * listener's), or -1 with *e set. */
#define PV_LISTEN_ONCE_MS 10000
int sockets_listen_once(const struct stream_request *s, uint32_t req, struct agent_error *e);
/* Answer request `req` with a connection made a pid-less process: ACK with PID 0. */
void reply_connection(uint32_t req);
/* Who connected: UID, GID and a GROUP per supplementary group (at most PV_MAX_GROUPS); 0, or -1
 * when the frame is full. */
int put_peer(struct buf *b, uint32_t uid, uint32_t gid, const uint32_t *groups, uint32_t ngroups);
/* One-shot listeners whose connection never came are closed (called from housekeeping). */
void sockets_expire(void);

/* ---- share_sockets.c: sockets in 9p shares across the VM's edge (SOCKET_EVENT...) ----- */
/* The kernel's device, for poll (kind PV_KIND_SOCKETS_DEVICE). */
#define PV_KIND_SOCKETS_DEVICE 101
void share_sockets_start(void);
int share_sockets_pollfds(struct pollfd *pfds, int max, int *owners, int *kinds);
void share_sockets_handle_fd(short revents);
/* A new control session: the old one's pending SOCKET_EVENT is forgotten. */
void share_sockets_new_session(void);
void op_socket_event(const struct tlv_msg *m, uint32_t id);
void op_socket_answer(const struct tlv_msg *m, uint32_t id);
void op_socket_dial(const struct tlv_msg *m, uint32_t id);
void op_file_event(const struct tlv_msg *m, uint32_t id);

/* ---- heldsig.c: a signal for a namespace's init that does not catch it yet ------------------ */
/* After kill(p->pid, sig): hold sig when p is a young namespace init that would drop it. */
void heldsig_note(struct process *p, int sig);
/* Whether a signal is held (the loop then wakes often to look). */
int heldsig_pending(void);
/* Send each held signal its process now catches; forget those that expired or whose process ended. */
void heldsig_check(void);
/* p is released. */
void heldsig_forget(struct process *p);
int container_has_processes(const char *container_id);
void process_release(struct process *p);
/* RESUME_OUTPUT for one stream: re-send from `durable` (what the host stored) as far as kept.
 * Returns the offset re-sending starts at, or -1 (errno EINVAL) when durable is beyond got. */
int64_t process_resume_stream(struct process *p, int s, uint64_t durable);
/* Output credit became available on the io channel (used to rotate fairness). */
extern uint32_t g_rr;

/* ---- security.c: capabilities, no_new_privs, sysctls, masked and read-only paths ----- */
/* START_PROCESS's security fields into *ps; -1 with *e set when malformed. */
int security_process_parse(const struct tlv_msg *m, struct process_security *ps, struct agent_error *e);
/* CREATE_CONTAINER's security fields, checked (-1 with *e set) and kept for container `slot`
 * (its index in g_containers) once security_container_keep is called. */
int security_container_parse(const struct tlv_msg *m, struct agent_error *e);
void security_container_keep(const struct container *c);
/* In the child, before its change of user: the container's settings (an init), the bounding
 * set, keep-caps. After it: the other sets and no_new_privs. 0, or -1 with errno set and
 * *stage the failing step (an ST_SECURITY_* value, see security_describe). */
int security_before_user(const struct process_spec *s, const struct container *c, int is_init, int *stage);
int security_after_user(const struct process_spec *s, int *stage);
/* A child's failure at a security stage, worded (1), or 0 when `stage` is not one. */
int security_describe(int stage, int err, const struct container *c, struct agent_error *e);
/* Stages of a security failure: ST_SECURITY_BASE + step, ST_SYSCTL_BASE + index of the sysctl. */
#define ST_SECURITY_BASE 100
#define ST_SYSCTL_BASE 1000

/* mounts.c: every emptydir removed (the VM made fit for another pod). 0, or -1 with *e set. */
int emptydirs_clear(struct agent_error *e);

/* ---- files.c -------------------------------------------------------------------------- */
int valid_container_path(const char *path);
/* The directory where the share `tag` is mounted, once it is (0), else -1. */
int volume_tag_dir(const char *tag, char *out, size_t n);
int file_write(struct container *c, const char *path, const uint8_t *data, size_t len, uint32_t mode,
               struct agent_error *e);
/* On success *out is malloc'd (caller frees) and *len set. */
int file_read(struct container *c, const char *path, uint32_t max_bytes, uint8_t **out, size_t *len,
              struct agent_error *e);
int open_in_root(int root_fd, const char *path, int flags, mode_t mode);
/* Make the missing directories above `path` in the container's root (0755). 0, or -1 with errno. */
int make_parents(const struct container *c, const char *path);

/* ---- netif.c: the VM's interfaces and routes ------------------------------------------ */
struct netif_config {
  char name[PV_MAX_ID + 1];
  int has_mac, has_set_mac, has_address, has_mtu, has_up;
  uint8_t mac[6], set_mac[6];
  uint8_t address[4];
  uint32_t prefix, mtu, up;
  /* SECONDARY records: more IPv4 addresses, set as aliases IFNAME:1.. */
  uint32_t n_secondary;
  uint8_t secondary[PV_MAX_SECONDARY][4];
  uint32_t secondary_prefix[PV_MAX_SECONDARY];
  /* ADDRESS6 PREFIX6: the interface's global IPv6 address (:: with prefix 0: none). */
  int has_address6;
  uint8_t address6[16];
  uint32_t prefix6;
};
/* An IPv4 route, or an IPv6 one when ipv6 (destination6, gateway6). */
struct route_config {
  uint8_t destination[4];
  uint32_t prefix;
  int has_gateway, has_ifname, ipv6;
  uint8_t gateway[4];
  uint8_t destination6[16], gateway6[16];
  char ifname[PV_MAX_ID + 1];
};
int valid_ifname(const char *s);
int netif_configure(const struct netif_config *c, struct agent_error *e);
int netif_add_route(const struct route_config *c, struct agent_error *e);
/* Appends one PV_TAG_INTERFACE record per interface to b. */
int netif_list(struct buf *b, struct agent_error *e);

/* ---- mounts.c: extra mounts inside a container ------------------------------------------ */
struct mount_spec {
  char path[PV_MAX_PATH + 1];
  char fstype[16];
  char source[PV_MAX_ID + 1];
  char subpath[PV_MAX_PATH + 1];
  char options[257];
  uint32_t flags;
};
int mount_in_container(struct container *c, const struct mount_spec *m, struct agent_error *e);
int unmount_in_container(struct container *c, const char *path, struct agent_error *e);
/* Mount peer's /dev/shm over c's (docker --ipc container:X in X's VM); -1 with *e set. */
int mount_peer_shm(struct container *c, const struct container *peer, struct agent_error *e);

/* ---- ops.c ---------------------------------------------------------------------------- */
void ops_frame(struct channel *ch, const struct frame_hdr *h, const uint8_t *payload);
void ops_session(struct channel *ch);
/* Deferred DESTROY_CONTAINER replies whose processes are all reaped. */
void ops_housekeeping(void);

/* ops_archive.c: PV_OP_ARCHIVE. */
void op_archive(const struct tlv_msg *m, uint32_t id);
/* Kill the ARCHIVE processes of a container (it is being destroyed). */
void archive_kill_jobs(const char *container_id);

/* ---- ops_devices.c: requests for interfaces, routes and mounts --------------------------- */
void op_configure_interface(const struct tlv_msg *m, uint32_t id);
void op_add_route(const struct tlv_msg *m, uint32_t id);
void op_list_interfaces(uint32_t id);
void op_mount(const struct tlv_msg *m, uint32_t id);
void op_unmount(const struct tlv_msg *m, uint32_t id);
void op_clean_pod(uint32_t id);
void op_activate(const struct tlv_msg *m, uint32_t id);
void op_release_share(uint32_t id);
void op_rename_container(const struct tlv_msg *m, uint32_t id);

/* shares.c: a host share by its tag, over virtio-fs or virtio-9p (see the module comment). */
/* Whether the VM has a virtio-9p device with this mount tag. */
int share_is_9p(const char *tag);
/* mount(2) the tag on `path`, as 9p when share_is_9p, else as virtiofs. */
int share_mount(const char *tag, const char *path, unsigned long flags);
/* mount(2) the layers share (PV_LAYERS_TAG, 9p) read-only with cache=loose on `path`. */
int layers_share_mount(const char *path);
/* pid1.c: mount the rootfs share on PV_SHARE_MOUNT with its readahead (and note whether the VM
 * has the layers share); 0, or -1 with errno. */
int pid1_mount_share_now(void);
/* pid1.c: 1 while the rootfs share waits for a mount (a 9p share not mounted yet, or one
 * RELEASE_SHARE let go): ACTIVATE's MOUNT_SHARE, or the first create that reads it, mounts it
 * (container_mount_share). */
int pid1_share_deferred(void);
/* pid1.c: the rootfs share was unmounted (RELEASE_SHARE): it waits for a mount again. */
void pid1_share_released(void);


/* seccomp.c: a container's filter, compiled from SET_SECCOMP's fields (ops.c answers the
 * request): 0, or -1 with *e set and a filter that kills every process it starts in place. */
int seccomp_set_filter(struct container *c, const struct tlv_msg *m, struct agent_error *e);
/* Free the container's filter (container_release). */
void container_seccomp_release(struct container *c);
/* In a starting process, before its credentials change (before_exec 0) and just before exec
 * (1): loads the container's filter at the one of the two it belongs to (*loaded, 0 at first,
 * remembers). 0, or -1 with errno. */
int seccomp_enter(const struct container *c, int before_exec, int *loaded);

/* proctable.c: PROCESS_TABLE, a container's processes from /proc. */
void op_process_table(const struct tlv_msg *m, uint32_t id);

/* ---- pid1.c --------------------------------------------------------------------------- */
/* Mounts, modules, share, lo; returns the console fd for logging (or -1). */
int pid1_setup(void);
/* Find and open the two virtio-serial ports (waits up to ~5 s); 0 on success. */
int pid1_open_ports(int *ctl_fd, int *io_fd);
int pid1_open_port_named(const char *name);
/* locks.c: the relay of the kernel's 9p lock requests to the host (PID 1 only). */
void locks_relay_start(void);
void pid1_poweroff(void) __attribute__((noreturn));

/* ---- main.c --------------------------------------------------------------------------- */
extern struct channel g_ctl;
extern struct channel g_io;
extern int g_pid1;          /* running as PID 1 of a VM */
extern int g_shutdown;      /* SHUTDOWN acknowledged: leave the loop */
extern int g_devnull;       /* O_RDWR /dev/null for closed stdin */
extern int g_self_pidns;    /* the agent's own PID namespace */

#endif
