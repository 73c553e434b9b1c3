/*
 * ops.c - control-channel requests: decode the TLV fields, validate them, run the operation,
 * and answer ACK or ERROR with the request's id. Every request gets exactly one answer in
 * the session it arrived in (DESTROY_CONTAINER's answer waits until its processes are reaped).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <termios.h>

#include "agent.h"
#include "reply.h"

static struct channel *ctl(void) { return &g_ctl; }

static uint32_t opt_u32(const struct tlv_msg *m, uint16_t tag, uint32_t dflt) {
  uint32_t v;
  return tlv_get_u32(m, tag, &v) == 0 ? v : dflt;
}

/* Copies repeated string fields into a NULL-terminated vector (one allocation). */
static char **str_vector(const struct tlv_msg *m, uint16_t tag, int *count) {
  size_t pos = 0, total = 0;
  int n = 0;
  struct tlv_field f;
  while (tlv_next(m, &pos, &f))
    if (f.tag == tag) {
      if (f.len > PV_MAX_STRING || memchr(f.val, 0, f.len)) return NULL;
      total += f.len + 1;
      n++;
    }
  char **v = malloc(sizeof(char *) * (size_t)(n + 1) + total);
  if (!v) return NULL;
  char *s = (char *)(v + n + 1);
  int i = 0;
  pos = 0;
  while (tlv_next(m, &pos, &f))
    if (f.tag == tag) {
      memcpy(s, f.val, f.len);
      s[f.len] = 0;
      v[i++] = s;
      s += f.len + 1;
    }
  v[n] = NULL;
  *count = n;
  return v;
}

static void op_version(uint32_t id) {
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ACK, 0, id) < 0) return;
  if (tlv_put_u32(&ch->out, PV_TAG_PROTOCOL, PV_PROTOCOL_VERSION) || tlv_put_str(&ch->out, PV_TAG_AGENT, AGENT_VERSION_STRING) ||
      tlv_put_u32(&ch->out, PV_TAG_LAST_OP, PV_OP_DROP_READY_DISK))
    chan_abort(ch);
  else
    chan_end(ch);
}

/* A cpuset list as cgroup v2 takes it: digits, ',' and '-' only ("" = all). */
static int cpuset_list_ok(const char *s) {
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || *s == ',' || *s == '-')) return 0;
  return 1;
}

/* MEMORY_MAX, CPU_QUOTA, CPU_PERIOD, CPU_WEIGHT, MEMORY_LOW, CPUSET_CPUS, CPUSET_MEMS, PIDS_MAX (each
 * optional); an ERROR is sent and -1 returned when one is malformed or out of range. */
static int read_limits(const struct tlv_msg *m, uint32_t id, struct cgroup_limits *l) {
  memset(l, 0, sizeof *l);
  int bad = 0;
  if (tlv_count(m, PV_TAG_MEMORY_MAX)) {
    l->has_memory_max = 1;
    bad |= tlv_get_u64(m, PV_TAG_MEMORY_MAX, &l->memory_max) < 0;
  }
  if (tlv_count(m, PV_TAG_CPU_QUOTA)) {
    l->has_cpu_quota = 1;
    bad |= tlv_get_u64(m, PV_TAG_CPU_QUOTA, &l->cpu_quota) < 0;
    if (tlv_count(m, PV_TAG_CPU_PERIOD)) bad |= tlv_get_u64(m, PV_TAG_CPU_PERIOD, &l->cpu_period) < 0;
  }
  if (tlv_count(m, PV_TAG_CPU_WEIGHT)) {
    l->has_cpu_weight = 1;
    bad |= tlv_get_u64(m, PV_TAG_CPU_WEIGHT, &l->cpu_weight) < 0;
    if (l->cpu_weight < 1 || l->cpu_weight > 10000) bad = 1;
  }
  if (tlv_count(m, PV_TAG_MEMORY_LOW)) {
    l->has_memory_low = 1;
    bad |= tlv_get_u64(m, PV_TAG_MEMORY_LOW, &l->memory_low) < 0;
    if (l->memory_low > ((uint64_t)1 << 62)) bad = 1;
  }
  if (tlv_count(m, PV_TAG_CPUSET_CPUS)) {
    l->has_cpuset_cpus = 1;
    bad |= tlv_get_str(m, PV_TAG_CPUSET_CPUS, l->cpuset_cpus, sizeof l->cpuset_cpus - 1) < 0;
    bad |= !cpuset_list_ok(l->cpuset_cpus);
  }
  if (tlv_count(m, PV_TAG_CPUSET_MEMS)) {
    l->has_cpuset_mems = 1;
    bad |= tlv_get_str(m, PV_TAG_CPUSET_MEMS, l->cpuset_mems, sizeof l->cpuset_mems - 1) < 0;
    bad |= !cpuset_list_ok(l->cpuset_mems);
  }
  if (tlv_count(m, PV_TAG_PIDS_MAX)) {
    l->has_pids_max = 1;
    bad |= tlv_get_u64(m, PV_TAG_PIDS_MAX, &l->pids_max) < 0;
    if (l->pids_max > ((uint64_t)1 << 62)) bad = 1;
  }
  /* cgroup v2 bounds: a period of 1 ms to 1 s, a quota of at least 1 ms. */
  if (l->cpu_period && (l->cpu_period < 1000 || l->cpu_period > 1000000)) bad = 1;
  if (l->cpu_quota && l->cpu_quota < 1000) bad = 1;
  if (l->memory_max > ((uint64_t)1 << 62)) bad = 1;
  if (bad) {
    fail(id, PV_ERR_INVALID, EINVAL, "malformed or out-of-range resource limits");
    return -1;
  }
  return 0;
}

