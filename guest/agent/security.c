/*
 * security.c - what a container's processes may do, set up in the child that becomes the
 * process, the way runc sets up an OCI process (its behaviour, written here from the kernel's
 * interfaces):
 *
 *   container (its first init; what lives in /proc at every init, which mounts a fresh one)
 *     sysctls         KEY=VALUE written to /proc/sys/KEY (dots as slashes), in the VM's
 *                     network and IPC namespaces, which are the pod's
 *     writable /sys   a privileged container's /sys and /sys/fs/cgroup remounted read-write
 *     read-only paths bound on themselves and remounted read-only (nosuid/nodev/noexec kept)
 *     masked paths    a file: /dev/null bound over it; a directory: an empty read-only tmpfs
 *     read-only /     the root mount remounted read-only (/etc/hosts and the other files
 *                     the host writes into the rootfs with it, as dockerd makes its bind mounts
 *                     of them read-only then; mounts, /dev, /proc, /sys keep their own flags)
 *   process (init and execs)
 *     before the change of user: every capability outside the bounding set dropped from it
 *     (PR_CAPBSET_DROP) and PR_SET_KEEPCAPS, so that a non-root user keeps its permitted set
 *     across setuid; after it: effective, permitted, inheritable set (capset), ambient raised
 *     (failures ignored, as runc), PR_SET_NO_NEW_PRIVS. execve then applies the kernel's rules:
 *     root gets its bounding set, a non-root user only ambient and file capabilities.
 *
 * Missing paths are skipped. Paths resolve in the container (the child has joined its mount
 * namespace, whose root is the container's), so a symlink cannot lead out of it.
 *
 * The container's settings are kept per container slot (g_containers index) from its
 * CREATE_CONTAINER; the child that applies them runs in the agent's memory (CLONE_VM, the agent
 * suspended until it execs: process.c) and marks them applied there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif

/* Steps of a failure (stage = base + index into the container's list, or + 0). */
enum {
  SEC_CAPBSET = ST_SECURITY_BASE + 1,
  SEC_KEEPCAPS,
  SEC_CAPSET,
  SEC_NNP,
  SEC_SYSFS,
  SEC_ROOTFS,
  SEC_OOM_SCORE,
};
#define SEC_MASK_BASE 2000
/* + the RLIMIT_* number whose setrlimit failed */
#define SEC_RLIMIT_BASE 4000
#define SEC_RO_BASE 3000
#define SEC_LIST_MAX 256

struct container_security {
  char **sysctls, **masked, **ro; /* NULL-terminated, one allocation each (or NULL) */
  int nsysctls, nmasked, nro;
  int readonly_rootfs, writable_sysfs;
  int applied; /* what lives outside /proc is in place (the first init did it) */
};

static struct container_security g_sec[PV_MAX_CONTAINERS];
/* What CREATE_CONTAINER parsed, until security_container_keep gives it to the container. */
static struct container_security g_pending;

static int last_cap(void) {
  static int last = -1;
  if (last >= 0) return last;
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  char b[16] = {0};
  if (fd >= 0) {
    ssize_t n = read(fd, b, sizeof b - 1);
    (void)n;
    close(fd);
  }
  int v = atoi(b);
  last = v > 0 && v < 64 ? v : 40;
  return last;
}

static uint64_t valid_caps(void) {
  int l = last_cap();
  return l >= 63 ? ~0ULL : (1ULL << (l + 1)) - 1;
}

/* START_PROCESS's RLIMIT records into ps; -1 when one is malformed, out of range or too many. */
static int rlimit_records(const struct tlv_msg *m, struct process_security *ps) {
  size_t pos = 0;
  struct tlv_field f;
  while (tlv_next(m, &pos, &f)) {
    if (f.tag != PV_TAG_RLIMIT) continue;
    struct tlv_msg rec;
    if (ps->nrlimits == PV_MAX_RLIMITS || tlv_parse(&rec, f.val, f.len) < 0) return -1;
    uint32_t res;
    uint64_t soft, hard;
    if (tlv_count(&rec, PV_TAG_RLIMIT_RESOURCE) != 1 || tlv_count(&rec, PV_TAG_RLIMIT_SOFT) != 1 ||
        tlv_count(&rec, PV_TAG_RLIMIT_HARD) != 1 || tlv_get_u32(&rec, PV_TAG_RLIMIT_RESOURCE, &res) < 0 ||
        tlv_get_u64(&rec, PV_TAG_RLIMIT_SOFT, &soft) < 0 || tlv_get_u64(&rec, PV_TAG_RLIMIT_HARD, &hard) < 0 ||
        res >= RLIM_NLIMITS || soft > hard)
      return -1;
    ps->rlimits[ps->nrlimits].resource = res;
    ps->rlimits[ps->nrlimits].soft = soft;
    ps->rlimits[ps->nrlimits].hard = hard;
    ps->nrlimits++;
  }
  return 0;
}

