/*
 * tar.c - the tar writer and reader of ARCHIVE's processes (archive.c): ustar headers with a
 * PAX extended header before an entry whose name or link is over 100 bytes, whose size is
 * over 8 GiB - 1 or whose ids do not fit ustar's fields. The reader takes what Go's
 * archive/tar and GNU tar write: ustar, PAX (path, linkpath, size, uid, gid, mtime) and GNU
 * long names ('L', 'K'); other extensions are skipped with their data.
 *
 * Everything runs in a process of its own (no state shared with the agent): the writer
 * writes to fd 1 and the reader reads fd 0, both blocking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"

/* Names are length-checked before they are formatted; a cut is never silent data. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

static uint8_t g_out[64 * 1024];
static size_t g_out_len;

int tar_flush(void) {
  size_t off = 0;
  while (off < g_out_len) {
    ssize_t n = write(1, g_out + off, g_out_len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    off += (size_t)n;
  }
  g_out_len = 0;
  return 0;
}

int tar_write(const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    if (g_out_len == sizeof g_out && tar_flush() < 0) return -1;
    size_t k = sizeof g_out - g_out_len;
    if (k > n) k = n;
    memcpy(g_out + g_out_len, b, k);
    g_out_len += k;
    b += k;
    n -= k;
  }
  return 0;
}

int tar_pad(uint64_t size) {
  static const uint8_t zero[512];
  size_t r = (size_t)(size % 512);
  return r ? tar_write(zero, 512 - r) : 0;
}

/* Octal into a field of `len` bytes (len-1 digits and a NUL); -1 when it does not fit. */
static int octal(char *dst, size_t len, uint64_t v) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "%0*llo", (int)(len - 1), (unsigned long long)v);
  if (n < 0 || (size_t)n > len - 1) return -1;
  memcpy(dst, tmp, (size_t)n + 1 > len ? len : (size_t)n + 1);
  return 0;
}

static void checksum(uint8_t *h) {
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++) sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum & 0777777);
  h[155] = ' ';
}

/* One "LEN key=value\n" record (LEN counts itself). */
static int pax_record(char *dst, size_t room, const char *key, const char *val) {
  size_t body = strlen(key) + strlen(val) + 3; /* ' ', '=', '\n' */
  size_t digits = 1, total;
  for (;;) {
    total = body + digits;
    char t[24];
    if ((size_t)snprintf(t, sizeof t, "%zu", total) == digits) break;
    digits++;
  }
  if (total >= room) return -1;
  snprintf(dst, room, "%zu %s=%s\n", total, key, val);
  return (int)total;
}

static int raw_header(const char *name, const struct tar_entry *e, char type, uint64_t size, const char *link) {
  uint8_t h[512];
  memset(h, 0, sizeof h);
  snprintf((char *)h, 101, "%s", name);
  octal((char *)h + 100, 8, e->mode & 07777);
  if (octal((char *)h + 108, 8, e->uid) < 0) octal((char *)h + 108, 8, 0);
  if (octal((char *)h + 116, 8, e->gid) < 0) octal((char *)h + 116, 8, 0);
  if (octal((char *)h + 124, 12, size) < 0) octal((char *)h + 124, 12, 0);
  if (octal((char *)h + 136, 12, e->mtime < 0 ? 0 : (uint64_t)e->mtime) < 0) octal((char *)h + 136, 12, 0);
  h[156] = (uint8_t)type;
  if (link) snprintf((char *)h + 157, 101, "%s", link);
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  if (type == '3' || type == '4') {
    octal((char *)h + 329, 8, e->devmajor);
    octal((char *)h + 337, 8, e->devminor);
  }
  checksum(h);
  return tar_write(h, 512);
}

