/**
 * Legacy container links (`docker run --link NAME[:ALIAS]`), as dockerd 20.10 gives them.
 *
 * On the default `bridge` network a link gives the linking container, at each start:
 *   - a hosts line `IP\tALIAS HOSTNAME NAME` for the linked container (NAME left out when it
 *     is the alias), after the fixed lines and before --add-host's and its own;
 *   - environment variables: ALIAS_NAME=/me/alias, ALIAS_PORT (the lowest exposed port),
 *     ALIAS_PORT_<port>_<PROTO>{,_ADDR,_PORT,_PROTO} per exposed port (with _START/_END lines
 *     over runs of three or more consecutive ports), and ALIAS_ENV_<key> for each variable of
 *     the linked container's config (HOME and PATH left out). ALIAS is upper-cased, '-' -> '_'.
 *     They come before the container's own variables, which win on a clash.
 * On a user network a link is only a name: the alias resolves, for the linking container
 * alone, to the linked container's address on that network (./resolve.ts); no hosts line and
 * no variables, as in dockerd.
 *
 * All measured against dockerd 20.10 (the figures in the compat test). The Docker forms of a
 * link (`name:alias`, `/name:/me/alias`) are read and written in src/translate/network/links.ts.
 */

/** One link: the linked container as named, and the alias it has for the linking one. */
export interface LegacyLink {
  name: string;
  alias: string;
}

/** The hosts line of a link: the alias, the linked container's hostname, and its name unless that is the alias. */
export function linkHostsLine(l: LegacyLink, hostname: string, ip: string): string {
  const names = [l.alias, hostname, ...(l.alias !== l.name ? [l.name] : [])];
  return `${ip}\t${names.join(' ')}`;
}

interface Port {
  num: number;
  proto: string;
}

/** Exposed ports ("80/tcp", "53/udp", "9000") by number, tcp before the others on one number. */
function sortedPorts(exposed: readonly string[]): Port[] {
  const ports = exposed
    .map((p) => {
      const [n, proto = 'tcp'] = p.split('/');
      return { num: Number(n), proto: proto.toLowerCase() };
    })
    .filter((p) => Number.isInteger(p.num) && p.num > 0);
  return ports.sort((a, b) => a.num - b.num || (a.proto === 'tcp' ? -1 : b.proto === 'tcp' ? 1 : 0));
}

/**
 * Index of the last port of the run starting at `i`: dockerd counts each following entry as
 * one step up from the first, whatever its protocol, until a number jumps past that.
 */
function runEnd(ports: readonly Port[], i: number): number {
  let expect = ports[i].num;
  for (let j = i + 1; j < ports.length; j++) {
    if (ports[j].num > expect + 1) return j - 1;
    expect++;
  }
  return ports.length - 1;
}

/** The environment a link gives the linking container `me` (see the module comment). */
export function linkEnv(
  l: LegacyLink,
  me: string,
  ip: string,
  exposed: readonly string[],
  env: readonly string[],
): string[] {
  const A = l.alias.toUpperCase().replace(/-/g, '_');
  const out: string[] = [];
  const ports = sortedPorts(exposed);
  if (ports.length > 0) out.push(`${A}_PORT=${ports[0].proto}://${ip}:${ports[0].num}`);
  for (let i = 0; i < ports.length; ) {
    const j = runEnd(ports, i);
    const p = ports[i];
    const key = `${A}_PORT_${p.num}_${p.proto.toUpperCase()}`;
    if (j > i + 1) {
      const q = ports[j];
      const endKey = `${A}_PORT_${p.num}_${q.proto.toUpperCase()}`;
      out.push(
        `${key}_START=${p.proto}://${ip}:${p.num}`,
        `${key}_PORT_START=${p.num}`,
        `${endKey}_END=${q.proto}://${ip}:${q.num}`,
        `${endKey}_PORT_END=${q.num}`,
      );
    }
    for (; i <= j; i++) {
      const x = ports[i];
      const k = `${A}_PORT_${x.num}_${x.proto.toUpperCase()}`;
      out.push(`${k}=${x.proto}://${ip}:${x.num}`, `${k}_ADDR=${ip}`, `${k}_PORT=${x.num}`, `${k}_PROTO=${x.proto}`);
    }
  }
  out.push(`${A}_NAME=/${me}/${l.alias}`);
  for (const v of env) {
    const eq = v.indexOf('=');
    if (eq < 0) continue;
    const k = v.slice(0, eq);
    if (k === 'HOME' || k === 'PATH') continue;
    out.push(`${A}_ENV_${k}=${v.slice(eq + 1)}`);
  }
  return out;
}