int security_process_parse(const struct tlv_msg *m, struct process_security *ps, struct agent_error *e) {
  memset(ps, 0, sizeof *ps);
  uint32_t nnp = 0;
  if (tlv_count(m, PV_TAG_NO_NEW_PRIVS) && tlv_get_u32(m, PV_TAG_NO_NEW_PRIVS, &nnp) < 0) {
    set_error(e, PV_ERR_INVALID, EINVAL, "bad no_new_privs flag");
    return -1;
  }
  ps->no_new_privs = nnp == 1;
  if (tlv_count(m, PV_TAG_OOM_SCORE_ADJ)) {
    uint32_t adj;
    if (tlv_get_u32(m, PV_TAG_OOM_SCORE_ADJ, &adj) < 0 || (int32_t)adj < -1000 || (int32_t)adj > 1000) {
      set_error(e, PV_ERR_INVALID, EINVAL, "bad oom_score_adj (-1000 to 1000)");
      return -1;
    }
    ps->has_oom_score_adj = 1;
    ps->oom_score_adj = (int32_t)adj;
  }
  if (rlimit_records(m, ps) < 0) {
    set_error(e, PV_ERR_INVALID, EINVAL, "malformed resource limit (RLIMIT_RESOURCE below %d, soft <= hard, at most %d)",
              RLIM_NLIMITS, PV_MAX_RLIMITS);
    return -1;
  }
  if (!tlv_count(m, PV_TAG_CAP_BOUNDING)) return 0;
  static const uint16_t tags[] = {PV_TAG_CAP_BOUNDING, PV_TAG_CAP_EFFECTIVE, PV_TAG_CAP_PERMITTED,
                                  PV_TAG_CAP_INHERITABLE, PV_TAG_CAP_AMBIENT};
  uint64_t *sets[] = {&ps->bounding, &ps->effective, &ps->permitted, &ps->inheritable, &ps->ambient};
  for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
    if (tlv_count(m, tags[i]) && tlv_get_u64(m, tags[i], sets[i]) < 0) {
      set_error(e, PV_ERR_INVALID, EINVAL, "malformed capability set");
      return -1;
    }
    *sets[i] &= valid_caps(); /* capabilities this kernel does not have cannot be given */
  }
  ps->has_caps = 1;
  return 0;
}

static void free_lists(struct container_security *s) {
  free(s->sysctls);
  free(s->masked);
  free(s->ro);
  memset(s, 0, sizeof *s);
}

/* An absolute path without empty, "." or ".." components (it resolves in the container). */
static int valid_abs_path(const char *p) {
  if (p[0] != '/' || strlen(p) > PV_MAX_PATH) return 0;
  for (const char *s = p + 1; *s;) {
    const char *end = strchr(s, '/');
    size_t n = end ? (size_t)(end - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    if (!end) break;
    s = end + 1;
  }
  return 1;
}

/* KEY=VALUE with KEY of [A-Za-z0-9_.-] (no empty, "." or ".." part) and a value without '\n' rules. */
static int valid_sysctl(const char *kv) {
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv || (size_t)(eq - kv) > 255) return 0;
  char prev = '.';
  for (const char *p = kv; p < eq; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          c == '.'))
      return 0;
    if (c == '.' && prev == '.') return 0;
    prev = c;
  }
  return prev != '.';
}

/*
 * runc's rule: only sysctls of a namespace the container has of its own (a VM's network and IPC
 * namespaces are the pod's, never the node's): the IPC ones, fs.mqueue.*, net.*, and
 * kernel.domainname (UTS). Its words for the others.
 */