static void op_update_resources(const struct tlv_msg *m, uint32_t id) {
  char cid[PV_MAX_ID + 1];
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", cid, PV_MAX_ID) < 0) return;
  struct cgroup_limits limits;
  if (read_limits(m, id, &limits) < 0) return;
  struct container *c = container_find(cid);
  if (!c) {
    fail(id, PV_ERR_NOT_FOUND, ENOENT, "no such container");
    return;
  }
  struct agent_error e;
  if (cgroup_set_limits(c, &limits, &e) < 0) {
    reply_error(id, &e);
    return;
  }
  reply_ack_empty(id);
}

static void op_memory_stats(const struct tlv_msg *m, uint32_t id) {
  char cid[PV_MAX_ID + 1];
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", cid, PV_MAX_ID) < 0) return;
  struct container *c = container_find(cid);
  uint64_t usage, limit, cache;
  if (!c || cgroup_memory(c, &usage, &limit, &cache) < 0) {
    fail(id, PV_ERR_NOT_FOUND, ENOENT, c ? "the container has no cgroup" : "no such container");
    return;
  }
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ACK, 0, id) < 0) return;
  if (tlv_put_u64(&ch->out, PV_TAG_MEMORY_USAGE, usage) || tlv_put_u64(&ch->out, PV_TAG_MEMORY_LIMIT, limit) ||
      tlv_put_u64(&ch->out, PV_TAG_MEMORY_CACHE, cache))
    chan_abort(ch);
  else
    chan_end(ch);
}

static void op_disk_usage(const struct tlv_msg *m, uint32_t id) {
  char cid[PV_MAX_ID + 1];
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", cid, PV_MAX_ID) < 0) return;
  struct container *c = container_find(cid);
  if (!c || !c->has_disk || c->root_fd < 0) {
    fail(id, PV_ERR_NOT_FOUND, ENOENT, c ? "the container has no upper disk" : "no such container");
    return;
  }
  struct statfs st;
  if (fstatfs(c->root_fd, &st) < 0) {
    fail(id, PV_ERR_UNAVAILABLE, errno, "statfs of the container's root");
    return;
  }
  uint64_t bsize = (uint64_t)st.f_bsize, blocks = (uint64_t)st.f_blocks;
  uint64_t used = blocks >= (uint64_t)st.f_bfree ? blocks - (uint64_t)st.f_bfree : 0;
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ACK, 0, id) < 0) return;
  if (tlv_put_u64(&ch->out, PV_TAG_DISK_USED, used * bsize) || tlv_put_u64(&ch->out, PV_TAG_DISK_TOTAL, blocks * bsize))
    chan_abort(ch);
  else
    chan_end(ch);
}

static void op_ready_disk(const struct tlv_msg *m, uint32_t id) {
  char disk[16];
  if (need_str(m, id, PV_TAG_UPPER_DISK, "upper disk", disk, sizeof disk - 1) < 0) return;
  struct agent_error e;
  if (container_ready_disk(disk, &e) < 0) {
    logf_("%s", e.msg);
    reply_error(id, &e);
    return;
  }
  reply_ack_empty(id);
}

