/*
 * cgroup.c - each container's cgroup (v2) in the guest: its memory limit (memory.max) and
 * reservation (memory.low), CPU quota (cpu.max) and weight (cpu.weight), its CPUs and memory
 * nodes (cpuset.cpus, cpuset.mems) and its process limit (pids.max), applied at create and changed live, the memory usage stats read, and
 * the OOM kills it saw (memory.events oom_kill) reported with its init's exit.
 *
 * Layout: cgroup2 is mounted on /sys/fs/cgroup by pid1_setup; the root's subtree_control
 * enables memory, cpu, cpuset and pids; a container's cgroup is /sys/fs/cgroup/pv-<container id>. Its init
 * and its execs join it before they exec (the child writes to cgroup.procs through an fd the
 * agent opened). In host test mode (not PID 1) there is no cgroup: a limit is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define CGROUP_ROOT "/sys/fs/cgroup"

static int g_cgroups; /* 1 when cgroup2 with the memory controller is usable */

static void write_str(const char *path, const char *s) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, s, strlen(s)) < 0) logf_("write %s to %s: %s", s, path, strerror(errno));
  if (fd >= 0) close(fd);
}

void cgroup_setup(void) {
  mkdir(CGROUP_ROOT, 0755);
  if (mount("cgroup2", CGROUP_ROOT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
    logf_("mount cgroup2: %s: containers run without memory limits", strerror(errno));
    return;
  }
  write_str(CGROUP_ROOT "/cgroup.subtree_control", "+memory");
  write_str(CGROUP_ROOT "/cgroup.subtree_control", "+cpu");
  write_str(CGROUP_ROOT "/cgroup.subtree_control", "+cpuset");
  write_str(CGROUP_ROOT "/cgroup.subtree_control", "+pids");
  char ctl[128] = {0};
  int fd = open(CGROUP_ROOT "/cgroup.subtree_control", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, ctl, sizeof ctl - 1) < 0) ctl[0] = 0;
    close(fd);
  }
  g_cgroups = strstr(ctl, "memory") != NULL;
  logf_("cgroup2 controllers: %s", ctl[0] ? ctl : "(none)\n");
}

static void cg_path(const struct container *c, const char *file, char *out, size_t len) {
  if (file)
    snprintf(out, len, CGROUP_ROOT "/pv-%s/%s", c->cgroup_name, file);
  else
    snprintf(out, len, CGROUP_ROOT "/pv-%s", c->cgroup_name);
}

static int cg_write(const struct container *c, const char *file, const char *val, struct agent_error *e) {
  char path[PV_MAX_ID + 64];
  cg_path(c, file, path, sizeof path);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, val, strlen(val)) < 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    set_error(e, err == EBUSY ? PV_ERR_CONFLICT : PV_ERR_INVALID, err, "set %s of container %s to %s: %s", file, c->id, val,
              strerror(err));
    return -1;
  }
  close(fd);
  return 0;
}

int cgroup_set_limits(struct container *c, const struct cgroup_limits *l, struct agent_error *e) {
  if (!c->has_cgroup) {
    if (!l->has_memory_max && !l->has_cpu_quota && !l->has_cpu_weight && !l->has_memory_low && !l->has_cpuset_cpus &&
        !l->has_cpuset_mems && !l->has_pids_max)
      return 0;
    set_error(e, PV_ERR_INVALID, ENOTSUP, "resource limits need cgroup v2 with the memory controller in the guest");
    return -1;
  }
  char v[64];
  if (l->has_memory_max) {
    if (l->memory_max)
      snprintf(v, sizeof v, "%llu", (unsigned long long)l->memory_max);
    else
      snprintf(v, sizeof v, "max");
    if (cg_write(c, "memory.max", v, e) < 0) return -1;
    /* No swap in the guest; keep a container from using any if one is ever added. */
    struct agent_error ignored;
    cg_write(c, "memory.swap.max", "0", &ignored);
  }
  if (l->has_cpu_quota) {
    if (l->cpu_quota)
      snprintf(v, sizeof v, "%llu %llu", (unsigned long long)l->cpu_quota, (unsigned long long)(l->cpu_period ? l->cpu_period : 100000));
    else
      snprintf(v, sizeof v, "max %llu", (unsigned long long)(l->cpu_period ? l->cpu_period : 100000));
    if (cg_write(c, "cpu.max", v, e) < 0) return -1;
  }
  if (l->has_cpu_weight) {
    snprintf(v, sizeof v, "%llu", (unsigned long long)l->cpu_weight);
    if (cg_write(c, "cpu.weight", v, e) < 0) return -1;
  }
  if (l->has_memory_low) {
    if (l->memory_low)
      snprintf(v, sizeof v, "%llu", (unsigned long long)l->memory_low);
    else
      snprintf(v, sizeof v, "0");
    if (cg_write(c, "memory.low", v, e) < 0) return -1;
  }
  /* cgroup v2 takes "" as "the parent's" (all of the VM's CPUs, its one memory node). A CPU
   * the guest kernel did not bring up is ERANGE or EINVAL: said with the CPUs it has. */
  if (l->has_cpuset_cpus && cg_write(c, "cpuset.cpus", l->cpuset_cpus[0] ? l->cpuset_cpus : "\n", e) < 0) {
    if (e->err == ERANGE || e->err == EINVAL) {
      char online[64] = "?";
      int fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        ssize_t n = read(fd, online, sizeof online - 1);
        online[n > 0 ? n : 0] = 0;
        online[strcspn(online, "\n")] = 0;
        close(fd);
      }
      set_error(e, PV_ERR_INVALID, e->err, "--cpuset-cpus %s: the container's VM has CPUs %s (those its guest kernel brought up)", l->cpuset_cpus, online);
    }
    return -1;
  }
  if (l->has_cpuset_mems && cg_write(c, "cpuset.mems", l->cpuset_mems[0] ? l->cpuset_mems : "\n", e) < 0) return -1;
  if (l->has_pids_max) {
    if (l->pids_max)
      snprintf(v, sizeof v, "%llu", (unsigned long long)l->pids_max);
    else
      snprintf(v, sizeof v, "max");
    if (cg_write(c, "pids.max", v, e) < 0) return -1;
  }
  return 0;
}