static int namespaced_sysctl(const char *kv, struct agent_error *e) {
  static const char *ipc[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                              "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
  size_t n = (size_t)(strchr(kv, '=') - kv);
  for (size_t i = 0; i < sizeof ipc / sizeof ipc[0]; i++)
    if (strlen(ipc[i]) == n && strncmp(kv, ipc[i], n) == 0) return 0;
  if (strncmp(kv, "fs.mqueue.", 10) == 0 || strncmp(kv, "net.", 4) == 0) return 0;
  if (n == 17 && strncmp(kv, "kernel.domainname", n) == 0) return 0;
  if (n == 15 && strncmp(kv, "kernel.hostname", n) == 0)
    set_error(e, PV_ERR_UNAVAILABLE, EINVAL, "sysctl \"kernel.hostname\" is not allowed as it conflicts with the OCI \"hostname\" field");
  else
    set_error(e, PV_ERR_UNAVAILABLE, EINVAL, "sysctl \"%.*s\" is not in a separate kernel namespace", (int)n, kv);
  return -1;
}

/* Repeated string fields `tag` as a NULL-terminated vector; -1 when malformed. */
static int string_list(const struct tlv_msg *m, uint16_t tag, char ***out, int *count) {
  size_t pos = 0, total = 0;
  int n = 0;
  struct tlv_field f;
  while (tlv_next(m, &pos, &f))
    if (f.tag == tag) {
      if (f.len == 0 || f.len > PV_MAX_PATH + 256 || memchr(f.val, 0, f.len)) return -1;
      total += f.len + 1;
      n++;
    }
  *count = n;
  *out = NULL;
  if (n == 0) return 0;
  if (n > SEC_LIST_MAX) return -1;
  char **v = malloc(sizeof(char *) * (size_t)(n + 1) + total);
  if (!v) return -1;
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
  *out = v;
  return 0;
}

int security_container_parse(const struct tlv_msg *m, struct agent_error *e) {
  free_lists(&g_pending);
  uint32_t ro = 0, sysfs = 0;
  if ((tlv_count(m, PV_TAG_READONLY_ROOTFS) && tlv_get_u32(m, PV_TAG_READONLY_ROOTFS, &ro) < 0) ||
      (tlv_count(m, PV_TAG_WRITABLE_SYSFS) && tlv_get_u32(m, PV_TAG_WRITABLE_SYSFS, &sysfs) < 0)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "bad read-only rootfs or writable sysfs flag");
    return -1;
  }
  g_pending.readonly_rootfs = ro == 1;
  g_pending.writable_sysfs = sysfs == 1;
  if (string_list(m, PV_TAG_SYSCTL, &g_pending.sysctls, &g_pending.nsysctls) < 0 ||
      string_list(m, PV_TAG_MASKED_PATH, &g_pending.masked, &g_pending.nmasked) < 0 ||
      string_list(m, PV_TAG_READONLY_PATH, &g_pending.ro, &g_pending.nro) < 0) {
    free_lists(&g_pending);
    set_error(e, PV_ERR_INVALID, EINVAL, "malformed sysctl or path list (at most %d of each)", SEC_LIST_MAX);
    return -1;
  }
  for (int i = 0; i < g_pending.nsysctls; i++) {
    if (!valid_sysctl(g_pending.sysctls[i])) {
      set_error(e, PV_ERR_INVALID, EINVAL, "invalid sysctl %.200s", g_pending.sysctls[i]);
      free_lists(&g_pending);
      return -1;
    }
    if (namespaced_sysctl(g_pending.sysctls[i], e) < 0) {
      free_lists(&g_pending);
      return -1;
    }
  }
  for (int i = 0; i < g_pending.nmasked + g_pending.nro; i++) {
    const char *p = i < g_pending.nmasked ? g_pending.masked[i] : g_pending.ro[i - g_pending.nmasked];
    if (!valid_abs_path(p)) {
      set_error(e, PV_ERR_INVALID, EINVAL, "masked or read-only path %.200s is not absolute and clean", p);
      free_lists(&g_pending);
      return -1;
    }
  }
  if (g_pending.nsysctls && !g_pid1) {
    /* Host test mode: /proc/sys is the host's. */
    set_error(e, PV_ERR_INVALID, EINVAL, "sysctls are set only in a VM");
    free_lists(&g_pending);
    return -1;
  }
  return 0;
}

