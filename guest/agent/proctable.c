/*
 * proctable.c - PROCESS_TABLE: one container's processes read from the guest's /proc, so
 * that `docker top` needs no `ps` in the image (the host renders ps's columns).
 *
 * Which processes: those in the container's cgroup (cgroup.procs: every process of the
 * container, its execs' children and daemons included, as dockerd lists the container's
 * cgroup). Without cgroups (host test mode) the processes the agent started in the container
 * and their descendants, found through /proc/<pid>/stat's parent links.
 *
 * Each record is read from /proc/<pid>/stat (state, parent, group, session, terminal, times,
 * sizes), /proc/<pid>/status (effective uid and gid) and /proc/<pid>/cmdline (at most
 * PV_MAX_CMDLINE bytes). A process that exits meanwhile is left out. Records go out in
 * ascending pid order until PV_MAX_TOP_PROCESSES or the frame is full (then TRUNCATED 1).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "reply.h"

/* Processes of the whole VM the host-mode walk looks at (host test mode only). */
#define WALK_MAX 65536

/* One process as /proc shows it. */
struct task {
  uint32_t pid, ppid, pgid, sid, tpgid, uid, gid, tty, threads, nice;
  char state;
  char comm[16];
  uint64_t start, utime, stime, vsz_kib, rss_kib;
  uint8_t cmdline[PV_MAX_CMDLINE];
  size_t cmdline_len;
};

/* Read at most len-1 bytes of a small /proc file into buf (NUL-terminated); bytes read or -1. */
static ssize_t read_proc(const char *path, char *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got < len - 1) {
    ssize_t r = read(fd, buf + got, len - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = 0;
  return (ssize_t)got;
}

/* The fields of /proc/<pid>/stat after "pid (comm) "; 0, or -1 when it is gone or odd. */
static int read_stat(uint32_t pid, struct task *t) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%u/stat", pid);
  if (read_proc(path, buf, sizeof buf) <= 0) return -1;
  char *open_p = strchr(buf, '(');
  char *close_p = strrchr(buf, ')');
  if (!open_p || !close_p || close_p < open_p) return -1;
  size_t n = (size_t)(close_p - open_p - 1);
  if (n > sizeof t->comm - 1) n = sizeof t->comm - 1;
  memcpy(t->comm, open_p + 1, n);
  t->comm[n] = 0;
  char state;
  int ppid, pgid, sid, tty, tpgid;
  unsigned long utime, stime, vsize;
  long nice, threads, rss;
  unsigned long long start;
  if (sscanf(close_p + 1, " %c %d %d %d %d %d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %ld %ld %*d %llu %lu %ld", &state,
             &ppid, &pgid, &sid, &tty, &tpgid, &utime, &stime, &nice, &threads, &start, &vsize, &rss) != 13)
    return -1;
  long page_kib = sysconf(_SC_PAGESIZE) / 1024;
  t->pid = pid;
  t->state = state;
  t->ppid = ppid > 0 ? (uint32_t)ppid : 0;
  t->pgid = pgid > 0 ? (uint32_t)pgid : 0;
  t->sid = sid > 0 ? (uint32_t)sid : 0;
  t->tty = (uint32_t)tty;
  t->tpgid = tpgid > 0 ? (uint32_t)tpgid : 0;
  t->utime = utime;
  t->stime = stime;
  t->nice = (uint32_t)(nice < -20 ? 0 : nice > 19 ? 39 : nice + 20);
  t->threads = threads > 0 ? (uint32_t)threads : 0;
  t->start = start;
  t->vsz_kib = vsize / 1024;
  t->rss_kib = rss > 0 ? (uint64_t)rss * (uint64_t)(page_kib > 0 ? page_kib : 4) : 0;
  return 0;
}

/* Effective uid and gid from /proc/<pid>/status ("Uid:\treal\teffective\t..."). */
static int read_ids(uint32_t pid, struct task *t) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%u/status", pid);
  if (read_proc(path, buf, sizeof buf) <= 0) return -1;
  unsigned real, eff;
  char *u = strstr(buf, "\nUid:");
  char *g = strstr(buf, "\nGid:");
  if (!u || !g || sscanf(u + 5, "%u %u", &real, &eff) != 2) return -1;
  t->uid = eff;
  if (sscanf(g + 5, "%u %u", &real, &eff) != 2) return -1;
  t->gid = eff;
  return 0;
}

static void read_cmdline(uint32_t pid, struct task *t) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/cmdline", pid);
  t->cmdline_len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  while (t->cmdline_len < sizeof t->cmdline) {
    ssize_t r = read(fd, t->cmdline + t->cmdline_len, sizeof t->cmdline - t->cmdline_len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    t->cmdline_len += (size_t)r;
  }
  close(fd);
}

