/**
 * Registry credentials and the authentication handshake of the Registry HTTP API v2:
 * decoding the `X-Registry-Auth` header the docker CLI sends, parsing `WWW-Authenticate`
 * challenges, and building the Authorization header for Basic auth or for a Bearer token
 * fetched from the challenge's realm.
 */

/** Docker's AuthConfig as the CLI sends it (X-Registry-Auth, POST /auth body). */
export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64("user:password"), an alternative to username/password. */
  auth?: string;
  email?: string;
  serveraddress?: string;
  /** OAuth refresh token from a previous login. */
  identitytoken?: string;
  /** A bearer token to use as-is. */
  registrytoken?: string;
}

/**
 * Decode the base64url JSON `X-Registry-Auth` header. Like dockerd, an undecodable header
 * counts as "no credentials" for pulls.
 */
export function decodeRegistryAuth(header: string | undefined): AuthConfig | undefined {
  if (!header) return undefined;
  try {
    const json = Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    const v: unknown = JSON.parse(json);
    if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
    const o = v as Record<string, unknown>;
    const out: AuthConfig = {};
    for (const k of [
      'username',
      'password',
      'auth',
      'email',
      'serveraddress',
      'identitytoken',
      'registrytoken',
    ] as const) {
      if (typeof o[k] === 'string' && o[k] !== '') out[k] = o[k] as string;
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Username and password from an AuthConfig (`auth` decoded when given instead). */
export function basicCredentials(a: AuthConfig | undefined): { username: string; password: string } | undefined {
  if (!a) return undefined;
  if (a.username !== undefined && a.password !== undefined) return { username: a.username, password: a.password };
  if (a.auth) {
    const s = Buffer.from(a.auth, 'base64').toString('utf8');
    const i = s.indexOf(':');
    if (i > 0) return { username: s.slice(0, i), password: s.slice(i + 1) };
  }
  return undefined;
}

/** One challenge from a WWW-Authenticate header. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `Bearer realm="...",service="...",scope="..."` (several challenges allowed). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (!header) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: Challenge[] = [];
  let i = 0;
  let current: Challenge | undefined;
  while (i < text.length) {
    while (text[i] === ',' || text[i] === ' ') i++;
    if (i >= text.length) break;
    // A parameter is name=value; anything else starting a word is a new scheme.
    const param = /^([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/.exec(text.slice(i));
    if (param && current) {
      current.params[param[1].toLowerCase()] = param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : param[3];
      i += param[0].length;
      continue;
    }
    const word = /^([A-Za-z][A-Za-z0-9_-]*)/.exec(text.slice(i));
    if (!word) break;
    current = { scheme: word[1].toLowerCase(), params: {} };
    out.push(current);
    i += word[0].length;
  }
  return out;
}

/** `Basic base64(user:password)`. */
export function basicHeader(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}