int tar_header(const struct tar_entry *e) {
  char pax[3 * PV_TAR_NAME_MAX];
  size_t plen = 0;
  int n;
  const char *link = e->link[0] ? e->link : NULL;
  if (strlen(e->name) > 100) {
    if ((n = pax_record(pax + plen, sizeof pax - plen, "path", e->name)) < 0) return -1;
    plen += (size_t)n;
  }
  if (link && strlen(link) > 100) {
    if ((n = pax_record(pax + plen, sizeof pax - plen, "linkpath", link)) < 0) return -1;
    plen += (size_t)n;
  }
  char num[32];
  if (e->size > 077777777777ULL) {
    snprintf(num, sizeof num, "%llu", (unsigned long long)e->size);
    if ((n = pax_record(pax + plen, sizeof pax - plen, "size", num)) < 0) return -1;
    plen += (size_t)n;
  }
  if (e->uid > 07777777) {
    snprintf(num, sizeof num, "%u", (unsigned)e->uid);
    if ((n = pax_record(pax + plen, sizeof pax - plen, "uid", num)) < 0) return -1;
    plen += (size_t)n;
  }
  if (e->gid > 07777777) {
    snprintf(num, sizeof num, "%u", (unsigned)e->gid);
    if ((n = pax_record(pax + plen, sizeof pax - plen, "gid", num)) < 0) return -1;
    plen += (size_t)n;
  }
  if (plen > 0) {
    struct tar_entry x = {.mode = 0644};
    if (raw_header("PaxHeader", &x, 'x', plen, NULL) < 0 || tar_write(pax, plen) < 0 || tar_pad(plen) < 0) return -1;
  }
  return raw_header(e->name, e, e->type, e->type == '0' ? e->size : 0, link);
}

int tar_finish(void) {
  static const uint8_t zero[1024];
  if (tar_write(zero, sizeof zero) < 0) return -1;
  return tar_flush();
}

/* ---- reader ----------------------------------------------------------------------------- */

int tar_read_full(void *p, size_t n) {
  uint8_t *b = p;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(0, b + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) return got == 0 ? 0 : -1;
    got += (size_t)r;
  }
  return 1;
}

int tar_skip(uint64_t n) {
  uint8_t buf[8192];
  while (n > 0) {
    size_t k = n > sizeof buf ? sizeof buf : (size_t)n;
    if (tar_read_full(buf, k) != 1) return -1;
    n -= k;
  }
  return 0;
}

static int parse_octal(const uint8_t *f, size_t len, uint64_t *out) {
  uint64_t v = 0;
  size_t i = 0;
  if (len > 0 && (f[0] & 0x80)) { /* GNU base-256 */
    v = f[0] & 0x3f;
    for (i = 1; i < len; i++) {
      if (v >> 56) return -1;
      v = (v << 8) | f[i];
    }
    *out = v;
    return 0;
  }
  while (i < len && (f[i] == ' ' || f[i] == 0)) i++;
  for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
    if (v >> 60) return -1;
    v = v * 8 + (uint64_t)(f[i] - '0');
  }
  for (; i < len; i++)
    if (f[i] != ' ' && f[i] != 0) return -1;
  *out = v;
  return 0;
}

static int parse_decimal(const char *s, uint64_t *out) {
  if (!*s) return -1;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return 0;
}

/* Read a whole extension body of `size` bytes (bounded) into a NUL-terminated buffer. */
static char *read_ext(uint64_t size) {
  if (size > PV_TAR_EXT_MAX) return NULL;
  char *b = malloc((size_t)size + 1);
  if (!b) return NULL;
  if ((size && tar_read_full(b, (size_t)size) != 1) || tar_skip((512 - size % 512) % 512) < 0) {
    free(b);
    return NULL;
  }
  b[size] = 0;
  return b;
}

/* Apply PAX records to the pending overrides. */
static int apply_pax(char *b, size_t len, struct tar_entry *pend, unsigned *have) {
  size_t off = 0;
  while (off < len) {
    char *rec = b + off;
    char *sp = memchr(rec, ' ', len - off);
    if (!sp) return -1;
    *sp = 0;
    uint64_t rlen;
    if (parse_decimal(rec, &rlen) < 0 || rlen < 5 || rlen > len - off || b[off + rlen - 1] != '\n') return -1;
    b[off + rlen - 1] = 0;
    char *kv = sp + 1, *eq = strchr(kv, '=');
    if (!eq) return -1;
    *eq = 0;
    const char *val = eq + 1;
    uint64_t v;
    if (strcmp(kv, "path") == 0) {
      if (strlen(val) >= sizeof pend->name) return -1;
      snprintf(pend->name, sizeof pend->name, "%s", val);
      *have |= TAR_HAVE_NAME;
    } else if (strcmp(kv, "linkpath") == 0) {
      if (strlen(val) >= sizeof pend->link) return -1;
      snprintf(pend->link, sizeof pend->link, "%s", val);
      *have |= TAR_HAVE_LINK;
    } else if (strcmp(kv, "size") == 0) {
      if (parse_decimal(val, &v) < 0) return -1;
      pend->size = v;
      *have |= TAR_HAVE_SIZE;
    } else if (strcmp(kv, "uid") == 0 || strcmp(kv, "gid") == 0) {
      if (parse_decimal(val, &v) < 0 || v > UINT32_MAX) return -1;
      if (kv[0] == 'u') pend->uid = (uint32_t)v, *have |= TAR_HAVE_UID;
      else pend->gid = (uint32_t)v, *have |= TAR_HAVE_GID;
    } else if (strcmp(kv, "mtime") == 0) {
      char *dot = strchr(val, '.');
      if (dot) *dot = 0;
      if (val[0] != '-' && parse_decimal(val, &v) == 0) pend->mtime = (int64_t)v, *have |= TAR_HAVE_MTIME;
    }
    off += rlen;
  }
  return 0;
}