static void op_create_container(const struct tlv_msg *m, uint32_t id) {
  char cid[PV_MAX_ID + 1], rootfs[PV_MAX_PATH + 1], host[65];
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", cid, PV_MAX_ID) < 0) return;
  uint32_t pause = 0;
  if (tlv_count(m, PV_TAG_POD_PAUSE) && (tlv_get_u32(m, PV_TAG_POD_PAUSE, &pause) < 0 || pause > 1)) {
    fail(id, PV_ERR_INVALID, EINVAL, "bad pod pause flag");
    return;
  }
  /* The pod's pause has no rootfs: one sent with it is refused (container_create). */
  int has_rootfs = !pause || tlv_count(m, PV_TAG_ROOTFS) > 0;
  if (has_rootfs && need_str(m, id, PV_TAG_ROOTFS, "rootfs", rootfs, PV_MAX_PATH) < 0) return;
  int has_host = tlv_count(m, PV_TAG_HOSTNAME) > 0;
  if (has_host && need_str(m, id, PV_TAG_HOSTNAME, "hostname", host, 64) < 0) return;
  struct cgroup_limits limits;
  if (read_limits(m, id, &limits) < 0) return;
  uint32_t share = 0;
  if (tlv_count(m, PV_TAG_SHARE_NS) && tlv_get_u32(m, PV_TAG_SHARE_NS, &share) < 0) {
    fail(id, PV_ERR_INVALID, EINVAL, "bad share flag");
    return;
  }
  char peer[PV_MAX_ID + 1] = "";
  if (tlv_count(m, PV_TAG_PID_PEER) && need_str(m, id, PV_TAG_PID_PEER, "pid peer", peer, PV_MAX_ID) < 0) return;
  char shm[PV_MAX_ID + 1] = "";
  if (tlv_count(m, PV_TAG_SHM_PEER) && need_str(m, id, PV_TAG_SHM_PEER, "shm peer", shm, PV_MAX_ID) < 0) return;
  if (shm[0] && (!container_find(shm) || strcmp(shm, cid) == 0)) {
    fail(id, PV_ERR_INVALID, EINVAL, "shm peer: no such other container");
    return;
  }
  char disk[24] = ""; /* a device name (vda) or a hot-plugged disk's serial (20 at most) */
  int has_disk = tlv_count(m, PV_TAG_UPPER_DISK) > 0;
  if (has_disk && need_str(m, id, PV_TAG_UPPER_DISK, "upper disk", disk, sizeof disk - 1) < 0) return;
  char image[24] = "";
  int has_image = tlv_count(m, PV_TAG_IMAGE_DISK) > 0;
  if (has_image && need_str(m, id, PV_TAG_IMAGE_DISK, "image disk", image, sizeof image - 1) < 0) return;
  uint32_t docker_init = 0;
  if (tlv_count(m, PV_TAG_DOCKER_INIT) && (tlv_get_u32(m, PV_TAG_DOCKER_INIT, &docker_init) < 0 || docker_init > 1)) {
    fail(id, PV_ERR_INVALID, EINVAL, "bad docker-init flag");
    return;
  }
  if (pause && docker_init) {
    fail(id, PV_ERR_INVALID, EINVAL, "the pod's pause is its own init: no docker-init");
    return;
  }
  struct agent_error e;
  static struct device_policy dev;
  if (devcg_parse(m, &dev, &e) < 0 || security_container_parse(m, &e) < 0 ||
      container_create(cid, has_rootfs ? rootfs : NULL, has_host ? host : NULL, &limits, share == 1, peer,
                       has_disk ? disk : NULL, has_image ? image : NULL,
                       pause ? BIND_POD_PAUSE : docker_init ? BIND_DOCKER_INIT : BIND_NONE, &dev, &e) < 0) {
    logf_("%s", e.msg);
    reply_error(id, &e);
    return;
  }
  if (shm[0] && mount_peer_shm(container_find(cid), container_find(shm), &e) < 0) {
    logf_("%s", e.msg);
    container_release(container_find(cid));
    reply_error(id, &e);
    return;
  }
  security_container_keep(container_find(cid));
  reply_ack_empty(id);
}