static int cmp_pid(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Host test mode: the processes the agent started in the container and their descendants. */
static int descendants(const struct container *c, uint32_t *out, int max) {
  uint32_t *pid = malloc(WALK_MAX * sizeof *pid), *ppid = malloc(WALK_MAX * sizeof *ppid);
  uint8_t *in = calloc(WALK_MAX, 1);
  int n = 0, found = 0;
  DIR *d = opendir("/proc");
  if (!pid || !ppid || !in || !d) goto done;
  struct dirent *de;
  while (n < WALK_MAX && (de = readdir(d))) {
    if (!isdigit((unsigned char)de->d_name[0])) continue;
    struct task t;
    uint32_t p = (uint32_t)strtoul(de->d_name, NULL, 10);
    if (read_stat(p, &t) < 0) continue;
    pid[n] = p;
    ppid[n] = t.ppid;
    for (int k = 0; k < PV_MAX_PROCESSES; k++) {
      const struct process *q = &g_procs[k];
      if (q->used && !q->exited && (uint32_t)q->pid == p && strcmp(q->container_id, c->id) == 0) in[n] = 1;
    }
    n++;
  }
  /* Mark children of marked processes until nothing changes (depth passes). */
  for (int changed = 1; changed;) {
    changed = 0;
    for (int i = 0; i < n; i++) {
      if (in[i]) continue;
      for (int j = 0; j < n; j++)
        if (in[j] && pid[j] == ppid[i]) {
          in[i] = 1;
          changed = 1;
          break;
        }
    }
  }
  for (int i = 0; i < n && found < max; i++)
    if (in[i]) out[found++] = pid[i];
done:
  if (d) closedir(d);
  free(pid);
  free(ppid);
  free(in);
  return found;
}

static int put_task(struct buf *b, const struct task *t) {
  char state[2] = {t->state, 0};
  size_t rec = tlv_begin_nested(b, PV_TAG_TASK);
  if (rec == (size_t)-1) return -1;
  if (tlv_put_u32(b, PV_TAG_PID, t->pid) || tlv_put_u32(b, PV_TAG_PPID, t->ppid) || tlv_put_u32(b, PV_TAG_PGID, t->pgid) ||
      tlv_put_u32(b, PV_TAG_SID, t->sid) || tlv_put_u32(b, PV_TAG_TPGID, t->tpgid) || tlv_put_u32(b, PV_TAG_UID, t->uid) ||
      tlv_put_u32(b, PV_TAG_GID, t->gid) || tlv_put_str(b, PV_TAG_STATE, state) ||
      tlv_put_u64(b, PV_TAG_START_TICKS, t->start) || tlv_put_u64(b, PV_TAG_UTIME, t->utime) ||
      tlv_put_u64(b, PV_TAG_STIME, t->stime) || tlv_put_u64(b, PV_TAG_VSZ, t->vsz_kib) ||
      tlv_put_u64(b, PV_TAG_RSS, t->rss_kib) || tlv_put_u32(b, PV_TAG_TTY, t->tty) ||
      tlv_put_u32(b, PV_TAG_THREADS, t->threads) || tlv_put_u32(b, PV_TAG_NICE, t->nice) ||
      tlv_put(b, PV_TAG_COMM, t->comm, (uint32_t)strlen(t->comm)) || tlv_put(b, PV_TAG_CMDLINE, t->cmdline, (uint32_t)t->cmdline_len))
    return -1;
  tlv_end_nested(b, rec);
  return 0;
}

static uint64_t mem_total_kib(void) {
  char buf[256];
  if (read_proc("/proc/meminfo", buf, sizeof buf) <= 0) return 0;
  unsigned long long kib = 0;
  if (sscanf(buf, "MemTotal: %llu", &kib) != 1) return 0;
  return kib;
}

void op_process_table(const struct tlv_msg *m, uint32_t id) {
  struct container *c = need_container(m, id);
  if (!c) return;
  uint32_t *pids = malloc((PV_MAX_TOP_PROCESSES + 1) * sizeof *pids);
  struct task *t = malloc(sizeof *t);
  if (!pids || !t) {
    free(pids);
    free(t);
    return fail(id, PV_ERR_UNAVAILABLE, ENOMEM, "out of memory");
  }
  /* One more than the limit: finding it means some are left out. */
  int n = cgroup_pids(c, pids, PV_MAX_TOP_PROCESSES + 1);
  if (n < 0) n = descendants(c, pids, PV_MAX_TOP_PROCESSES + 1);
  int truncated = n > PV_MAX_TOP_PROCESSES;
  if (truncated) n = PV_MAX_TOP_PROCESSES;
  qsort(pids, (size_t)n, sizeof *pids, cmp_pid);
  struct timespec up;
  clock_gettime(CLOCK_BOOTTIME, &up);
  struct channel *ch = &g_ctl;
  if (chan_begin(ch, PV_FRAME_ACK, 0, id) < 0) goto out;
  struct buf *b = &ch->out;
  if (tlv_put_u32(b, PV_TAG_CLOCK_TICKS, (uint32_t)sysconf(_SC_CLK_TCK)) ||
      tlv_put_u64(b, PV_TAG_UPTIME, (uint64_t)up.tv_sec * 1000 + (uint64_t)up.tv_nsec / 1000000) ||
      tlv_put_u64(b, PV_TAG_MEM_TOTAL, mem_total_kib())) {
    chan_abort(ch);
    goto out;
  }
  /* Room for the TRUNCATED field and one whole record, whatever its arguments. */
  const size_t record_max = PV_MAX_CMDLINE + 512;
  for (int i = 0; i < n; i++) {
    if (i > 0 && pids[i] == pids[i - 1]) continue;
    memset(t, 0, sizeof *t);
    if (read_stat(pids[i], t) < 0 || read_ids(pids[i], t) < 0) continue;
    read_cmdline(pids[i], t);
    size_t mark = buf_len(b);
    if (mark - ch->frame_start - PV_HEADER_SIZE + record_max > PV_MAX_CTL_PAYLOAD || put_task(b, t) < 0) {
      b->tail = b->head + mark; /* drop a partly written record */
      truncated = 1;
      break;
    }
  }
  if (truncated && tlv_put_u32(b, PV_TAG_TRUNCATED, 1)) {
    chan_abort(ch);
    goto out;
  }
  chan_end(ch);
out:
  free(pids);
  free(t);
}
