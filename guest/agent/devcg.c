/*
 * devcg.c - a container's device cgroup, as runc keeps one on cgroup v2: an eBPF program of
 * type BPF_PROG_TYPE_CGROUP_DEVICE that the kernel runs at every mknod and open of a device
 * node by a process of the container's cgroup, built here as raw instructions from the
 * container's allow-list (CREATE_CONTAINER's DEVICE_RULE records); and the device nodes a
 * container is given (DEVICE_NODE, docker --device), made in its /dev.
 *
 * The program: the context (struct bpf_cgroup_dev_ctx) read once, then one block per rule in
 * the order given; the first rule that holds allows, none denies (EPERM to the process).
 *
 *     w2 = ctx->access_type     w3 = w2 & 0xffff (1 block, 2 char)     w2 >>= 16 (access bits)
 *     w4 = ctx->major           w5 = ctx->minor
 *   a rule:
 *     if w3 != TYPE goto next                        (not for 'a')
 *     w0 = w2; w0 &= ~ACCESS; if w0 != 0 goto next   (not for rwm: every bit asked is allowed)
 *     if w4 != MAJOR goto next                       (not for any major)
 *     if w5 != MINOR goto next                       (not for any minor)
 *     r0 = 1; exit
 *   after the last rule:
 *     r0 = 0; exit
 *
 * A rule without a test allows everything and ends the program: what would follow it could
 * never run, and the verifier refuses a program with unreachable instructions.
 *
 * It is attached with BPF_F_ALLOW_MULTI: a program a privileged process of the container adds
 * to a cgroup below can only narrow it (every program on the way must allow). Without
 * bpf(2) or cgroup BPF in the kernel the first attach says so in the log, once, and containers
 * run without a program; with them, any failure fails the container's create.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <linux/bpf.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "agent.h"

/* At most 8 instructions a rule, plus the 7 around them. */
#define DEVCG_MAX_INSNS (PV_MAX_DEVICE_RULES * 8 + 8)

static int g_unsupported; /* the kernel has no cgroup device programs (logged once) */
static int g_no_cgroup_logged;

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  struct bpf_insn i;
  memset(&i, 0, sizeof i);
  i.code = code;
  i.dst_reg = dst;
  i.src_reg = src;
  i.off = off;
  i.imm = imm;
  return i;
}

static int devcg_type(uint32_t t) {
  return t == 'b' ? BPF_DEVCG_DEV_BLOCK : t == 'c' ? BPF_DEVCG_DEV_CHAR : 0;
}

