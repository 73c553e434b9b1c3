/*
 * seccomp.c - a container's seccomp filter (SET_SECCOMP), compiled once, loaded into each
 * process the container starts.
 *
 * The host sends the profile already resolved for the container (its capabilities and the
 * architecture applied: src/pod/seccomp.ts): a default action, the architectures, and rules of
 * system call names with an action and optional argument tests. Names are resolved here with
 * libseccomp against the guest's own tables, so a name the guest does not know is skipped (as
 * runc does: profiles list calls of every architecture and kernel). libseccomp turns the rules
 * into a BPF program at SET_SECCOMP; the program is kept with the container (and a copy for
 * the next container asking for the same filter), and a process only makes one seccomp(2)
 * call with it. That matters because processes are started from a
 * CLONE_VM | CLONE_VFORK child (process.c): it must not allocate, and libseccomp does.
 *
 * When the filter is loaded (runc's order): without no_new_privs the kernel lets a process
 * load a filter only while it has CAP_SYS_ADMIN, which a change to a non-root user drops, so
 * the filter goes in before the credentials change, and then also applies to the few calls
 * the start makes after it (setgroups, setgid, setuid, prctl, chdir, execve). With
 * no_new_privs set by then, it goes in as late as possible: just before exec.
 *
 * The request itself is answered by ops.c; this module only reads its fields, so that
 * container.c, below the op modules, can free a container's filter when it is released.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "agent.h"

#define ARG_SIZE 24
#define MAX_ARGS_PER_RULE 16
#define MAX_ARCHES 8
#define MAX_NAME 64

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

/* The libseccomp action of a PV_SECCOMP_ACT_* (with its errno or trace value); 0 with ok = 0
 * for an unknown one. */
static uint32_t action_of(uint32_t act, uint32_t err, int *ok) {
  *ok = 1;
  switch (act) {
  case PV_SECCOMP_ACT_ALLOW:
    return SCMP_ACT_ALLOW;
  case PV_SECCOMP_ACT_ERRNO:
    return SCMP_ACT_ERRNO(err);
  case PV_SECCOMP_ACT_KILL_THREAD:
    return SCMP_ACT_KILL_THREAD;
  case PV_SECCOMP_ACT_KILL_PROCESS:
    return SCMP_ACT_KILL_PROCESS;
  case PV_SECCOMP_ACT_TRAP:
    return SCMP_ACT_TRAP;
  case PV_SECCOMP_ACT_TRACE:
    return SCMP_ACT_TRACE(err);
  case PV_SECCOMP_ACT_LOG:
    return SCMP_ACT_LOG;
  }
  *ok = 0;
  return 0;
}

/* The guest kernel's major.minor, read once. */
static void kernel_version(int *major, int *minor) {
  static int maj = -1, min = -1;
  if (maj < 0) {
    struct utsname u;
    maj = min = 0;
    if (uname(&u) == 0 && sscanf(u.release, "%d.%d", &maj, &min) < 1) maj = min = 0;
  }
  *major = maj;
  *minor = min;
}

/* 1 when the guest's kernel is at least `want` ("4.8"), 0 when older, -1 when `want` is bad. */
static int kernel_at_least(const char *want) {
  int wmaj, wmin = 0, kmaj, kmin;
  char tail;
  int n = sscanf(want, "%d.%d%c", &wmaj, &wmin, &tail);
  if (n != 1 && n != 2) return -1;
  kernel_version(&kmaj, &kmin);
  return kmaj > wmaj || (kmaj == wmaj && kmin >= wmin);
}