static void op_destroy_container(const struct tlv_msg *m, uint32_t id) {
  char cid[PV_MAX_ID + 1];
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", cid, PV_MAX_ID) < 0) return;
  struct container *c = container_find(cid);
  if (!c) {
    fail(id, PV_ERR_NOT_FOUND, ENOENT, "no such container");
    return;
  }
  if (c->destroying) {
    fail(id, PV_ERR_CONFLICT, EBUSY, "container is already being destroyed");
    return;
  }
  c->destroying = 1;
  c->destroy_req = id;
  c->destroy_session = ctl()->session;
  container_kill(c);
  archive_kill_jobs(c->id);
  sockets_container_gone(c->id);
  /* Processes that are not the init's descendants cannot exist (execs join its PID
   * namespace, which the kernel empties when the init dies). The answer comes from
   * ops_housekeeping once they are all reaped. */
}

static void op_start_process(const struct tlv_msg *m, uint32_t id) {
  struct process_spec s;
  memset(&s, 0, sizeof s);
  char cid[PV_MAX_ID + 1], pid_s[PV_MAX_ID + 1], cwd[PV_MAX_PATH + 1];
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", cid, PV_MAX_ID) < 0) return;
  if (need_str(m, id, PV_TAG_PROCESS_ID, "process id", pid_s, PV_MAX_ID) < 0) return;
  if (need_str(m, id, PV_TAG_CWD, "cwd", cwd, PV_MAX_PATH) < 0) return;
  if (!valid_id(pid_s)) return fail(id, PV_ERR_INVALID, EINVAL, "invalid process id");
  if (cwd[0] != '/') return fail(id, PV_ERR_INVALID, EINVAL, "cwd must be absolute");
  if (tlv_get_u32(m, PV_TAG_HANDLE, &s.handle) < 0 || s.handle == 0)
    return fail(id, PV_ERR_INVALID, EINVAL, "missing process handle");
  int nargs = tlv_count(m, PV_TAG_ARG), nenv = tlv_count(m, PV_TAG_ENV), ngroups = tlv_count(m, PV_TAG_GROUP);
  if (nargs < 1 || nargs > PV_MAX_ARGS) return fail(id, PV_ERR_INVALID, EINVAL, "need 1 to 1024 arguments");
  if (nenv > PV_MAX_ENV) return fail(id, PV_ERR_TOO_LARGE, E2BIG, "too many environment variables");
  if (ngroups > PV_MAX_GROUPS) return fail(id, PV_ERR_TOO_LARGE, E2BIG, "too many supplementary groups");
  s.container_id = cid;
  s.process_id = pid_s;
  s.cwd = cwd;
  s.uid = opt_u32(m, PV_TAG_UID, 0);
  s.gid = opt_u32(m, PV_TAG_GID, 0);
  size_t pos = 0;
  struct tlv_field f;
  while (tlv_next(m, &pos, &f))
    if (f.tag == PV_TAG_GROUP) {
      if (f.len != 4) return fail(id, PV_ERR_INVALID, EINVAL, "malformed group id");
      s.groups[s.ngroups++] = (gid_t)(f.val[0] | (f.val[1] << 8) | (f.val[2] << 16) | ((uint32_t)f.val[3] << 24));
    }
  s.terminal = opt_u32(m, PV_TAG_TERMINAL, 0) != 0;
  s.rows = opt_u32(m, PV_TAG_ROWS, 24);
  s.cols = opt_u32(m, PV_TAG_COLS, 80);
  if (s.terminal && (s.rows < 1 || s.rows > 65535 || s.cols < 1 || s.cols > 65535))
    return fail(id, PV_ERR_INVALID, EINVAL, "terminal size out of range");
  s.stdin_open = opt_u32(m, PV_TAG_STDIN, 0) != 0;
  s.window = opt_u32(m, PV_TAG_WINDOW, 262144);
  if (s.window < PV_MIN_WINDOW || s.window > PV_MAX_WINDOW) return fail(id, PV_ERR_INVALID, EINVAL, "window out of range");
  struct agent_error e;
  if (security_process_parse(m, &s.security, &e) < 0) return reply_error(id, &e);
  int n;
  s.argv = str_vector(m, PV_TAG_ARG, &n);
  s.envp = str_vector(m, PV_TAG_ENV, &n);
  if (!s.argv || !s.envp || s.argv[0][0] == 0) {
    free(s.argv);
    free(s.envp);
    return fail(id, PV_ERR_INVALID, EINVAL, "malformed argv or env");
  }
  struct process *p = process_start(&s, &e);
  free(s.argv);
  free(s.envp);
  if (!p) {
    logf_("start %s in %s: %s", pid_s, cid, e.msg);
    reply_error(id, &e);
    return;
  }
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ACK, 0, id) < 0) return;
  if (tlv_put_u32(&ch->out, PV_TAG_PID, (uint32_t)p->pid))
    chan_abort(ch);
  else
    chan_end(ch);
}

