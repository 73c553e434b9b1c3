/*
 * netif.c - the VM's network interfaces and routes, IPv4 and IPv6 (CONFIGURE_INTERFACE,
 * ADD_ROUTE, LIST_INTERFACES). Secondary addresses are alias labels (eth0:1...), which SIOCGIFCONF lists
 * and SIOCSIFADDR 0.0.0.0 on the label removes. Every container of a VM shares the VM's network namespace, so this is
 * the pod's network. Plain SIOC* ioctls on a datagram socket: a handful of calls for what
 * the host asks (address, netmask, MTU, flags, one route), where rtnetlink would need a
 * message builder and a reply parser for the same result.
 *
 * In host test mode the agent would otherwise reconfigure the host's own interfaces, so
 * there it acts only inside a network namespace its parent does not share (a test runs it
 * under `unshare -n` with a tap device standing in for the NIC).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent.h"

int valid_ifname(const char *s) {
  size_t n = strlen(s);
  if (n < 1 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
          *p == '-'))
      return 0;
  return 1;
}

/* 0 when the agent may change interfaces here: always in a VM; in host test mode only in a
 * network namespace its parent does not share (it was started in one of its own). PID 1's
 * namespace would be the better reference, but a container host may not let us read it. */
static int may_configure(struct agent_error *e) {
  if (g_pid1) return 0;
  struct stat self, parent;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/net", (int)getppid());
  if (stat("/proc/self/ns/net", &self) == 0 && stat(path, &parent) == 0 && self.st_ino != parent.st_ino) return 0;
  set_error(e, PV_ERR_INVALID, EPERM, "host test mode: network changes only in a network namespace of the agent's own");
  return -1;
}

static int sock(struct agent_error *e) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) set_error(e, PV_ERR_UNAVAILABLE, errno, "socket: %s", strerror(errno));
  return s;
}

static void put_in(struct sockaddr *sa, const uint8_t addr[4]) {
  struct sockaddr_in *in = (struct sockaddr_in *)sa;
  memset(in, 0, sizeof *in);
  in->sin_family = AF_INET;
  memcpy(&in->sin_addr, addr, 4);
}

static uint32_t mask_of(unsigned prefix) { return prefix == 0 ? 0 : htonl(~(uint32_t)0 << (32 - prefix)); }

static int ifreq_for(struct ifreq *r, const char *name) {
  memset(r, 0, sizeof *r);
  size_t n = strnlen(name, IFNAMSIZ - 1); /* names were checked by valid_ifname */
  memcpy(r->ifr_name, name, n);
  return 0;
}

static int io_fail(struct agent_error *e, const char *what, const char *name) {
  int err = errno;
  set_error(e, err == ENODEV || err == ENXIO ? PV_ERR_NOT_FOUND : code_for_errno(err), err, "%s %s: %s", what, name,
            strerror(err));
  return -1;
}

/* ioctl `req` on the interface named in r; -1 with *e set (what, name) when it fails. */
static int ifctl(int s, unsigned long req, struct ifreq *r, const char *what, struct agent_error *e) {
  return ioctl(s, req, r) == 0 ? 0 : io_fail(e, what, r->ifr_name);
}

/* Give interface `name` the hardware address `mac`, with the interface down meanwhile (a
 * driver may refuse the change while it is up); it is brought up again if it was up. */
static int set_hwaddr(int s, const char *name, const uint8_t mac[6], struct agent_error *e) {
  struct ifreq r;
  ifreq_for(&r, name);
  if (ifctl(s, SIOCGIFFLAGS, &r, "flags of", e) < 0) return -1;
  short flags = r.ifr_flags;
  if (flags & IFF_UP) {
    r.ifr_flags = (short)(flags & ~IFF_UP);
    if (ifctl(s, SIOCSIFFLAGS, &r, "bring down", e) < 0) return -1;
  }
  ifreq_for(&r, name);
  r.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  memcpy(r.ifr_hwaddr.sa_data, mac, 6);
  int rc = ifctl(s, SIOCSIFHWADDR, &r, "set hardware address of", e);
  if (flags & IFF_UP) {
    ifreq_for(&r, name);
    r.ifr_flags = flags;
    if (ioctl(s, SIOCSIFFLAGS, &r) != 0 && rc == 0) rc = io_fail(e, "bring up", name);
  }
  return rc;
}

