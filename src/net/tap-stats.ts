/**
 * Per-interface network counters of a container for the stats API's `networks` key, read on
 * the host from the taps that carry its endpoints (/sys/class/net/<tap>/statistics): nothing the
 * guest reports is trusted. What the tap receives the guest sent, so rx and tx are swapped to
 * give the guest's point of view, as dockerd's counters (read inside the container's netns) are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One interface's counters, in dockerd's JSON names. */
export interface InterfaceCounters {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

const KINDS = ['bytes', 'packets', 'errors', 'dropped'] as const;

/** The guest interface a VM's tap backs: `pv<12-hex vm id><index>` is eth<index> (src/vm/devices/nic.ts). */
export function guestInterfaceOf(tap: string): string | undefined {
  const m = /^pv[0-9a-f]{12}(\d)$/.exec(tap);
  return m ? `eth${m[1]}` : undefined;
}

async function counter(dir: string, name: string): Promise<number> {
  const n = Number((await fs.promises.readFile(path.join(dir, name), 'utf8')).trim());
  return Number.isFinite(n) ? n : 0;
}

/** The counters of `tap` as its guest interface sees them; undefined when the tap is gone. */
export async function tapCounters(tap: string, sysClassNet = '/sys/class/net'): Promise<InterfaceCounters | undefined> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tap)) return undefined;
  const dir = path.join(sysClassNet, tap, 'statistics');
  try {
    const out = {} as InterfaceCounters;
    await Promise.all(
      KINDS.map(async (k) => {
        out[`rx_${k}`] = await counter(dir, `tx_${k}`);
        out[`tx_${k}`] = await counter(dir, `rx_${k}`);
      }),
    );
    return out;
  } catch {
    return undefined;
  }
}

/** The `networks` object of a container whose endpoints ride on `taps`; undefined with none. */
export async function networksStats(
  taps: Array<string | undefined>,
  sysClassNet?: string,
): Promise<Record<string, InterfaceCounters> | undefined> {
  const out: Record<string, InterfaceCounters> = {};
  for (const tap of taps) {
    const ifname = tap && guestInterfaceOf(tap);
    if (!tap || !ifname) continue;
    const c = await tapCounters(tap, sysClassNet);
    if (c) out[ifname] = c;
  }
  return Object.keys(out).length > 0
    ? Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)))
    : undefined;
}