void security_container_keep(const struct container *c) {
  struct container_security *s = &g_sec[c - g_containers];
  free_lists(s);
  *s = g_pending;
  memset(&g_pending, 0, sizeof g_pending);
}

/* ---- in the child ------------------------------------------------------------------- */

static int under_proc(const char *p) { return strcmp(p, "/proc") == 0 || strncmp(p, "/proc/", 6) == 0; }

/* The nosuid/nodev/noexec flags `path`'s mount has (a bind remount must keep them). */
static unsigned long kept_flags(const char *path) {
  struct statvfs st;
  if (statvfs(path, &st) < 0) return MS_NOSUID | MS_NODEV | MS_NOEXEC; /* the safe side */
  unsigned long f = 0;
  if (st.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) f |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  return f;
}

static int write_sysctl(const char *kv) {
  const char *eq = strchr(kv, '=');
  char path[300] = "/proc/sys/";
  size_t n = strlen(path);
  for (const char *p = kv; p < eq && n < sizeof path - 1; p++) path[n++] = *p == '.' ? '/' : *p;
  path[n] = 0;
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1; /* open failed */
  size_t len = strlen(eq + 1);
  ssize_t w = write(fd, eq + 1, len);
  int saved = errno;
  close(fd);
  if (w != (ssize_t)len) {
    errno = w < 0 ? saved : EIO;
    return -2; /* write failed */
  }
  return 0;
}

static int readonly_path(const char *p) {
  if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) return errno == ENOENT ? 0 : -1;
  return mount(p, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(p), NULL);
}

static int mask_path(const char *p) {
  if (mount("/dev/null", p, NULL, MS_BIND, NULL) == 0 || errno == ENOENT) return 0;
  if (errno == ENOTDIR) return mount("tmpfs", p, "tmpfs", MS_RDONLY, NULL);
  return -1;
}

static int container_setup(const struct container *c, int *stage) {
  struct container_security *s = &g_sec[c - g_containers];
  int first = !s->applied;
  for (int i = 0; i < s->nsysctls; i++) {
    int r = write_sysctl(s->sysctls[i]);
    if (r < 0) return *stage = ST_SYSCTL_BASE + (r == -2 ? SEC_LIST_MAX : 0) + i, -1;
  }
  if (s->writable_sysfs) {
    if (first && mount(NULL, "/sys", NULL, MS_BIND | MS_REMOUNT | kept_flags("/sys"), NULL) < 0)
      return *stage = SEC_SYSFS, -1;
    if (c->has_cgroup && access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 &&
        mount(NULL, "/sys/fs/cgroup", NULL, MS_BIND | MS_REMOUNT | kept_flags("/sys/fs/cgroup"), NULL) < 0)
      return *stage = SEC_SYSFS, -1;
  }
  for (int i = 0; i < s->nro; i++)
    if ((first || under_proc(s->ro[i])) && readonly_path(s->ro[i]) < 0) return *stage = SEC_RO_BASE + i, -1;
  for (int i = 0; i < s->nmasked; i++)
    if ((first || under_proc(s->masked[i])) && mask_path(s->masked[i]) < 0) return *stage = SEC_MASK_BASE + i, -1;
  if (first && s->readonly_rootfs) {
    if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags("/"), NULL) < 0)
      return *stage = SEC_ROOTFS, -1;
  }
  /* In the agent's memory (CLONE_VM; the agent waits): a restart in place redoes only /proc's. */
  s->applied = 1;
  return 0;
}

