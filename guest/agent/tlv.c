/*
 * tlv.c - the control payload's fields: | u16 tag | u16 0 | u32 len | value |, little-endian.
 * Parsing validates every field header against the payload before anything is read.
 */
#include <string.h>

#include "agent.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int tlv_parse(struct tlv_msg *m, const uint8_t *data, size_t len) {
  size_t pos = 0;
  while (pos < len) {
    if (len - pos < PV_TLV_HEADER_SIZE) return -1;
    uint32_t flen = rd32(data + pos + 4);
    if (flen > len - pos - PV_TLV_HEADER_SIZE) return -1;
    pos += PV_TLV_HEADER_SIZE + flen;
  }
  m->data = data;
  m->len = len;
  return 0;
}

int tlv_next(const struct tlv_msg *m, size_t *pos, struct tlv_field *f) {
  if (*pos >= m->len) return 0;
  const uint8_t *p = m->data + *pos;
  f->tag = rd16(p);
  f->len = rd32(p + 4);
  f->val = p + PV_TLV_HEADER_SIZE;
  *pos += PV_TLV_HEADER_SIZE + f->len;
  return 1;
}

int tlv_find(const struct tlv_msg *m, uint16_t tag, struct tlv_field *f) {
  size_t pos = 0;
  while (tlv_next(m, &pos, f))
    if (f->tag == tag) return 1;
  return 0;
}

int tlv_count(const struct tlv_msg *m, uint16_t tag) {
  size_t pos = 0;
  struct tlv_field f;
  int n = 0;
  while (tlv_next(m, &pos, &f))
    if (f.tag == tag) n++;
  return n;
}

int tlv_get_u32(const struct tlv_msg *m, uint16_t tag, uint32_t *out) {
  struct tlv_field f;
  if (!tlv_find(m, tag, &f) || f.len != 4) return -1;
  *out = rd32(f.val);
  return 0;
}

int tlv_get_u64(const struct tlv_msg *m, uint16_t tag, uint64_t *out) {
  struct tlv_field f;
  if (!tlv_find(m, tag, &f) || f.len != 8) return -1;
  *out = (uint64_t)rd32(f.val) | ((uint64_t)rd32(f.val + 4) << 32);
  return 0;
}

int tlv_field_str(const struct tlv_field *f, char *out, size_t max) {
  if (f->len > max || memchr(f->val, 0, f->len)) return -1;
  memcpy(out, f->val, f->len);
  out[f->len] = 0;
  return 0;
}

int tlv_get_str(const struct tlv_msg *m, uint16_t tag, char *out, size_t max) {
  struct tlv_field f;
  if (!tlv_find(m, tag, &f)) return -1;
  return tlv_field_str(&f, out, max);
}

int tlv_put(struct buf *b, uint16_t tag, const void *val, uint32_t len) {
  uint8_t *p = buf_reserve(b, PV_TLV_HEADER_SIZE + (size_t)len);
  if (!p) return -1;
  wr16(p, tag);
  wr16(p + 2, 0);
  wr32(p + 4, len);
  if (len) memcpy(p + PV_TLV_HEADER_SIZE, val, len);
  b->tail += PV_TLV_HEADER_SIZE + (size_t)len;
  return 0;
}

int tlv_put_u32(struct buf *b, uint16_t tag, uint32_t v) {
  uint8_t le[4];
  wr32(le, v);
  return tlv_put(b, tag, le, 4);
}

int tlv_put_u64(struct buf *b, uint16_t tag, uint64_t v) {
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(v >> (8 * i));
  return tlv_put(b, tag, le, 8);
}

int tlv_put_str(struct buf *b, uint16_t tag, const char *s) { return tlv_put(b, tag, s, (uint32_t)strlen(s)); }

/* Offsets are relative to b->head: buf_reserve may compact, which moves the data but never
 * consumes it, so a relative offset stays valid while a frame is being built. */
size_t tlv_begin_nested(struct buf *b, uint16_t tag) {
  size_t off = b->tail - b->head;
  if (tlv_put(b, tag, NULL, 0) < 0) return (size_t)-1;
  return off;
}

void tlv_end_nested(struct buf *b, size_t off) {
  if (off == (size_t)-1) return;
  size_t abs = b->head + off;
  wr32(b->data + abs + 4, (uint32_t)(b->tail - abs - PV_TLV_HEADER_SIZE));
}