/* Room for every IPv4 address of the VM in one SIOCGIFCONF (interfaces x aliases). */
#define MAX_ADDRS 128

/* The VM's IPv4 addresses, one ifreq each (name: the interface or its alias label NAME:N). */
static int addresses(int s, struct ifreq *reqs, int *n) {
  struct ifconf ifc;
  ifc.ifc_len = (int)(MAX_ADDRS * sizeof *reqs);
  ifc.ifc_req = reqs;
  if (ioctl(s, SIOCGIFCONF, &ifc) < 0) return -1;
  *n = ifc.ifc_len / (int)sizeof *reqs;
  return 0;
}

/* Whether label is an alias of interface name ("eth0:1" of "eth0"). */
static int alias_of(const char *label, const char *name) {
  size_t n = strlen(name);
  return strncmp(label, name, n) == 0 && label[n] == ':';
}

/* Remove the interface's alias addresses: SIOCSIFADDR 0.0.0.0 on a label deletes its address. */
static int drop_aliases(int s, const char *name, struct agent_error *e) {
  static struct ifreq reqs[MAX_ADDRS];
  int n;
  if (addresses(s, reqs, &n) < 0) return io_fail(e, "list the addresses of", name);
  for (int i = 0; i < n; i++) {
    if (!alias_of(reqs[i].ifr_name, name)) continue;
    struct ifreq r;
    ifreq_for(&r, reqs[i].ifr_name);
    put_in(&r.ifr_addr, (const uint8_t *)"\0\0\0\0");
    if (ifctl(s, SIOCSIFADDR, &r, "remove the address of", e) < 0) return -1;
  }
  return 0;
}

/* Set one address and its netmask on an interface or an alias label. */
static int set_address(int s, const char *label, const uint8_t addr[4], uint32_t prefix, struct agent_error *e) {
  struct ifreq r;
  uint32_t m = mask_of(prefix);
  ifreq_for(&r, label);
  put_in(&r.ifr_addr, addr);
  if (ifctl(s, SIOCSIFADDR, &r, "set address of", e) < 0) return -1;
  ifreq_for(&r, label);
  put_in(&r.ifr_netmask, (const uint8_t *)&m);
  return ifctl(s, SIOCSIFNETMASK, &r, "set netmask of", e);
}

/* ---- IPv6 ------------------------------------------------------------------------------ */

/* The kernel's struct in6_ifreq (linux/ipv6.h, which clashes with glibc's netinet/in.h). */
struct pv_in6_ifreq {
  struct in6_addr addr;
  uint32_t prefixlen;
  int ifindex;
};

#define SCOPE_GLOBAL 0 /* the scope column of /proc/net/if_inet6 for a global address */
#define MAX_ADDRS6 32

/* One line of /proc/net/if_inet6. */
struct addr6 {
  uint8_t addr[16];
  unsigned ifindex, prefix, scope;
};

/* The VM's IPv6 addresses; 0 entries when the kernel has no IPv6 (the file is missing). */
static int addresses6(struct addr6 *out, int max) {
  FILE *f = fopen("/proc/net/if_inet6", "re");
  if (!f) return 0;
  int n = 0;
  char hex[33], name[IFNAMSIZ + 1];
  unsigned idx, prefix, scope, flags;
  while (n < max && fscanf(f, "%32s %x %x %x %x %16s", hex, &idx, &prefix, &scope, &flags, name) == 6) {
    if (strlen(hex) != 32) continue;
    for (int i = 0; i < 16; i++) {
      char byte[3] = {hex[2 * i], hex[2 * i + 1], 0};
      out[n].addr[i] = (uint8_t)strtoul(byte, NULL, 16);
    }
    out[n].ifindex = idx, out[n].prefix = prefix, out[n].scope = scope;
    n++;
  }
  fclose(f);
  return n;
}

