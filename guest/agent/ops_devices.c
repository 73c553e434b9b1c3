/*
 * ops_devices.c - the control-channel requests for the VM's devices: CONFIGURE_INTERFACE,
 * ADD_ROUTE, LIST_INTERFACES (netif.c) and MOUNT, UNMOUNT, CLEAN_POD (mounts.c). Each field is decoded
 * and checked here (fixed sizes, no repeats, ranges); the modules check the rest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "reply.h"

/* A fixed-size bytes field: 1 when present and well-formed, 0 when absent, -1 when malformed. */
static int opt_bytes(const struct tlv_msg *m, uint16_t tag, uint8_t *out, size_t n) {
  struct tlv_field f;
  if (!tlv_find(m, tag, &f)) return 0;
  if (f.len != n || tlv_count(m, tag) != 1) return -1;
  memcpy(out, f.val, n);
  return 1;
}

/* An optional u32: 1 present, 0 absent, -1 malformed or repeated. */
static int opt_u32_field(const struct tlv_msg *m, uint16_t tag, uint32_t *out) {
  if (!tlv_count(m, tag)) return 0;
  return tlv_count(m, tag) == 1 && tlv_get_u32(m, tag, out) == 0 ? 1 : -1;
}

/* The SECONDARY records of CONFIGURE_INTERFACE into c; -1 when one is malformed or too many. */
static int secondary_fields(const struct tlv_msg *m, struct netif_config *c) {
  size_t pos = 0;
  struct tlv_field f;
  while (tlv_next(m, &pos, &f)) {
    if (f.tag != PV_TAG_SECONDARY) continue;
    struct tlv_msg rec;
    uint32_t n = c->n_secondary;
    if (n == PV_MAX_SECONDARY || tlv_parse(&rec, f.val, f.len) < 0) return -1;
    if (opt_bytes(&rec, PV_TAG_ADDRESS, c->secondary[n], 4) != 1 || opt_u32_field(&rec, PV_TAG_PREFIX, &c->secondary_prefix[n]) != 1 ||
        c->secondary_prefix[n] > 32)
      return -1;
    c->n_secondary = n + 1;
  }
  return 0;
}

void op_configure_interface(const struct tlv_msg *m, uint32_t id) {
  struct netif_config c;
  memset(&c, 0, sizeof c);
  if (need_str(m, id, PV_TAG_IFNAME, "interface name", c.name, PV_MAX_ID) < 0) return;
  if (secondary_fields(m, &c) < 0)
    return fail(id, PV_ERR_INVALID, EINVAL, "malformed or too many (over PV_MAX_SECONDARY) secondary addresses");
  int mac = opt_bytes(m, PV_TAG_MAC, c.mac, 6), addr = opt_bytes(m, PV_TAG_ADDRESS, c.address, 4);
  int set_mac = opt_bytes(m, PV_TAG_SET_MAC, c.set_mac, 6);
  int prefix = opt_u32_field(m, PV_TAG_PREFIX, &c.prefix), mtu = opt_u32_field(m, PV_TAG_MTU, &c.mtu);
  int up = opt_u32_field(m, PV_TAG_LINK_UP, &c.up);
  int addr6 = opt_bytes(m, PV_TAG_ADDRESS6, c.address6, 16), prefix6 = opt_u32_field(m, PV_TAG_PREFIX6, &c.prefix6);
  if (mac < 0 || set_mac < 0 || addr < 0 || prefix < 0 || mtu < 0 || up < 0 || addr != prefix || (up && c.up > 1) ||
      addr6 < 0 || prefix6 < 0 || addr6 != prefix6)
    return fail(id, PV_ERR_INVALID, EINVAL, "malformed interface fields (ADDRESS needs PREFIX, ADDRESS6 PREFIX6)");
  c.has_mac = mac, c.has_set_mac = set_mac, c.has_address = addr, c.has_mtu = mtu, c.has_up = up, c.has_address6 = addr6;
  if (c.n_secondary && (!addr || memcmp(c.address, "\0\0\0\0", 4) == 0))
    return fail(id, PV_ERR_INVALID, EINVAL, "secondary addresses need a primary ADDRESS");
  struct agent_error e;
  if (netif_configure(&c, &e) < 0) return reply_error(id, &e);
  reply_ack_empty(id);
}