int security_before_user(const struct process_spec *s, const struct container *c, int is_init, int *stage) {
  if (is_init && container_setup(c, stage) < 0) return -1;
  const struct process_security *ps = &s->security;
  /* As runc: while still root with every capability (raising a hard limit needs
   * CAP_SYS_RESOURCE); all ones is RLIM_INFINITY. */
  for (int i = 0; i < ps->nrlimits; i++) {
    struct rlimit rl = {.rlim_cur = ps->rlimits[i].soft, .rlim_max = ps->rlimits[i].hard};
    if (setrlimit((int)ps->rlimits[i].resource, &rl) < 0) return *stage = SEC_RLIMIT_BASE + (int)ps->rlimits[i].resource, -1;
  }
  /* Lowering it needs CAP_SYS_RESOURCE: done while still root with every capability. */
  if (ps->has_oom_score_adj) {
    char v[16];
    snprintf(v, sizeof v, "%d", ps->oom_score_adj);
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, v, strlen(v)) < 0) {
      int err = errno;
      if (fd >= 0) close(fd);
      errno = err;
      return *stage = SEC_OOM_SCORE, -1;
    }
    close(fd);
  }
  if (!ps->has_caps) return 0;
  for (int cap = 0; cap <= last_cap(); cap++)
    if (!(ps->bounding & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      return *stage = SEC_CAPBSET, -1;
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return *stage = SEC_KEEPCAPS, -1;
  return 0;
}

int security_after_user(const struct process_spec *s, int *stage) {
  const struct process_security *ps = &s->security;
  if (ps->has_caps) {
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return *stage = SEC_KEEPCAPS, -1;
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    for (int i = 0; i < 2; i++) {
      d[i].effective = (uint32_t)(ps->effective >> (32 * i));
      d[i].permitted = (uint32_t)(ps->permitted >> (32 * i));
      d[i].inheritable = (uint32_t)(ps->inheritable >> (32 * i));
    }
    if (syscall(SYS_capset, &h, d) < 0) return *stage = SEC_CAPSET, -1;
    for (int cap = 0; cap <= last_cap(); cap++)
      if (ps->ambient & (1ULL << cap)) (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  }
  if (ps->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return *stage = SEC_NNP, -1;
  return 0;
}

/* Go's (and so runc's) words for an errno: strerror with a lower-case first letter. */
static const char *lower_strerror(int err, char *buf, size_t len) {
  snprintf(buf, len, "%s", strerror(err));
  if (buf[0] >= 'A' && buf[0] <= 'Z') buf[0] = (char)(buf[0] - 'A' + 'a');
  return buf;
}

int security_describe(int stage, int err, const struct container *c, struct agent_error *e) {
  const struct container_security *s = &g_sec[c - g_containers];
  char t[128];
  const char *why = lower_strerror(err, t, sizeof t);
  int wrote = stage >= ST_SYSCTL_BASE + SEC_LIST_MAX && stage < ST_SYSCTL_BASE + SEC_LIST_MAX + s->nsysctls;
  if (wrote || (stage >= ST_SYSCTL_BASE && stage < ST_SYSCTL_BASE + s->nsysctls)) {
    const char *kv = s->sysctls[stage - ST_SYSCTL_BASE - (wrote ? SEC_LIST_MAX : 0)];
    const char *eq = strchr(kv, '=');
    char path[300] = "/proc/sys/";
    size_t n = strlen(path);
    for (const char *p = kv; p < eq && n < sizeof path - 1; p++) path[n++] = *p == '.' ? '/' : *p;
    path[n] = 0;
    /* runc's words: the error of os.WriteFile in its container init */
    set_error(e, PV_ERR_UNAVAILABLE, err, "error during container init: %s %s: %s", wrote ? "write" : "open", path, why);
    return 1;
  }
  if (stage >= SEC_MASK_BASE && stage < SEC_MASK_BASE + s->nmasked) {
    set_error(e, PV_ERR_UNAVAILABLE, err, "mask path %s: %s", s->masked[stage - SEC_MASK_BASE], why);
    return 1;
  }
  if (stage >= SEC_RO_BASE && stage < SEC_RO_BASE + s->nro) {
    set_error(e, PV_ERR_UNAVAILABLE, err, "make %s read-only: %s", s->ro[stage - SEC_RO_BASE], why);
    return 1;
  }
  if (stage >= SEC_RLIMIT_BASE && stage < SEC_RLIMIT_BASE + RLIM_NLIMITS) {
    /* runc's words: error setting rlimit type N: ... */
    set_error(e, PV_ERR_UNAVAILABLE, err, "error during container init: error setting rlimit type %d: %s",
              stage - SEC_RLIMIT_BASE, why);
    return 1;
  }
  static const char *steps[] = {"drop from the bounding set", "keep capabilities", "set capabilities",
                                "set no_new_privs", "make /sys writable", "make / read-only",
                                "write /proc/self/oom_score_adj"};
  if (stage > ST_SECURITY_BASE && stage <= SEC_OOM_SCORE) {
    set_error(e, PV_ERR_UNAVAILABLE, err, "%s: %s", steps[stage - ST_SECURITY_BASE - 1], why);
    return 1;
  }
  return 0;
}