static struct process *live_process(const struct tlv_msg *m, uint32_t id) {
  char pid_s[PV_MAX_ID + 1];
  if (need_str(m, id, PV_TAG_PROCESS_ID, "process id", pid_s, PV_MAX_ID) < 0) return NULL;
  struct process *p = process_find(pid_s);
  if (!p || p->exited) {
    fail(id, PV_ERR_NOT_FOUND, ESRCH, "no such process");
    return NULL;
  }
  return p;
}

static void op_signal(const struct tlv_msg *m, uint32_t id) {
  uint32_t sig;
  if (tlv_get_u32(m, PV_TAG_SIGNAL, &sig) < 0 || sig < 1 || sig >= (uint32_t)NSIG)
    return fail(id, PV_ERR_INVALID, EINVAL, "invalid signal");
  struct process *p = live_process(m, id);
  if (!p) return;
  if (p->is_conn) {
    /* A connection has no pid: any signal ends it both ways. */
    process_conn_shutdown(p);
    return reply_ack_empty(id);
  }
  if (kill(p->pid, (int)sig) < 0) return fail(id, code_for_errno(errno), errno, strerror(errno));
  heldsig_note(p, (int)sig);
  reply_ack_empty(id);
}

static void op_resize(const struct tlv_msg *m, uint32_t id) {
  uint32_t rows, cols;
  if (tlv_get_u32(m, PV_TAG_ROWS, &rows) < 0 || tlv_get_u32(m, PV_TAG_COLS, &cols) < 0 || rows < 1 || rows > 65535 ||
      cols < 1 || cols > 65535)
    return fail(id, PV_ERR_INVALID, EINVAL, "terminal size out of range");
  struct process *p = live_process(m, id);
  if (!p) return;
  if (!p->terminal || p->master_fd < 0) return fail(id, PV_ERR_INVALID, ENOTTY, "process has no terminal");
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  if (ioctl(p->master_fd, TIOCSWINSZ, &ws) < 0) return fail(id, code_for_errno(errno), errno, strerror(errno));
  reply_ack_empty(id);
}

static void op_write_file(const struct tlv_msg *m, uint32_t id) {
  char path[PV_MAX_PATH + 1];
  struct container *c = need_container(m, id);
  if (!c) return;
  if (need_str(m, id, PV_TAG_PATH, "path", path, PV_MAX_PATH) < 0) return;
  struct tlv_field data;
  if (!tlv_find(m, PV_TAG_DATA, &data)) return fail(id, PV_ERR_INVALID, EINVAL, "missing data");
  struct agent_error e;
  if (file_write(c, path, data.val, data.len, opt_u32(m, PV_TAG_MODE, 0644), &e) < 0) return reply_error(id, &e);
  reply_ack_empty(id);
}

static void op_read_file(const struct tlv_msg *m, uint32_t id) {
  char path[PV_MAX_PATH + 1];
  struct container *c = need_container(m, id);
  if (!c) return;
  if (need_str(m, id, PV_TAG_PATH, "path", path, PV_MAX_PATH) < 0) return;
  uint8_t *data;
  size_t len;
  struct agent_error e;
  if (file_read(c, path, opt_u32(m, PV_TAG_MAX_BYTES, PV_MAX_FILE_SIZE), &data, &len, &e) < 0)
    return reply_error(id, &e);
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ACK, 0, id) == 0) {
    if (tlv_put(&ch->out, PV_TAG_DATA, data, (uint32_t)len))
      chan_abort(ch);
    else
      chan_end(ch);
  }
  free(data);
}