static int sock6(struct agent_error *e) {
  int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) set_error(e, PV_ERR_UNAVAILABLE, errno, "IPv6 is not available in the VM: socket: %s", strerror(errno));
  return s;
}

/* The interface's index; -1 with *e set. */
static int index_of(int s, const char *name, struct agent_error *e) {
  struct ifreq r;
  ifreq_for(&r, name);
  if (ifctl(s, SIOCGIFINDEX, &r, "index of", e) < 0) return -1;
  return r.ifr_ifindex;
}

/* No duplicate address detection on the interface: a static address is usable at once
 * (dockerd adds its addresses with nodad), instead of after a second of DAD under TCG. */
static int no_dad(const char *name, struct agent_error *e) {
  char path[96];
  snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/accept_dad", name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "IPv6 is not available on %s in the VM: %s", name, strerror(errno));
    return -1;
  }
  int rc = write(fd, "0", 1) == 1 ? 0 : -1;
  if (rc < 0) set_error(e, PV_ERR_UNAVAILABLE, errno, "%s: %s", path, strerror(errno));
  close(fd);
  return rc;
}

/* Replace the interface's global IPv6 addresses by `addr`/`prefix` (none when prefix is 0). */
static int set_address6(const char *name, const uint8_t addr[16], uint32_t prefix, struct agent_error *e) {
  int s = sock6(e);
  if (s < 0) return -1;
  int rc = -1, ifindex = index_of(s, name, e);
  if (ifindex < 0) goto out;
  static struct addr6 have[MAX_ADDRS6];
  int n = addresses6(have, MAX_ADDRS6);
  for (int i = 0; i < n; i++) {
    if ((int)have[i].ifindex != ifindex || have[i].scope != SCOPE_GLOBAL) continue;
    struct pv_in6_ifreq r = {.prefixlen = have[i].prefix, .ifindex = ifindex};
    memcpy(&r.addr, have[i].addr, 16);
    if (ioctl(s, SIOCDIFADDR, &r) < 0 && errno != EADDRNOTAVAIL) {
      io_fail(e, "remove an IPv6 address of", name);
      goto out;
    }
  }
  if (prefix == 0) {
    rc = 0;
    goto out;
  }
  if (no_dad(name, e) < 0) goto out;
  struct pv_in6_ifreq r = {.prefixlen = prefix, .ifindex = ifindex};
  memcpy(&r.addr, addr, 16);
  if (ioctl(s, SIOCSIFADDR, &r) < 0) {
    io_fail(e, "set the IPv6 address of", name);
    goto out;
  }
  rc = 0;
out:
  close(s);
  return rc;
}

/* Whether addr has bits set past prefix. */
static int host_bits6(const uint8_t addr[16], uint32_t prefix) {
  for (uint32_t bit = prefix; bit < 128; bit++)
    if (addr[bit / 8] & (0x80 >> (bit % 8))) return 1;
  return 0;
}