int tar_next(struct tar_entry *e) {
  struct tar_entry pend;
  unsigned have = 0;
  memset(&pend, 0, sizeof pend);
  for (;;) {
    uint8_t h[512];
    int r = tar_read_full(h, sizeof h);
    if (r == 0) return 0; /* EOF without the end blocks: taken as the end */
    if (r < 0) return -1;
    int zero = 1;
    for (int i = 0; i < 512 && zero; i++) zero = h[i] == 0;
    if (zero) return 0;
    uint64_t sum, size, v;
    if (parse_octal(h + 148, 8, &sum) < 0) return -1;
    unsigned calc = 0;
    for (int i = 0; i < 512; i++) calc += (i >= 148 && i < 156) ? ' ' : h[i];
    if (sum != calc) return -1;
    if (parse_octal(h + 124, 12, &size) < 0) return -1;
    char type = (char)h[156];
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
      char *b = read_ext(size);
      if (!b) return -1;
      int bad = 0;
      if (type == 'x') bad = apply_pax(b, (size_t)size, &pend, &have) < 0;
      else if (type == 'L') {
        bad = strlen(b) >= sizeof pend.name;
        if (!bad) snprintf(pend.name, sizeof pend.name, "%s", b), have |= TAR_HAVE_NAME;
      } else if (type == 'K') {
        bad = strlen(b) >= sizeof pend.link;
        if (!bad) snprintf(pend.link, sizeof pend.link, "%s", b), have |= TAR_HAVE_LINK;
      }
      free(b);
      if (bad) return -1;
      continue;
    }
    memset(e, 0, sizeof *e);
    e->type = type == 0 ? '0' : type;
    if (have & TAR_HAVE_NAME) snprintf(e->name, sizeof e->name, "%s", pend.name);
    else {
      char prefix[156], name[101];
      memcpy(prefix, h + 345, 155), prefix[155] = 0;
      memcpy(name, h, 100), name[100] = 0;
      if (memcmp(h + 257, "ustar", 5) == 0 && prefix[0]) snprintf(e->name, sizeof e->name, "%s/%s", prefix, name);
      else snprintf(e->name, sizeof e->name, "%s", name);
    }
    if (have & TAR_HAVE_LINK) snprintf(e->link, sizeof e->link, "%s", pend.link);
    else memcpy(e->link, h + 157, 100), e->link[100] = 0;
    if (parse_octal(h + 100, 8, &v) < 0) return -1;
    e->mode = (uint32_t)(v & 07777);
    if (parse_octal(h + 108, 8, &v) < 0) return -1;
    e->uid = (have & TAR_HAVE_UID) ? pend.uid : (uint32_t)v;
    if (parse_octal(h + 116, 8, &v) < 0) return -1;
    e->gid = (have & TAR_HAVE_GID) ? pend.gid : (uint32_t)v;
    if (parse_octal(h + 136, 12, &v) < 0) return -1;
    e->mtime = (have & TAR_HAVE_MTIME) ? pend.mtime : (int64_t)v;
    if (parse_octal(h + 329, 8, &v) < 0) return -1;
    e->devmajor = (uint32_t)v;
    if (parse_octal(h + 337, 8, &v) < 0) return -1;
    e->devminor = (uint32_t)v;
    e->size = (have & TAR_HAVE_SIZE) ? pend.size : size;
    /* Only regular files (and unknown types, skipped) carry data. */
    if (e->type == '1' || e->type == '2' || e->type == '3' || e->type == '4' || e->type == '5' || e->type == '6')
      e->size = 0;
    if (e->type == '7') e->type = '0';
    return 1;
  }
}