/* The program of these rules into out (DEVCG_MAX_INSNS); its length. */
static int build(const struct device_policy *p, struct bpf_insn *out) {
  int n = 0;
  out[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, 2, 1, offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
  out[n++] = insn(BPF_ALU | BPF_MOV | BPF_X, 3, 2, 0, 0);
  out[n++] = insn(BPF_ALU | BPF_AND | BPF_K, 3, 0, 0, 0xffff);
  out[n++] = insn(BPF_ALU | BPF_RSH | BPF_K, 2, 0, 0, 16);
  out[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, 4, 1, offsetof(struct bpf_cgroup_dev_ctx, major), 0);
  out[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, 5, 1, offsetof(struct bpf_cgroup_dev_ctx, minor), 0);
  for (int r = 0; r < p->nrules; r++) {
    const struct device_rule *d = &p->rules[r];
    int jumps[4], nj = 0;
    if (d->type != 'a') {
      jumps[nj++] = n;
      out[n++] = insn(BPF_JMP32 | BPF_JNE | BPF_K, 3, 0, 0, devcg_type(d->type));
    }
    if ((d->access & 7) != 7) {
      out[n++] = insn(BPF_ALU | BPF_MOV | BPF_X, 0, 2, 0, 0);
      out[n++] = insn(BPF_ALU | BPF_AND | BPF_K, 0, 0, 0, (int32_t)(~(uint32_t)d->access & 0xffff));
      jumps[nj++] = n;
      out[n++] = insn(BPF_JMP32 | BPF_JNE | BPF_K, 0, 0, 0, 0);
    }
    if (d->has_major) {
      jumps[nj++] = n;
      out[n++] = insn(BPF_JMP32 | BPF_JNE | BPF_K, 4, 0, 0, (int32_t)d->major);
    }
    if (d->has_minor) {
      jumps[nj++] = n;
      out[n++] = insn(BPF_JMP32 | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)d->minor);
    }
    out[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
    out[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    if (nj == 0) return n; /* allows everything: nothing after it could run */
    for (int j = 0; j < nj; j++) out[jumps[j]].off = (int16_t)(n - jumps[j] - 1);
  }
  out[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
  out[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  return n;
}

static int prog_load(const struct bpf_insn *insns, int n, char *log, size_t log_len) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  a.insns = (uint64_t)(uintptr_t)insns;
  a.insn_cnt = (uint32_t)n;
  a.license = (uint64_t)(uintptr_t) "GPL";
  if (log) {
    log[0] = 0;
    a.log_buf = (uint64_t)(uintptr_t)log;
    a.log_size = (uint32_t)log_len;
    a.log_level = 1;
  }
  /* The kernel makes the fd close-on-exec. */
  return (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof a);
}

/* 1 when the kernel loads the smallest device program there is ("allow"), else 0. */
static int kernel_supports(void) {
  struct bpf_insn allow[2] = {insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1), insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)};
  int fd = prog_load(allow, 2, NULL, 0);
  if (fd < 0) return 0;
  close(fd);
  return 1;
}

int devcg_attach(int cgroup_fd, const struct device_policy *p, const char *id, struct agent_error *e) {
  if (!p->filter || g_unsupported) return 0;
  if (cgroup_fd < 0) {
    if (!g_no_cgroup_logged)
      logf_("no cgroup for containers: they run without a device program (every device of the VM)");
    g_no_cgroup_logged = 1;
    return 0;
  }
  static struct bpf_insn prog[DEVCG_MAX_INSNS];
  int n = build(p, prog);
  int fd = prog_load(prog, n, NULL, 0);
  if (fd < 0) {
    int err = errno;
    if (!kernel_supports()) {
      g_unsupported = 1;
      logf_("the kernel has no cgroup device programs (bpf: %s): containers run without a device cgroup, every device "
            "of the VM open to them",
            strerror(err));
      return 0;
    }
    static char log[4096];
    fd = prog_load(prog, n, log, sizeof log);
    err = errno;
    if (fd >= 0) close(fd);
    log[sizeof log - 1] = 0;
    for (char *c = log; *c; c++)
      if (*c == '\n') *c = ' ';
    logf_("container %s: device program of %d instructions refused: %s: %s", id, n, strerror(err), log);
    set_error(e, PV_ERR_UNAVAILABLE, err, "container %s: load its device cgroup program: %s", id, strerror(err));
    return -1;
  }
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.target_fd = (uint32_t)cgroup_fd;
  a.attach_bpf_fd = (uint32_t)fd;
  a.attach_type = BPF_CGROUP_DEVICE;
  a.attach_flags = BPF_F_ALLOW_MULTI;
  int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &a, sizeof a);
  int err = errno;
  close(fd); /* the cgroup holds the program now */
  if (rc < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, err, "container %s: attach its device cgroup program: %s", id, strerror(err));
    return -1;
  }
  return 0;
}

static int bad(struct agent_error *e, const char *what) {
  set_error(e, PV_ERR_INVALID, EINVAL, "malformed device %s", what);
  return -1;
}

/* A DEVICE_RULE record. */
static int parse_rule(const struct tlv_msg *rec, struct device_rule *d, struct agent_error *e) {
  uint32_t type, access;
  memset(d, 0, sizeof *d);
  if (tlv_count(rec, PV_TAG_DEVICE_TYPE) != 1 || tlv_get_u32(rec, PV_TAG_DEVICE_TYPE, &type) < 0 ||
      (type != 'a' && type != 'b' && type != 'c') || tlv_count(rec, PV_TAG_DEVICE_ACCESS) != 1 ||
      tlv_get_u32(rec, PV_TAG_DEVICE_ACCESS, &access) < 0 || access == 0 || access > 7)
    return bad(e, "rule (DEVICE_TYPE a, b or c; DEVICE_ACCESS 1..7)");
  d->type = (uint8_t)type;
  d->access = (uint8_t)access;
  d->has_major = tlv_count(rec, PV_TAG_DEVICE_MAJOR) > 0;
  d->has_minor = tlv_count(rec, PV_TAG_DEVICE_MINOR) > 0;
  if ((d->has_major && tlv_get_u32(rec, PV_TAG_DEVICE_MAJOR, &d->major) < 0) ||
      (d->has_minor && tlv_get_u32(rec, PV_TAG_DEVICE_MINOR, &d->minor) < 0))
    return bad(e, "rule numbers");
  return 0;
}

