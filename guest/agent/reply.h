/*
 * reply.h - answering a control request (reply.c): ACK and ERROR frames on the control
 * channel, and the request helpers that read a required field or container and answer the
 * ERROR themselves when it is missing. Every op module uses them; reply.c calls none of the
 * op modules back, so the files of the agent call one another one way (docs/agent.md).
 */
#ifndef PV_REPLY_H
#define PV_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct tlv_msg;
struct container;

/* An ACK without fields for request `id`. */
void reply_ack_empty(uint32_t id);
/* An ERROR for request `id`: CODE, ERRNO and MESSAGE from *e. */
void reply_error(uint32_t id, const struct agent_error *e);
/* Request helpers: each sends an ERROR itself when it fails. */
void fail(uint32_t id, uint32_t code, int err, const char *msg);
/* A required string field: 0 and `out` filled, or an ERROR is sent and -1 returned. */
int need_str(const struct tlv_msg *m, uint32_t id, uint16_t tag, const char *what, char *out, size_t max);
/* The live (not destroying) container named by CONTAINER_ID, or NULL with an ERROR sent. */
struct container *need_container(const struct tlv_msg *m, uint32_t id);

#endif
