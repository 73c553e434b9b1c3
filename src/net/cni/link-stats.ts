/**
 * A CRI sandbox's network counters, read on the host from the CNI interface in the sandbox's
 * network namespace (`ip -s -j link show dev eth0` there): the veth end CNI made, whose every
 * frame is redirected to and from the VM's tap (./tap-redirect.ts). So its rx is what the pod
 * received and its tx what the pod sent, the pod's own point of view, as containerd reads eth0
 * in the pod's namespace; nothing the guest reports is used.
 */
import type { InterfaceCounters } from '../tap-stats';
import { inNetns } from './netns';

/** The counters of one link of `ip -s -j link show` output; undefined when it has none. */
export function parseLinkStats(json: string): InterfaceCounters | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  const s = Array.isArray(raw) ? (raw[0] as { stats64?: Record<string, Record<string, unknown>> })?.stats64 : undefined;
  if (!s?.rx || !s.tx) return undefined;
  const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  return {
    rx_bytes: n(s.rx.bytes),
    rx_packets: n(s.rx.packets),
    rx_errors: n(s.rx.errors),
    rx_dropped: n(s.rx.dropped),
    tx_bytes: n(s.tx.bytes),
    tx_packets: n(s.tx.packets),
    tx_errors: n(s.tx.errors),
    tx_dropped: n(s.tx.dropped),
  };
}

/** The counters of `ifName` in the namespace `netns`; undefined when it is not there. */
export async function netnsLinkCounters(netns: string, ifName: string): Promise<InterfaceCounters | undefined> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifName)) return undefined;
  const out = await inNetns(netns, 'ip', ['-s', '-j', 'link', 'show', 'dev', ifName]).catch(() => undefined);
  return out === undefined ? undefined : parseLinkStats(out);
}