static int add_route6(const struct route_config *c, struct agent_error *e) {
  if (c->prefix > 128 || host_bits6(c->destination6, c->prefix)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "destination has bits set past its prefix");
    return -1;
  }
  int s = sock6(e);
  if (s < 0) return -1;
  struct in6_rtmsg rt;
  memset(&rt, 0, sizeof rt);
  memcpy(&rt.rtmsg_dst, c->destination6, 16);
  rt.rtmsg_dst_len = (uint16_t)c->prefix;
  rt.rtmsg_flags = RTF_UP | (c->prefix == 128 ? RTF_HOST : 0);
  rt.rtmsg_metric = 1024; /* the kernel's own for a route without one (ip -6 route's default) */
  if (c->has_gateway) {
    memcpy(&rt.rtmsg_gateway, c->gateway6, 16);
    rt.rtmsg_flags |= RTF_GATEWAY;
  }
  int rc = 0;
  if (c->has_ifname && (rt.rtmsg_ifindex = index_of(s, c->ifname, e)) < 0) rc = -1;
  if (rc == 0 && ioctl(s, SIOCADDRT, &rt) < 0) {
    int err = errno;
    set_error(e, err == EEXIST ? PV_ERR_CONFLICT : err == ENODEV ? PV_ERR_NOT_FOUND : code_for_errno(err), err,
              "add route: %s", strerror(err));
    rc = -1;
  }
  close(s);
  return rc;
}

/* The steps of netif_configure on an open socket, in the protocol's order. */
static int configure(int s, const struct netif_config *c, struct agent_error *e) {
  struct ifreq r;
  ifreq_for(&r, c->name);
  if (ifctl(s, SIOCGIFFLAGS, &r, "interface", e) < 0) return -1;
  if (c->has_mac) {
    ifreq_for(&r, c->name);
    if (ifctl(s, SIOCGIFHWADDR, &r, "hardware address of", e) < 0) return -1;
    if (r.ifr_hwaddr.sa_family != ARPHRD_ETHER || memcmp(r.ifr_hwaddr.sa_data, c->mac, 6) != 0) {
      set_error(e, PV_ERR_INVALID, EINVAL, "interface %s does not have the expected hardware address", c->name);
      return -1;
    }
  }
  if (c->has_set_mac && set_hwaddr(s, c->name, c->set_mac, e) < 0) return -1;
  if (c->has_address) {
    /* A new address replaces all the interface had, its aliases included. */
    if (drop_aliases(s, c->name, e) < 0) return -1;
    if (memcmp(c->address, "\0\0\0\0", 4) == 0) {
      /* 0.0.0.0 removes the interface's address (a VM cleaned for reuse): no netmask then. */
      ifreq_for(&r, c->name);
      put_in(&r.ifr_addr, c->address);
      if (ifctl(s, SIOCSIFADDR, &r, "set address of", e) < 0) return -1;
      goto mtu;
    }
    if (set_address(s, c->name, c->address, c->prefix, e) < 0) return -1;
    for (uint32_t i = 0; i < c->n_secondary; i++) {
      char label[IFNAMSIZ];
      if (snprintf(label, sizeof label, "%s:%u", c->name, i + 1) >= (int)sizeof label) {
        set_error(e, PV_ERR_INVALID, EINVAL, "interface name %s too long for an alias", c->name);
        return -1;
      }
      if (set_address(s, label, c->secondary[i], c->secondary_prefix[i], e) < 0) return -1;
    }
  }
mtu:
  if (c->has_address6 && set_address6(c->name, c->address6, c->prefix6, e) < 0) return -1;
  if (c->has_mtu) {
    ifreq_for(&r, c->name);
    r.ifr_mtu = (int)c->mtu;
    if (ifctl(s, SIOCSIFMTU, &r, "set MTU of", e) < 0) return -1;
  }
  if (c->has_up) {
    ifreq_for(&r, c->name);
    if (ifctl(s, SIOCGIFFLAGS, &r, "flags of", e) < 0) return -1;
    r.ifr_flags = (short)(c->up ? (r.ifr_flags | IFF_UP) : (r.ifr_flags & ~IFF_UP));
    if (ifctl(s, SIOCSIFFLAGS, &r, c->up ? "bring up" : "bring down", e) < 0) return -1;
  }
  return 0;
}

