/*
 * reply.c - answering control requests (reply.h): ACK and ERROR frames, and the helpers that
 * read what a request must carry and answer its ERROR when it does not.
 */
#include <errno.h>

#include "agent.h"
#include "reply.h"

static struct channel *ctl(void) { return &g_ctl; }

void reply_ack_empty(uint32_t id) { chan_send(ctl(), PV_FRAME_ACK, 0, id, NULL, 0); }

void reply_error(uint32_t id, const struct agent_error *e) {
  struct channel *ch = ctl();
  if (chan_begin(ch, PV_FRAME_ERROR, 0, id) < 0) return;
  if (tlv_put_u32(&ch->out, PV_TAG_CODE, e->code) || tlv_put_u32(&ch->out, PV_TAG_ERRNO, (uint32_t)e->err) ||
      tlv_put_str(&ch->out, PV_TAG_MESSAGE, e->msg)) {
    chan_abort(ch);
    return;
  }
  chan_end(ch);
}

void fail(uint32_t id, uint32_t code, int err, const char *msg) {
  struct agent_error e;
  set_error(&e, code, err, "%s", msg);
  reply_error(id, &e);
}

int need_str(const struct tlv_msg *m, uint32_t id, uint16_t tag, const char *what, char *out, size_t max) {
  struct tlv_field f;
  if (!tlv_find(m, tag, &f)) {
    struct agent_error e;
    set_error(&e, PV_ERR_INVALID, EINVAL, "missing %s", what);
    reply_error(id, &e);
    return -1;
  }
  if (tlv_field_str(&f, out, max) < 0) {
    struct agent_error e;
    set_error(&e, PV_ERR_INVALID, EINVAL, "%s is longer than %zu bytes or contains NUL", what, max);
    reply_error(id, &e);
    return -1;
  }
  return 0;
}

struct container *need_container(const struct tlv_msg *m, uint32_t id) {
  char cid[PV_MAX_ID + 1];
  if (need_str(m, id, PV_TAG_CONTAINER_ID, "container id", cid, PV_MAX_ID) < 0) return NULL;
  struct container *c = container_find(cid);
  if (!c || c->destroying) fail(id, PV_ERR_NOT_FOUND, ENOENT, "no such container");
  return c && !c->destroying ? c : NULL;
}