/* Adds one rule record's calls to ctx; 0, or -1 with *e set. *skipped counts unknown names. */
static int add_rule(scmp_filter_ctx ctx, const struct tlv_field *rf, uint32_t default_act, int *skipped,
                    struct agent_error *e) {
  struct tlv_msg r;
  if (tlv_parse(&r, rf->val, rf->len) < 0) {
    set_error(e, PV_ERR_INVALID, EINVAL, "seccomp: malformed rule");
    return -1;
  }
  uint32_t act = 0, err = EPERM; /* runc's errno when a profile names none */
  if (tlv_get_u32(&r, PV_TAG_SECCOMP_ACTION, &act) < 0) {
    set_error(e, PV_ERR_INVALID, EINVAL, "seccomp: a rule without an action");
    return -1;
  }
  (void)tlv_get_u32(&r, PV_TAG_SECCOMP_ERRNO, &err);
  int ok;
  uint32_t action = action_of(act, err, &ok);
  if (!ok) {
    set_error(e, PV_ERR_INVALID, EINVAL, "seccomp: unknown rule action %u", (unsigned)act);
    return -1;
  }
  /* Docker's includes.minKernel (MIN_KERNEL) and excludes.minKernel (BELOW_KERNEL). */
  static const uint16_t kernel_tags[2] = {PV_TAG_SECCOMP_MIN_KERNEL, PV_TAG_SECCOMP_BELOW_KERNEL};
  for (int k = 0; k < 2; k++) {
    char kver[33];
    if (tlv_get_str(&r, kernel_tags[k], kver, sizeof kver - 1) < 0) continue;
    int at = kernel_at_least(kver);
    if (at < 0) {
      set_error(e, PV_ERR_INVALID, EINVAL, "seccomp: bad kernel version \"%s\"", kver);
      return -1;
    }
    if (at != (k == 0)) return 0;
  }
  /* libseccomp refuses a rule whose action is the default action; it would change nothing. */
  if (action == default_act) return 0;

  struct scmp_arg_cmp cmps[MAX_ARGS_PER_RULE];
  int ncmp = 0, same_index = 0;
  unsigned seen = 0;
  size_t pos = 0;
  struct tlv_field f;
  while (tlv_next(&r, &pos, &f)) {
    if (f.tag != PV_TAG_SECCOMP_ARG) continue;
    uint32_t index = f.len == ARG_SIZE ? rd32(f.val) : 99, op = f.len == ARG_SIZE ? rd32(f.val + 4) : 0;
    if (ncmp == MAX_ARGS_PER_RULE || index > 5 || op < PV_SECCOMP_CMP_NE || op > PV_SECCOMP_CMP_MASKED_EQ) {
      set_error(e, PV_ERR_INVALID, EINVAL, "seccomp: bad argument test");
      return -1;
    }
    /* PV_SECCOMP_CMP_* are numbered as libseccomp's enum scmp_compare. */
    cmps[ncmp].arg = index;
    cmps[ncmp].op = (enum scmp_compare)op;
    cmps[ncmp].datum_a = rd64(f.val + 8);
    cmps[ncmp].datum_b = rd64(f.val + 16);
    if (seen & (1u << index)) same_index = 1;
    seen |= 1u << index;
    ncmp++;
  }

  int nnames = 0;
  pos = 0;
  while (tlv_next(&r, &pos, &f)) {
    if (f.tag != PV_TAG_SECCOMP_SYSCALL) continue;
    char name[MAX_NAME + 1];
    if (++nnames > PV_MAX_SECCOMP_SYSCALLS || tlv_field_str(&f, name, MAX_NAME) < 0) {
      set_error(e, PV_ERR_INVALID, EINVAL, "seccomp: bad system call name in a rule");
      return -1;
    }
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) {
      (*skipped)++;
      continue;
    }
    int rc = 0;
    if (ncmp == 0 || !same_index) {
      rc = seccomp_rule_add_array(ctx, action, nr, (unsigned)ncmp, ncmp ? cmps : NULL);
    } else {
      /* Several tests of one argument cannot be ANDed by libseccomp: each is a rule (ORed). */
      for (int i = 0; i < ncmp && rc == 0; i++) rc = seccomp_rule_add_array(ctx, action, nr, 1, &cmps[i]);
    }
    if (rc < 0) {
      set_error(e, PV_ERR_INVALID, -rc, "seccomp: rule for %s: %s", name, strerror(-rc));
      return -1;
    }
  }
  return 0;
}