int netif_configure(const struct netif_config *c, struct agent_error *e) {
  if (!valid_ifname(c->name)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "invalid interface name");
    return -1;
  }
  static const uint8_t zero_mac[6];
  if (c->has_set_mac && ((c->set_mac[0] & 1) || memcmp(c->set_mac, zero_mac, 6) == 0)) {
    set_error(e, PV_ERR_INVALID, EINVAL, "a hardware address must be unicast and not all zero");
    return -1;
  }
  static const uint8_t zero6[16];
  if ((c->has_address && c->prefix > 32) || (c->has_mtu && (c->mtu < 68 || c->mtu > 65535)) ||
      (c->has_address6 && (c->prefix6 > 128 || (c->prefix6 == 0) != (memcmp(c->address6, zero6, 16) == 0)))) {
    set_error(e, PV_ERR_INVALID, EINVAL, "prefix or MTU out of range");
    return -1;
  }
  if (may_configure(e) < 0) return -1;
  int s = sock(e);
  if (s < 0) return -1;
  int rc = configure(s, c, e);
  close(s);
  return rc;
}

int netif_add_route(const struct route_config *c, struct agent_error *e) {
  if (c->ipv6) {
    if (c->has_ifname && !valid_ifname(c->ifname)) {
      set_error(e, PV_ERR_INVALID, EINVAL, "invalid prefix or interface name");
      return -1;
    }
    if (!c->has_gateway && !c->has_ifname) {
      set_error(e, PV_ERR_INVALID, EINVAL, "a route needs a gateway or an interface");
      return -1;
    }
    if (may_configure(e) < 0) return -1;
    return add_route6(c, e);
  }
  if (c->prefix > 32 || (c->has_ifname && !valid_ifname(c->ifname))) {
    set_error(e, PV_ERR_INVALID, EINVAL, "invalid prefix or interface name");
    return -1;
  }
  uint32_t dst, m = mask_of(c->prefix);
  memcpy(&dst, c->destination, 4);
  if ((dst & ~m) != 0) {
    set_error(e, PV_ERR_INVALID, EINVAL, "destination has bits set past its prefix");
    return -1;
  }
  if (!c->has_gateway && !c->has_ifname) {
    set_error(e, PV_ERR_INVALID, EINVAL, "a route needs a gateway or an interface");
    return -1;
  }
  if (may_configure(e) < 0) return -1;
  int s = sock(e);
  if (s < 0) return -1;
  struct rtentry rt;
  memset(&rt, 0, sizeof rt);
  put_in(&rt.rt_dst, c->destination);
  put_in(&rt.rt_genmask, (const uint8_t *)&m);
  rt.rt_flags = RTF_UP | (c->prefix == 32 ? RTF_HOST : 0);
  if (c->has_gateway) {
    put_in(&rt.rt_gateway, c->gateway);
    rt.rt_flags |= RTF_GATEWAY;
  }
  char dev[IFNAMSIZ];
  if (c->has_ifname) {
    size_t n = strnlen(c->ifname, IFNAMSIZ - 1);
    memcpy(dev, c->ifname, n);
    dev[n] = 0;
    rt.rt_dev = dev;
  }
  int rc = 0;
  if (ioctl(s, SIOCADDRT, &rt) < 0) {
    int err = errno;
    set_error(e, err == EEXIST ? PV_ERR_CONFLICT : err == ENODEV ? PV_ERR_NOT_FOUND : code_for_errno(err), err,
              "add route: %s", strerror(err));
    rc = -1;
  }
  close(s);
  return rc;
}