void op_add_route(const struct tlv_msg *m, uint32_t id) {
  struct route_config c;
  memset(&c, 0, sizeof c);
  int dst = opt_bytes(m, PV_TAG_DESTINATION, c.destination, 4), prefix = opt_u32_field(m, PV_TAG_PREFIX, &c.prefix);
  int gw = opt_bytes(m, PV_TAG_GATEWAY, c.gateway, 4);
  int dst6 = opt_bytes(m, PV_TAG_DESTINATION6, c.destination6, 16), gw6 = opt_bytes(m, PV_TAG_GATEWAY6, c.gateway6, 16);
  if (dst < 0 || dst6 < 0 || dst + dst6 != 1 || prefix != 1 || gw < 0 || gw6 < 0 || (dst6 ? gw : gw6))
    return fail(id, PV_ERR_INVALID, EINVAL, "a route needs DESTINATION (or DESTINATION6) and PREFIX, and a gateway of its family");
  c.ipv6 = dst6;
  c.has_gateway = dst6 ? gw6 : gw;
  c.has_ifname = tlv_count(m, PV_TAG_IFNAME) > 0;
  if (c.has_ifname && need_str(m, id, PV_TAG_IFNAME, "interface name", c.ifname, PV_MAX_ID) < 0) return;
  struct agent_error e;
  if (netif_add_route(&c, &e) < 0) return reply_error(id, &e);
  reply_ack_empty(id);
}

void op_list_interfaces(uint32_t id) {
  struct channel *ch = (&g_ctl);
  if (chan_begin(ch, PV_FRAME_ACK, 0, id) < 0) return;
  struct agent_error e;
  if (netif_list(&ch->out, &e) < 0) {
    chan_abort(ch);
    return reply_error(id, &e);
  }
  chan_end(ch);
}

/* An optional string field into out (max bytes); "" when absent. 0, or -1 with an ERROR sent. */
static int opt_str(const struct tlv_msg *m, uint32_t id, uint16_t tag, const char *what, char *out, size_t max) {
  out[0] = 0;
  return tlv_count(m, tag) ? need_str(m, id, tag, what, out, max) : 0;
}

void op_mount(const struct tlv_msg *m, uint32_t id) {
  struct mount_spec *s = calloc(1, sizeof *s);
  if (!s) return fail(id, PV_ERR_UNAVAILABLE, ENOMEM, "out of memory");
  struct container *c = need_container(m, id);
  int ok = c && need_str(m, id, PV_TAG_PATH, "path", s->path, PV_MAX_PATH) == 0 &&
           need_str(m, id, PV_TAG_FSTYPE, "file system type", s->fstype, sizeof s->fstype - 1) == 0 &&
           opt_str(m, id, PV_TAG_SOURCE, "source", s->source, PV_MAX_ID) == 0 &&
           opt_str(m, id, PV_TAG_SUBPATH, "subpath", s->subpath, PV_MAX_PATH) == 0 &&
           opt_str(m, id, PV_TAG_FS_OPTIONS, "options", s->options, sizeof s->options - 1) == 0;
  if (ok && opt_u32_field(m, PV_TAG_MOUNT_FLAGS, &s->flags) < 0) {
    fail(id, PV_ERR_INVALID, EINVAL, "malformed mount flags");
    ok = 0;
  }
  struct agent_error e;
  if (ok && mount_in_container(c, s, &e) < 0) {
    logf_("mount in %s: %s", c->id, e.msg);
    reply_error(id, &e);
  } else if (ok) {
    reply_ack_empty(id);
  }
  free(s);
}

void op_unmount(const struct tlv_msg *m, uint32_t id) {
  char path[PV_MAX_PATH + 1];
  struct container *c = need_container(m, id);
  if (!c || need_str(m, id, PV_TAG_PATH, "path", path, PV_MAX_PATH) < 0) return;
  struct agent_error e;
  if (unmount_in_container(c, path, &e) < 0) return reply_error(id, &e);
  reply_ack_empty(id);
}

void op_clean_pod(uint32_t id) {
  struct agent_error e;
  for (int i = 0; i < PV_MAX_CONTAINERS; i++)
    if (g_containers[i].used) {
      set_error(&e, PV_ERR_CONFLICT, EBUSY, "container %s still exists", g_containers[i].id);
      return reply_error(id, &e);
    }
  if (emptydirs_clear(&e) < 0) return reply_error(id, &e);
  logf_("pod state cleaned: no emptydir left");
  reply_ack_empty(id);
}