/* Re-send output the host had not stored when its previous daemon died (see the header). */
static void op_resume_output(const struct tlv_msg *m, uint32_t id) {
  char pid_s[PV_MAX_ID + 1];
  if (need_str(m, id, PV_TAG_PROCESS_ID, "process id", pid_s, PV_MAX_ID) < 0) return;
  struct process *p = process_find(pid_s);
  if (!p) return fail(id, PV_ERR_NOT_FOUND, ESRCH, "no such process");
  if (p->attached) return fail(id, PV_ERR_CONFLICT, EBUSY, "the process's output is already attached");
  static const uint16_t durable_tags[3] = {0, PV_TAG_STDOUT_DURABLE, PV_TAG_STDERR_DURABLE};
  uint64_t durable[3] = {0, 0, 0};
  int given[3] = {0, 0, 0};
  for (int s = 1; s <= 2; s++) {
    if (!tlv_count(m, durable_tags[s])) continue;
    if (tlv_get_u64(m, durable_tags[s], &durable[s]) < 0) return fail(id, PV_ERR_INVALID, EINVAL, "malformed offset");
    if (!p->out[s].present || durable[s] > p->out[s].got)
      return fail(id, PV_ERR_INVALID, EINVAL, "offset beyond the process's output");
    given[s] = 1;
  }
  uint64_t from[3] = {0, p->out[1].sent, p->out[2].sent};
  for (int s = 1; s <= 2; s++)
    if (given[s]) from[s] = (uint64_t)process_resume_stream(p, s, durable[s]);
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ACK, 0, id) < 0) return;
  if (tlv_put_u64(&ch->out, PV_TAG_STDOUT_FROM, from[1]) || tlv_put_u64(&ch->out, PV_TAG_STDERR_FROM, from[2]))
    chan_abort(ch);
  else
    chan_end(ch);
}

/* SET_SECCOMP: the container's filter (seccomp.c), for the processes it starts from now on. */
static void op_set_seccomp(const struct tlv_msg *m, uint32_t id) {
  struct container *c = need_container(m, id);
  if (!c) return;
  struct agent_error e;
  if (seccomp_set_filter(c, m, &e) < 0) return reply_error(id, &e);
  reply_ack_empty(id);
}

static void op_list_processes(uint32_t id) {
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ACK, 0, id) < 0) return;
  struct buf *b = &ch->out;
  for (int i = 0; i < PV_MAX_PROCESSES; i++) {
    struct process *p = &g_procs[i];
    if (!p->used) continue;
    uint64_t stdin_limit = p->stdin_consumed + PV_STDIN_WINDOW;
    size_t rec = tlv_begin_nested(b, PV_TAG_PROCESS);
    int bad = rec == (size_t)-1 || tlv_put_u32(b, PV_TAG_HANDLE, p->handle) || tlv_put_str(b, PV_TAG_PROCESS_ID, p->id) ||
              tlv_put_str(b, PV_TAG_CONTAINER_ID, p->container_id) || tlv_put_u32(b, PV_TAG_PID, (uint32_t)p->pid) ||
              tlv_put_u32(b, PV_TAG_TERMINAL, (uint32_t)p->terminal) ||
              tlv_put_u32(b, PV_TAG_STDIN, (uint32_t)(p->has_stdin && p->stdin_fd >= 0 && !p->stdin_eof)) ||
              tlv_put_u32(b, PV_TAG_EXITED, (uint32_t)p->exited) ||
              tlv_put_u64(b, PV_TAG_STDIN_RECEIVED, p->stdin_received) || tlv_put_u64(b, PV_TAG_STDIN_LIMIT, stdin_limit) ||
              tlv_put_u64(b, PV_TAG_STDOUT_SENT, p->out[PV_STREAM_STDOUT].sent) ||
              tlv_put_u64(b, PV_TAG_STDERR_SENT, p->out[PV_STREAM_STDERR].sent);
    if (bad) {
      chan_abort(ch);
      struct agent_error e;
      set_error(&e, PV_ERR_TOO_LARGE, E2BIG, "process list does not fit a frame");
      reply_error(id, &e);
      return;
    }
    tlv_end_nested(b, rec);
    if (p->stdin_announced < stdin_limit) p->stdin_announced = stdin_limit;
  }
  chan_end(ch);
}