int netif_list(struct buf *b, struct agent_error *e) {
  DIR *d = opendir("/sys/class/net");
  if (!d) {
    set_error(e, PV_ERR_UNAVAILABLE, errno, "/sys/class/net: %s", strerror(errno));
    return -1;
  }
  int s = sock(e);
  if (s < 0) {
    closedir(d);
    return -1;
  }
  static struct ifreq reqs[MAX_ADDRS];
  int naddrs = 0;
  if (addresses(s, reqs, &naddrs) < 0) naddrs = 0;
  static struct addr6 addrs6[MAX_ADDRS6];
  int naddrs6 = addresses6(addrs6, MAX_ADDRS6);
  struct dirent *ent;
  int rc = 0, n = 0;
  while (rc == 0 && (ent = readdir(d))) {
    if (!valid_ifname(ent->d_name) || ++n > 64) continue;
    struct ifreq r;
    uint8_t mac[6] = {0};
    ifreq_for(&r, ent->d_name);
    if (ioctl(s, SIOCGIFHWADDR, &r) == 0) memcpy(mac, r.ifr_hwaddr.sa_data, 6);
    ifreq_for(&r, ent->d_name);
    uint32_t mtu = ioctl(s, SIOCGIFMTU, &r) == 0 ? (uint32_t)r.ifr_mtu : 0;
    ifreq_for(&r, ent->d_name);
    uint32_t up = ioctl(s, SIOCGIFFLAGS, &r) == 0 && (r.ifr_flags & IFF_UP) ? 1 : 0;
    size_t rec = tlv_begin_nested(b, PV_TAG_INTERFACE);
    int bad = rec == (size_t)-1 || tlv_put_str(b, PV_TAG_IFNAME, ent->d_name) || tlv_put(b, PV_TAG_MAC, mac, 6) ||
              tlv_put_u32(b, PV_TAG_MTU, mtu) || tlv_put_u32(b, PV_TAG_LINK_UP, up);
    ifreq_for(&r, ent->d_name);
    if (!bad && ioctl(s, SIOCGIFADDR, &r) == 0) {
      uint8_t addr[4];
      memcpy(addr, &((struct sockaddr_in *)&r.ifr_addr)->sin_addr, 4);
      ifreq_for(&r, ent->d_name);
      uint32_t prefix = 0;
      if (ioctl(s, SIOCGIFNETMASK, &r) == 0)
        prefix = (uint32_t)__builtin_popcount(((struct sockaddr_in *)&r.ifr_netmask)->sin_addr.s_addr);
      bad = tlv_put(b, PV_TAG_ADDRESS, addr, 4) || tlv_put_u32(b, PV_TAG_PREFIX, prefix);
    }
    for (int i = 0; !bad && i < naddrs; i++) {
      if (!alias_of(reqs[i].ifr_name, ent->d_name)) continue;
      uint8_t addr[4];
      memcpy(addr, &((struct sockaddr_in *)&reqs[i].ifr_addr)->sin_addr, 4);
      ifreq_for(&r, reqs[i].ifr_name);
      uint32_t prefix = 0;
      if (ioctl(s, SIOCGIFNETMASK, &r) == 0)
        prefix = (uint32_t)__builtin_popcount(((struct sockaddr_in *)&r.ifr_netmask)->sin_addr.s_addr);
      size_t sec = tlv_begin_nested(b, PV_TAG_SECONDARY);
      bad = sec == (size_t)-1 || tlv_put(b, PV_TAG_ADDRESS, addr, 4) || tlv_put_u32(b, PV_TAG_PREFIX, prefix);
      if (!bad) tlv_end_nested(b, sec);
    }
    ifreq_for(&r, ent->d_name);
    int ifindex = ioctl(s, SIOCGIFINDEX, &r) == 0 ? r.ifr_ifindex : -1;
    for (int i = 0; !bad && i < naddrs6; i++) {
      if ((int)addrs6[i].ifindex != ifindex || addrs6[i].scope != SCOPE_GLOBAL) continue;
      bad = tlv_put(b, PV_TAG_ADDRESS6, addrs6[i].addr, 16) || tlv_put_u32(b, PV_TAG_PREFIX6, addrs6[i].prefix);
      break; /* the first one */
    }
    if (bad) {
      set_error(e, PV_ERR_TOO_LARGE, E2BIG, "interface list does not fit a frame");
      rc = -1;
    } else {
      tlv_end_nested(b, rec);
    }
  }
  close(s);
  closedir(d);
  return rc;
}
