/*
 * ops_archive.c - PV_OP_ARCHIVE: decode the request and start the ARCHIVE process
 * (archive.c does its work; process.c pumps its streams). See the protocol header.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "agent.h"
#include "reply.h"
#include "archive.h"

/* Names are length-checked before they are formatted; a cut is never silent data. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

void op_archive(const struct tlv_msg *m, uint32_t id) {
  static struct archive_job job; /* read by the forked child, which has its own copy */
  char cid[PV_MAX_ID + 1], pid_s[PV_MAX_ID + 1];
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", cid, PV_MAX_ID) < 0) return;
  if (need_str(m, id, PV_TAG_PROCESS_ID, "process id", pid_s, PV_MAX_ID) < 0) return;
  if (!valid_id(pid_s)) return fail(id, PV_ERR_INVALID, EINVAL, "invalid process id");
  memset(&job, 0, sizeof job);
  job.upper_fd = -1;
  struct process_spec s;
  memset(&s, 0, sizeof s);
  if (tlv_get_u32(m, PV_TAG_HANDLE, &s.handle) < 0 || s.handle == 0)
    return fail(id, PV_ERR_INVALID, EINVAL, "missing process handle");
  if (tlv_get_u32(m, PV_TAG_WINDOW, &s.window) < 0 || s.window < PV_MIN_WINDOW || s.window > PV_MAX_WINDOW)
    return fail(id, PV_ERR_INVALID, EINVAL, "missing or out-of-range window");
  if (tlv_get_u32(m, PV_TAG_ARCHIVE_KIND, &job.kind) < 0 || job.kind < PV_ARCHIVE_STAT || job.kind > PV_ARCHIVE_LAYER)
    return fail(id, PV_ERR_INVALID, EINVAL, "missing or unknown archive kind");
  if (tlv_count(m, PV_TAG_ARCHIVE_FLAGS) && tlv_get_u32(m, PV_TAG_ARCHIVE_FLAGS, &job.flags) < 0)
    return fail(id, PV_ERR_INVALID, EINVAL, "malformed archive flags");
  int needs_path = job.kind == PV_ARCHIVE_STAT || job.kind == PV_ARCHIVE_GET || job.kind == PV_ARCHIVE_PUT;
  if (needs_path) {
    if (need_str(m, id, PV_TAG_PATH, "path", job.path, PV_MAX_PATH) < 0) return;
    if (job.path[0] != '/') return fail(id, PV_ERR_INVALID, EINVAL, "path must be absolute");
  }
  if (tlv_count(m, PV_TAG_ARCHIVE_ROOT)) {
    if (!needs_path) return fail(id, PV_ERR_INVALID, EINVAL, "archive root is for stat, get and put only");
    if (need_str(m, id, PV_TAG_ARCHIVE_ROOT, "archive root", job.root, PV_MAX_PATH) < 0) return;
    if (!valid_container_path(job.root))
      return fail(id, PV_ERR_INVALID, EINVAL, "archive root must be an absolute path without ..");
  }
  if (job.kind == PV_ARCHIVE_GET && need_str(m, id, PV_TAG_ARCHIVE_NAME, "archive name", job.name, 255) < 0) return;
  if (job.kind == PV_ARCHIVE_GET && (strchr(job.name, '/') || strcmp(job.name, "..") == 0))
    return fail(id, PV_ERR_INVALID, EINVAL, "archive name must be one path component");
  if (job.flags & PV_ARCHIVE_F_CHOWN) {
    if (tlv_get_u32(m, PV_TAG_UID, &job.uid) < 0 || tlv_get_u32(m, PV_TAG_GID, &job.gid) < 0)
      return fail(id, PV_ERR_INVALID, EINVAL, "CHOWN needs UID and GID");
  }
  struct container *c = container_find(cid);
  if (!c) return fail(id, PV_ERR_NOT_FOUND, ENOENT, "no such container");
  if (job.kind == PV_ARCHIVE_LAYER && c->upper_fd < 0)
    return fail(id, PV_ERR_INVALID, EINVAL, "the container has no upper disk");
  job.upper_fd = c->upper_fd;
  static char *no_args[] = {"archive", NULL};
  s.container_id = cid;
  s.process_id = pid_s;
  s.argv = no_args;
  s.envp = no_args + 1;
  s.cwd = "/";
  s.stdin_open = job.kind == PV_ARCHIVE_PUT;
  s.job = &job;
  int freeze = job.kind == PV_ARCHIVE_LAYER && (job.flags & PV_ARCHIVE_F_FREEZE) && cgroup_freeze(c, 1) == 0;
  struct agent_error e;
  struct process *p = process_start(&s, &e);
  if (!p) {
    if (freeze) cgroup_freeze(c, 0);
    logf_("archive %s in %s: %s", pid_s, cid, e.msg);
    reply_error(id, &e);
    return;
  }
  p->thaw = freeze;
  if (chan_begin(&g_ctl, PV_FRAME_ACK, 0, id) < 0) return;
  if (tlv_put_u32(&g_ctl.out, PV_TAG_PID, (uint32_t)p->pid))
    chan_abort(&g_ctl);
  else
    chan_end(&g_ctl);
}

void archive_kill_jobs(const char *container_id) {
  for (int i = 0; i < PV_MAX_PROCESSES; i++) {
    struct process *p = &g_procs[i];
    if (p->used && p->is_job && !p->exited && strcmp(p->container_id, container_id) == 0) kill(p->pid, SIGKILL);
  }
}