/* /dev/NAME[/NAME...]: no empty, "." or ".." component. */
static int valid_node_path(const char *path) {
  if (strncmp(path, "/dev/", 5) != 0 || !path[5]) return 0;
  for (const char *s = path + 5; *s;) {
    size_t len = strcspn(s, "/");
    if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) return 0;
    s += len;
    if (*s == '/') s++;
    if (*s == 0 && s[-1] == '/') return 0;
  }
  return 1;
}

/* A DEVICE_NODE record. */
static int parse_node(const struct tlv_msg *rec, struct device_node *d, struct agent_error *e) {
  uint32_t type;
  memset(d, 0, sizeof *d);
  if (tlv_get_str(rec, PV_TAG_PATH, d->path, sizeof d->path - 1) < 0 || !valid_node_path(d->path))
    return bad(e, "node path (under /dev, no . or .. component)");
  if (tlv_get_u32(rec, PV_TAG_DEVICE_TYPE, &type) < 0 || (type != 'b' && type != 'c') ||
      tlv_get_u32(rec, PV_TAG_DEVICE_MAJOR, &d->major) < 0 || tlv_get_u32(rec, PV_TAG_DEVICE_MINOR, &d->minor) < 0 ||
      tlv_get_u32(rec, PV_TAG_MODE, &d->mode) < 0 || d->mode > 0777 || d->major > 0xfff || d->minor > 0xfffff)
    return bad(e, "node (DEVICE_TYPE b or c, DEVICE_MAJOR, DEVICE_MINOR, MODE up to 0777)");
  d->type = (uint8_t)type;
  return 0;
}

int devcg_parse(const struct tlv_msg *m, struct device_policy *p, struct agent_error *e) {
  p->filter = 0;
  p->nrules = p->nnodes = 0;
  uint32_t filter = 0;
  if (tlv_count(m, PV_TAG_DEVICE_FILTER) && (tlv_get_u32(m, PV_TAG_DEVICE_FILTER, &filter) < 0 || filter > 1))
    return bad(e, "filter flag");
  p->filter = (int)filter;
  size_t pos = 0;
  struct tlv_field f;
  while (tlv_next(m, &pos, &f)) {
    if (f.tag != PV_TAG_DEVICE_RULE && f.tag != PV_TAG_DEVICE_NODE) continue;
    struct tlv_msg rec;
    if (tlv_parse(&rec, f.val, f.len) < 0) return bad(e, "record");
    if (f.tag == PV_TAG_DEVICE_RULE) {
      if (p->nrules == PV_MAX_DEVICE_RULES) return bad(e, "rules (too many)");
      if (parse_rule(&rec, &p->rules[p->nrules++], e) < 0) return -1;
    } else {
      if (p->nnodes == PV_MAX_DEVICE_NODES) return bad(e, "nodes (too many)");
      if (parse_node(&rec, &p->nodes[p->nnodes++], e) < 0) return -1;
    }
  }
  return 0;
}

/* Make one node at its path below the container's /dev (dev_fd), directories on the way. */
static int make_node(int dev_fd, const struct device_node *d, struct agent_error *e) {
  char rel[sizeof d->path];
  snprintf(rel, sizeof rel, "%s", d->path + 5);
  int dir = dup(dev_fd);
  char *name = rel;
  for (char *slash; dir >= 0 && (slash = strchr(name, '/'));) {
    *slash = 0;
    int next = -1;
    if (mkdirat(dir, name, 0755) == 0 || errno == EEXIST)
      next = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int err = errno;
    close(dir);
    dir = next;
    errno = err;
    name = slash + 1;
  }
  int rc = -1;
  if (dir >= 0) {
    (void)unlinkat(dir, name, 0); /* a node there is replaced; a directory stays (mknod: EEXIST) */
    mode_t kind = d->type == 'b' ? S_IFBLK : S_IFCHR;
    if (mknodat(dir, name, kind | 0600, makedev(d->major, d->minor)) == 0 && fchmodat(dir, name, d->mode, 0) == 0) rc = 0;
  }
  int err = errno;
  if (dir >= 0) close(dir);
  if (rc < 0) set_error(e, PV_ERR_UNAVAILABLE, err, "make device node %s: %s", d->path, strerror(err));
  return rc;
}

int devcg_make_nodes(int root_fd, const struct device_policy *p, struct agent_error *e) {
  if (p->nnodes == 0) return 0;
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS;
  int dev = (int)syscall(SYS_openat2, root_fd, "dev", &how, sizeof how);
  if (dev < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "open the container's /dev: %s", strerror(errno));
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < p->nnodes && rc == 0; i++) rc = make_node(dev, &p->nodes[i], e);
  close(dev);
  return rc;
}