/* The BPF program of ctx, in memory the caller frees; NULL with *e set. */
static struct sock_fprog *export_program(scmp_filter_ctx ctx, struct agent_error *e) {
  int fd = memfd_create("pv-seccomp", MFD_CLOEXEC);
  if (fd < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "seccomp: memfd: %s", strerror(errno));
    return NULL;
  }
  struct sock_fprog *prog = NULL;
  int rc = seccomp_export_bpf(ctx, fd);
  off_t size = rc < 0 ? -1 : lseek(fd, 0, SEEK_END);
  if (rc < 0 || size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0) {
    set_error(e, PV_ERR_UNAVAILABLE, rc < 0 ? -rc : EIO, "seccomp: exporting the filter failed");
    goto out;
  }
  size_t n = (size_t)size / sizeof(struct sock_filter);
  if (n > BPF_MAXINSNS) {
    set_error(e, PV_ERR_INVALID, E2BIG, "seccomp: the profile makes %zu BPF instructions, over the kernel's %d", n,
              BPF_MAXINSNS);
    goto out;
  }
  prog = malloc(sizeof *prog + (size_t)size);
  if (!prog) {
    set_error(e, PV_ERR_UNAVAILABLE, ENOMEM, "seccomp: out of memory");
    goto out;
  }
  prog->len = (unsigned short)n;
  prog->filter = (struct sock_filter *)(prog + 1);
  if (pread(fd, prog->filter, (size_t)size, 0) != size) {
    set_error(e, PV_ERR_UNAVAILABLE, errno ? errno : EIO, "seccomp: reading the filter back failed");
    free(prog);
    prog = NULL;
  }
out:
  close(fd);
  return prog;
}

/* Compiles a SET_SECCOMP request into a BPF program; NULL with *e set. */
static struct sock_fprog *compile(const struct tlv_msg *m, uint32_t default_act, struct agent_error *e) {
  scmp_filter_ctx ctx = seccomp_init(default_act);
  if (!ctx) {
    set_error(e, PV_ERR_UNAVAILABLE, ENOMEM, "seccomp: libseccomp could not start a filter");
    return NULL;
  }
  struct sock_fprog *prog = NULL;
  /* A process of an architecture the filter does not cover gets ENOSYS, not a kill. */
  (void)seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
  /* A binary tree of system call numbers: fewer instructions run per call with long lists. */
  (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  size_t pos = 0;
  struct tlv_field f;
  int narches = 0, nrules = 0, skipped = 0;
  while (tlv_next(m, &pos, &f)) {
    if (f.tag != PV_TAG_SECCOMP_ARCH) continue;
    char name[MAX_NAME + 1];
    if (++narches > MAX_ARCHES || tlv_field_str(&f, name, MAX_NAME) < 0) {
      set_error(e, PV_ERR_INVALID, EINVAL, "seccomp: bad architecture list");
      goto out;
    }
    uint32_t arch = seccomp_arch_resolve_name(name);
    if (arch == 0) {
      set_error(e, PV_ERR_INVALID, EINVAL, "seccomp: unknown architecture \"%s\"", name);
      goto out;
    }
    int rc = seccomp_arch_add(ctx, arch);
    if (rc < 0 && rc != -EEXIST) {
      set_error(e, PV_ERR_INVALID, -rc, "seccomp: architecture %s: %s", name, strerror(-rc));
      goto out;
    }
  }
  pos = 0;
  while (tlv_next(m, &pos, &f)) {
    if (f.tag != PV_TAG_SECCOMP_RULE) continue;
    if (++nrules > PV_MAX_SECCOMP_RULES) {
      set_error(e, PV_ERR_TOO_LARGE, E2BIG, "seccomp: more than %d rules", PV_MAX_SECCOMP_RULES);
      goto out;
    }
    if (add_rule(ctx, &f, default_act, &skipped, e) < 0) goto out;
  }
  prog = export_program(ctx, e);
  if (prog && skipped) logf_("seccomp: %d system call names unknown to this guest skipped", skipped);
out:
  seccomp_release(ctx);
  return prog;
}

/* ---- compiled filters, kept for the next container that asks for the same ----------------
 * Compiling is the costly part under TCG (libseccomp's rule database and BPF generation), and
 * most containers ask for the same filter (the default profile with the default capabilities;
 * a pool VM's rehearsal asks for it first). The key is the request without its CONTAINER_ID. */
#define CACHE_SLOTS 4
static struct {
  uint8_t *key;
  size_t len;
  struct sock_fprog *prog;
} g_cache[CACHE_SLOTS];
static unsigned g_cache_next;

/* The request's fields but CONTAINER_ID, concatenated (malloc'd; NULL when out of memory). */
static uint8_t *cache_key(const struct tlv_msg *m, size_t *len) {
  uint8_t *key = malloc(m->len ? m->len : 1);
  if (!key) return NULL;
  size_t pos = 0, n = 0;
  struct tlv_field f;
  while (tlv_next(m, &pos, &f)) {
    if (f.tag == PV_TAG_CONTAINER_ID) continue;
    size_t whole = PV_TLV_HEADER_SIZE + f.len;
    memcpy(key + n, f.val - PV_TLV_HEADER_SIZE, whole);
    n += whole;
  }
  *len = n;
  return key;
}

static struct sock_fprog *copy_program(const struct sock_fprog *p) {
  size_t size = (size_t)p->len * sizeof(struct sock_filter);
  struct sock_fprog *c = malloc(sizeof *c + size);
  if (!c) return NULL;
  c->len = p->len;
  c->filter = (struct sock_filter *)(c + 1);
  memcpy(c->filter, p->filter, size);
  return c;
}

/* A copy of the program compiled for the same request before, or NULL. */
static struct sock_fprog *cache_find(const uint8_t *key, size_t len) {
  for (int i = 0; i < CACHE_SLOTS; i++)
    if (g_cache[i].key && g_cache[i].len == len && memcmp(g_cache[i].key, key, len) == 0)
      return copy_program(g_cache[i].prog);
  return NULL;
}

/* Keeps a copy of prog under key (takes key), evicting the oldest entry. */
static void cache_put(uint8_t *key, size_t len, const struct sock_fprog *prog) {
  struct sock_fprog *c = copy_program(prog);
  if (!c) {
    free(key);
    return;
  }
  unsigned i = g_cache_next++ % CACHE_SLOTS;
  free(g_cache[i].key);
  free(g_cache[i].prog);
  g_cache[i].key = key;
  g_cache[i].len = len;
  g_cache[i].prog = c;
}

/* What a container whose filter could not be built gets: the host may have sent its init right
 * behind SET_SECCOMP (pipelined), and that process must not run unfiltered. */
static struct sock_filter kill_all_insns[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)};
static struct sock_fprog kill_all = {1, kill_all_insns};

