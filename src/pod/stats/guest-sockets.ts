/**
 * The sockets listening in a guest (warm starts' readiness: src/engine/warm-starts.ts): the
 * guest's /proc/net/tcp, tcp6 and unix, read through the agent's readFile as
 * `/proc/1/net/...` of the container's /proc (its PID 1 is in the guest's network namespace,
 * which every container of a VM shares; /proc/net itself is a link to /proc/self, which the
 * agent, outside the container's PID namespace, has none of).
 *
 * The files come from the guest and are not trusted: each is read up to MAX_NET_FILE bytes (a
 * larger one reads as unknown), at most MAX_ENTRIES lines of it are looked at, and a line that
 * does not parse is skipped. The agent's own unix sockets (autobound abstract names, for
 * streams it hands to the host) are not counted.
 */
import type { Agent } from '../../vm/types';

/** Most bytes read of one /proc/net file. */
const MAX_NET_FILE = 512 * 1024;
/** Most lines of one file looked at. */
const MAX_ENTRIES = 4096;
/** TCP state LISTEN in /proc/net/tcp's `st` column. */
const TCP_LISTEN = '0A';
/** __SO_ACCEPTCON in /proc/net/unix's Flags: the socket listens. */
const SO_ACCEPTCON = 0x10000;
/** A name the kernel gave an autobound unix socket: `@` and 5 hex digits. */
const AUTOBOUND = /^@[0-9a-f]{5}$/;

/**
 * The listening TCP ports (`tcp:<port>`) of a /proc/net/tcp or tcp6 text, in the file's order,
 * without repeats.
 */
export function parseTcpListeners(text: string): string[] {
  const out = new Set<string>();
  const lines = text.split('\n', MAX_ENTRIES + 1).slice(1);
  for (const line of lines) {
    // "  0: 00000000:1F90 00000000:0000 0A ..."
    const f = line.trim().split(/\s+/, 4);
    const m = /^[0-9A-Fa-f]{8,32}:([0-9A-Fa-f]{4})$/.exec(f[1] ?? '');
    if (!m || f[3] !== TCP_LISTEN) continue;
    out.add(`tcp:${parseInt(m[1], 16)}`);
  }
  return [...out];
}

/**
 * The listening unix sockets (`unix:<path>`, `unix:@<name>` for an abstract one) of a
 * /proc/net/unix text, but the autobound ones, without repeats.
 */
export function parseUnixListeners(text: string): string[] {
  const out = new Set<string>();
  const lines = text.split('\n', MAX_ENTRIES + 1).slice(1);
  for (const line of lines) {
    // "0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/x.sock"
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !/^[0-9A-Fa-f]{1,16}:$/.test(f[0]) || !/^[0-9A-Fa-f]{1,8}$/.test(f[3])) continue;
    if ((parseInt(f[3], 16) & SO_ACCEPTCON) === 0) continue;
    const name = f.slice(7).join(' ');
    if (name.length > 4096 || AUTOBOUND.test(name)) continue;
    out.add(`unix:${name}`);
  }
  return [...out];
}

/**
 * The sockets listening in the guest of container `containerId` (see the module comment);
 * undefined when none of the files could be read (an agent that cannot, a file too large).
 */
export async function guestListeners(agent: Agent, containerId: string): Promise<string[] | undefined> {
  const read = async (p: string) => {
    try {
      return (await agent.readFile(containerId, p, MAX_NET_FILE)).toString('utf8');
    } catch {
      return undefined;
    }
  };
  const [tcp, tcp6, unix] = await Promise.all([
    read('/proc/1/net/tcp'),
    read('/proc/1/net/tcp6'),
    read('/proc/1/net/unix'),
  ]);
  if (tcp === undefined && tcp6 === undefined && unix === undefined) return undefined;
  return [
    ...new Set([...parseTcpListeners(tcp ?? ''), ...parseTcpListeners(tcp6 ?? ''), ...parseUnixListeners(unix ?? '')]),
  ];
}