void ops_frame(struct channel *ch, const struct frame_hdr *h, const uint8_t *payload) {
  (void)ch;
  struct tlv_msg m;
  if (h->aux != 0 || tlv_parse(&m, payload, h->len) < 0) {
    logf_("request %u (op %u): malformed fields", h->id, h->type);
    return fail(h->id, PV_ERR_INVALID, EINVAL, "malformed request fields");
  }
  switch (h->type) {
  case PV_OP_VERSION:
    return op_version(h->id);
  case PV_OP_PING:
    return reply_ack_empty(h->id);
  case PV_OP_CREATE_CONTAINER:
    return op_create_container(&m, h->id);
  case PV_OP_UPDATE_RESOURCES:
    return op_update_resources(&m, h->id);
  case PV_OP_MEMORY_STATS:
    return op_memory_stats(&m, h->id);
  case PV_OP_DISK_USAGE:
    return op_disk_usage(&m, h->id);
  case PV_OP_DESTROY_CONTAINER:
    return op_destroy_container(&m, h->id);
  case PV_OP_START_PROCESS:
    return op_start_process(&m, h->id);
  case PV_OP_SIGNAL:
    return op_signal(&m, h->id);
  case PV_OP_RESIZE:
    return op_resize(&m, h->id);
  case PV_OP_WRITE_FILE:
    return op_write_file(&m, h->id);
  case PV_OP_READ_FILE:
    return op_read_file(&m, h->id);
  case PV_OP_LIST_PROCESSES:
    return op_list_processes(h->id);
  case PV_OP_CONFIGURE_INTERFACE:
    return op_configure_interface(&m, h->id);
  case PV_OP_ADD_ROUTE:
    return op_add_route(&m, h->id);
  case PV_OP_LIST_INTERFACES:
    return op_list_interfaces(h->id);
  case PV_OP_MOUNT:
    return op_mount(&m, h->id);
  case PV_OP_UNMOUNT:
    return op_unmount(&m, h->id);
  case PV_OP_RESUME_OUTPUT:
    return op_resume_output(&m, h->id);
  case PV_OP_CLEAN_POD:
    return op_clean_pod(h->id);
  case PV_OP_ACTIVATE:
    return op_activate(&m, h->id);
  case PV_OP_PROCESS_TABLE:
    return op_process_table(&m, h->id);
  case PV_OP_SET_SECCOMP:
    return op_set_seccomp(&m, h->id);
  case PV_OP_ARCHIVE:
    return op_archive(&m, h->id);
  case PV_OP_SOCKET_LISTEN:
    return op_socket_listen(&m, h->id);
  case PV_OP_SOCKET_ACCEPT:
    return op_socket_accept(&m, h->id);
  case PV_OP_SOCKET_EVENT:
    return op_socket_event(&m, h->id);
  case PV_OP_SOCKET_ANSWER:
    return op_socket_answer(&m, h->id);
  case PV_OP_SOCKET_DIAL:
    return op_socket_dial(&m, h->id);
  case PV_OP_FILE_EVENT:
    return op_file_event(&m, h->id);
  case PV_OP_RELEASE_SHARE:
    return op_release_share(h->id);
  case PV_OP_RENAME_CONTAINER:
    return op_rename_container(&m, h->id);
  case PV_OP_READY_DISK:
    return op_ready_disk(&m, h->id);
  case PV_OP_DROP_READY_DISK:
    container_drop_ready_disk();
    return reply_ack_empty(h->id);
  case PV_OP_SHUTDOWN:
    logf_("shutdown requested");
    reply_ack_empty(h->id);
    g_shutdown = 1;
    return;
  default:
    return fail(h->id, PV_ERR_INVALID, ENOSYS, "unknown opcode");
  }
}

void ops_session(struct channel *ch) {
  (void)ch;
  sockets_new_session();
  share_sockets_new_session();
}

void ops_housekeeping(void) {
  sockets_expire();
  for (int i = 0; i < PV_MAX_CONTAINERS; i++) {
    struct container *c = &g_containers[i];
    if (!c->used || !c->destroying || container_has_processes(c->id)) continue;
    /* Exited processes nobody re-attached would never be reported: forget them. */
    for (int k = 0; k < PV_MAX_PROCESSES; k++) {
      struct process *p = &g_procs[k];
      if (p->used && !p->attached && strcmp(p->container_id, c->id) == 0) process_release(p);
    }
    if (c->destroy_session == ctl()->session) reply_ack_empty(c->destroy_req);
    sockets_container_gone(c->id); /* its sockets go before it does (container.c is below them) */
    container_release(c);
    container_prepare_spare(1); /* after the answer: an idle VM then has nothing left to do */
  }
}