int cgroup_create(struct container *c, const struct cgroup_limits *l, struct agent_error *e) {
  c->has_cgroup = 0;
  if (!g_cgroups) return cgroup_set_limits(c, l, e);
  char path[PV_MAX_ID + 64];
  cg_path(c, NULL, path, sizeof path);
  if (mkdir(path, 0755) < 0 && errno != EEXIST) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "create the cgroup of container %s: %s", c->id, strerror(errno));
    return -1;
  }
  c->has_cgroup = 1;
  if (cgroup_set_limits(c, l, e) < 0) {
    cgroup_remove(c);
    return -1;
  }
  return 0;
}

int cgroup_procs_fd(const struct container *c) {
  if (!c->has_cgroup) return -1;
  char path[PV_MAX_ID + 64];
  cg_path(c, "cgroup.procs", path, sizeof path);
  return open(path, O_WRONLY | O_CLOEXEC);
}

int cgroup_dir_fd(const struct container *c) {
  if (!c->has_cgroup) return -1;
  char path[PV_MAX_ID + 64];
  cg_path(c, NULL, path, sizeof path);
  return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int cgroup_pids(const struct container *c, uint32_t *out, int max) {
  if (!c->has_cgroup) return -1;
  char path[PV_MAX_ID + 64];
  cg_path(c, "cgroup.procs", path, sizeof path);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  int n = 0;
  unsigned pid;
  while (n < max && fscanf(f, "%u", &pid) == 1) out[n++] = pid;
  fclose(f);
  return n;
}

/* A "key value" line of a flat-keyed cgroup file; 0 when missing. */
static uint64_t keyed(const char *text, const char *key) {
  size_t n = strlen(key);
  for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
    if (strncmp(p, key, n) == 0 && p[n] == ' ') return strtoull(p + n + 1, NULL, 10);
  return 0;
}

static int read_small(const struct container *c, const char *file, char *buf, size_t len) {
  char path[PV_MAX_ID + 64];
  cg_path(c, file, path, sizeof path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, buf, len - 1);
  close(fd);
  if (r < 0) return -1;
  buf[r] = 0;
  return 0;
}

uint64_t cgroup_oom_kills(const struct container *c) {
  char buf[512];
  if (!c->has_cgroup || read_small(c, "memory.events", buf, sizeof buf) < 0) return 0;
  return keyed(buf, "oom_kill");
}

int cgroup_memory(const struct container *c, uint64_t *usage, uint64_t *limit, uint64_t *cache) {
  char buf[4096];
  *usage = *limit = *cache = 0;
  if (!c->has_cgroup || read_small(c, "memory.current", buf, sizeof buf) < 0) return -1;
  *usage = strtoull(buf, NULL, 10);
  if (read_small(c, "memory.max", buf, sizeof buf) == 0 && strncmp(buf, "max", 3) != 0) *limit = strtoull(buf, NULL, 10);
  if (read_small(c, "memory.stat", buf, sizeof buf) == 0) *cache = keyed(buf, "file");
  return 0;
}

int cgroup_kill(const struct container *c) {
  if (!c->has_cgroup) return 0;
  char path[PV_MAX_ID + 64];
  cg_path(c, "cgroup.kill", path, sizeof path);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = write(fd, "1", 1) == 1 ? 0 : -1;
  close(fd);
  return rc;
}

void cgroup_remove(struct container *c) {
  if (!c->has_cgroup) return;
  char path[PV_MAX_ID + 64];
  cg_path(c, NULL, path, sizeof path);
  /* Its processes are reaped by now; a zombie-free empty cgroup can be removed. */
  if (rmdir(path) < 0) logf_("remove cgroup %s: %s", path, strerror(errno));
  c->has_cgroup = 0;
}

int cgroup_freeze(const struct container *c, int on) {
  if (!c->has_cgroup) return -1;
  struct agent_error e;
  if (cg_write(c, "cgroup.freeze", on ? "1" : "0", &e) < 0) return -1;
  if (!on) return 0;
  char path[PV_MAX_ID + 64];
  cg_path(c, "cgroup.events", path, sizeof path);
  for (int i = 0; i < 200; i++) {
    char buf[256] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0 && strstr(buf, "frozen 1")) return 0;
    usleep(10000);
  }
  logf_("container %s: its cgroup did not freeze within 2 s", c->id);
  return 0;
}