static void set_program(struct container *c, struct sock_fprog *prog) {
  if (c->seccomp != &kill_all) free(c->seccomp);
  c->seccomp = prog;
}

int seccomp_set_filter(struct container *c, const struct tlv_msg *m, struct agent_error *e) {
  uint32_t def = 0, err = EPERM;
  struct sock_fprog *prog = NULL;
  int ok = 1;
  if (tlv_get_u32(m, PV_TAG_SECCOMP_DEFAULT, &def) < 0) {
    set_error(e, PV_ERR_INVALID, EINVAL, "SET_SECCOMP without a default action");
    ok = 0;
  } else if (def != PV_SECCOMP_ACT_NONE) {
    (void)tlv_get_u32(m, PV_TAG_SECCOMP_ERRNO, &err);
    uint32_t action = action_of(def, err, &ok);
    size_t key_len = 0;
    uint8_t *key = ok ? cache_key(m, &key_len) : NULL;
    if (!ok)
      set_error(e, PV_ERR_INVALID, EINVAL, "seccomp: unknown default action %u", (unsigned)def);
    else if (key && (prog = cache_find(key, key_len)))
      free(key);
    else if (!(prog = compile(m, action, e))) {
      ok = 0;
      free(key);
    } else if (key)
      cache_put(key, key_len, prog);
  }
  if (!ok) {
    set_program(c, &kill_all);
    return -1;
  }
  set_program(c, prog);
  return 0;
}

void container_seccomp_release(struct container *c) { set_program(c, NULL); }

int seccomp_enter(const struct container *c, int before_exec, int *loaded) {
  if (!c->seccomp || *loaded) return 0;
  /* Before the credentials change, leave it for later when no_new_privs already holds. */
  if (!before_exec && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1) return 0;
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, c->seccomp) < 0) return -1;
  *loaded = 1;
  return 0;
}
