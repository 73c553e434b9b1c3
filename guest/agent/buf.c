/* buf.c - a growable byte queue with a hard capacity (channel output, frames). */
#include <stdlib.h>
#include <string.h>

#include "agent.h"

void buf_init(struct buf *b, size_t initial, size_t max) {
  b->data = malloc(initial);
  if (!b->data) {
    logf_("out of memory");
    abort();
  }
  b->head = b->tail = 0;
  b->cap = initial;
  b->max = max;
}

void buf_free(struct buf *b) {
  free(b->data);
  b->data = NULL;
  b->head = b->tail = b->cap = 0;
}

void buf_clear(struct buf *b) { b->head = b->tail = 0; }

size_t buf_room(const struct buf *b) { return b->max - buf_len(b); }

uint8_t *buf_reserve(struct buf *b, size_t n) {
  size_t len = buf_len(b);
  if (n > b->max - len) return NULL;
  if (b->tail + n <= b->cap) return b->data + b->tail;
  /* Compact first; grow only if that is not enough. */
  if (b->head > 0) {
    memmove(b->data, b->data + b->head, len);
    b->head = 0;
    b->tail = len;
    if (b->tail + n <= b->cap) return b->data + b->tail;
  }
  size_t ncap = b->cap;
  while (ncap < len + n) ncap *= 2;
  if (ncap > b->max) ncap = b->max;
  uint8_t *nd = realloc(b->data, ncap);
  if (!nd) return NULL;
  b->data = nd;
  b->cap = ncap;
  return b->data + b->tail;
}

void buf_consume(struct buf *b, size_t n) {
  b->head += n;
  if (b->head >= b->tail) b->head = b->tail = 0;
}
