/**
 * A Registry HTTP API v2 client bound to one repository (`127.0.0.1:5000` + `x/busybox`):
 * manifests and blobs for pulls, blob uploads and manifest puts for pushes, and the login
 * check. Authentication follows the registry's challenge: anonymous first, then Basic, or a
 * Bearer token fetched from the challenge's realm (with the user's credentials when given);
 * tokens are kept for the session. Failures carry the registry's own error codes so callers
 * can word them as dockerd does.
 *
 * Credentials go only where they belong, as dockerd's client sends them: the Authorization
 * header only to the registry endpoint's own origin (scheme, host and port; not to an upload
 * location or a redirect elsewhere, ./http.ts drops it on those), a challenge is answered only
 * when the registry itself sent it (not a host a redirect led to), and the user's password
 * goes to a token realm over plain http only when the registry itself is reached over plain
 * http (an insecure registry: --insecure-registry, or a loopback one); otherwise the token is
 * asked for anonymously.
 */
import type { Readable } from 'node:stream';
import { httpRequest, readBody, sameOrigin, type HttpResponse } from './http';
import { basicCredentials, basicHeader, parseChallenges, type AuthConfig, type Challenge } from './auth';
import type { Endpoint, RegistryHosts } from './hosts';
import { MANIFEST_ACCEPT } from './manifest';

/** One entry of a registry error body (`{"errors":[{code,message,detail}]}`). */
export interface RegistryErrorEntry {
  code: string;
  message: string;
}

/** A registry answered with an error status (or could not be reached: status 0). */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errors: RegistryErrorEntry[] = [],
    /** The registry wants credentials and none were given: the message is dockerd's. */
    readonly noCredentials = false,
  ) {
    super(message);
    this.name = 'RegistryError';
  }

  /** `code: message` of the first registry error, dockerd's way (`manifest unknown: manifest unknown`). */
  detail(): string {
    const e = this.errors[0];
    if (!e) return this.message;
    return `${e.code.toLowerCase().replace(/_/g, ' ')}: ${e.message}`;
  }
}

/** A fetched manifest. */
export interface FetchedManifest {
  body: Buffer;
  contentType: string | undefined;
  /** Docker-Content-Digest when the registry sent one. */
  digestHeader: string | undefined;
}

/** A blob body being received. */
export interface BlobStream {
  stream: Readable;
  /** Content-Length, when sent. */
  size: number | undefined;
}

async function errorFrom(res: HttpResponse, what: string): Promise<RegistryError> {
  let errors: RegistryErrorEntry[] = [];
  try {
    const body = await readBody(res, 64 * 1024);
    const v = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    if (Array.isArray(v.errors)) {
      errors = v.errors.map((e) => ({ code: String(e.code ?? 'UNKNOWN'), message: String(e.message ?? '') }));
    }
  } catch {
    // Not a registry error body; the status says enough.
  }
  return new RegistryError(`${what}: ${res.status} ${statusText(res.status)}`, res.status, errors);
}

/** Standard reason phrase for a status. */
export function statusText(status: number): string {
  const texts: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
  };
  return texts[status] ?? '';
}

/**
 * Whether a host name lookup failed: every getaddrinfo error, ENOTFOUND and EAI_AGAIN as well
 * as EINVAL for a name the resolver refuses (a label over 63 bytes, a name over 253).
 */
function isLookupError(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  return e?.syscall === 'getaddrinfo' || e?.code === 'ENOTFOUND' || e?.code === 'EAI_AGAIN';
}

/** The error codes of a connection that failed or a TLS handshake that did not verify. */
const NETWORK_ERROR_CODE = new RegExp(
  '^(ECONNREFUSED|ECONNRESET|EPROTO|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ETLSTIMEDOUT|EHOSTUNREACH|ENETUNREACH|' +
    'ERR_SSL_.*|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_.*)$',
);

function isConnectionError(err: unknown): boolean {
  if (isLookupError(err)) return true;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return NETWORK_ERROR_CODE.test(code) || /wrong version number|socket hang up/.test(String((err as Error).message));
}

/** A connection failure in Go's words (`dial tcp 127.0.0.1:5999: connect: connection refused`). */
function dialMessage(err: unknown, host: string): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ECONNREFUSED') return `dial tcp ${host}: connect: connection refused`;
  if (isLookupError(err)) return `dial tcp: lookup ${host.replace(/:\d+$/, '')}: no such host`;
  return err instanceof Error ? err.message : String(err);
}

/** Registry access for one repository, with its credentials. */
export class RegistryClient {
  private endpoint?: Endpoint;
  private authorization?: string;

  constructor(
    readonly domain: string,
    readonly repository: string,
    private readonly hosts: RegistryHosts,
    private readonly auth?: AuthConfig,
    /** Actions for the token scope: pull, or pull,push for pushes. */
    private readonly actions: string = 'pull',
    /** A pull by digest (registries.conf's digest-only and tag-only mirrors). */
    private readonly byDigest = false,
  ) {}

  /**
   * Send a request to the repository's registry, choosing the endpoint (mirror, https,
   * http) and answering the auth challenge. `path` starts with `/v2/`.
   */
  async request(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: Buffer | (() => Readable),
  ): Promise<HttpResponse> {
    // Mirrors (registries.conf's and --registry-mirror) serve pulls only: a push, and a login
    // (a client of no repository), go to the registry itself (dockerd's LookupPushEndpoints).
    const endpoints = this.endpoint
      ? [this.endpoint]
      : this.hosts.endpoints(this.domain, {
          mirrors: this.actions === 'pull' && this.repository !== '',
          repository: this.repository,
          byDigest: this.byDigest,
        });
    let lastErr: unknown;
    // What a registry said (a mirror's 404...) is worth more than a later source's dial error.
    let answered: RegistryError | undefined;
    for (const ep of endpoints) {
      try {
        const res = await this.requestAt(ep, method, path, headers, body);
        if (ep.mirror && res.status >= 400 && endpoints.length > 1) {
          const err = await errorFrom(res, `mirror ${ep.base}`);
          lastErr = answered ??= err;
          continue;
        }
        this.endpoint = ep;
        this.hosts.remember(ep);
        return res;
      } catch (err) {
        lastErr = err;
        if (err instanceof RegistryError) answered ??= err;
        if (!ep.mirror && !isConnectionError(err)) throw err;
      }
    }
    if (lastErr instanceof RegistryError) throw lastErr;
    if (answered) throw answered;
    const last = endpoints[endpoints.length - 1].base;
    throw new RegistryError(`Get "${last}/v2/": ${dialMessage(lastErr, new URL(last).host)}`, 0);
  }

  private async requestAt(
    ep: Endpoint,
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Buffer | (() => Readable),
  ): Promise<HttpResponse> {
    // A registries.conf source may hold the repository under another path.
    const mine = `/v2/${this.repository}/`;
    const at =
      ep.repository !== undefined && path.startsWith(mine) ? `/v2/${ep.repository}/${path.slice(mine.length)}` : path;
    const url = at.startsWith('http') ? at : ep.base + at;
    const own = sameOrigin(new URL(url), new URL(ep.base));
    const send = (auth?: string) => {
      const h = { ...headers };
      if (auth && own) h.Authorization = auth;
      return httpRequest({
        method,
        url,
        headers: h,
        body: typeof body === 'function' ? body() : body,
        insecureTls: ep.insecureTls,
      });
    };
    let res = await send(this.authorization);
    // A challenge from anyone but the registry (an upload location elsewhere, a host a
    // redirect led to) is not answered: the user's credentials are the registry's.
    if (res.status !== 401 || !own || !sameOrigin(new URL(res.url), new URL(ep.base))) return res;
    const challenges = parseChallenges(res.headers['www-authenticate']);
    res.body.resume();
    const authz = await this.answerChallenge(challenges, ep);
    if (!authz) {
      if (challenges.some((c) => c.scheme === 'basic') && !basicCredentials(this.auth)) {
        // dockerd's wording; it asks for manifests with HEAD first.
        const verb =
          path.includes('/manifests/') && method === 'GET' ? 'Head' : method[0] + method.slice(1).toLowerCase();
        throw new RegistryError(`${verb} "${url}": no basic auth credentials`, 401, [], true);
      }
      return res;
    }
    this.authorization = authz;
    res = await send(authz);
    return res;
  }

  /** The Authorization header value for a challenge, or undefined when we have nothing to offer. */
  private async answerChallenge(challenges: Challenge[], ep: Endpoint): Promise<string | undefined> {
    const creds = basicCredentials(this.auth);
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer) {
      if (this.auth?.registrytoken) return `Bearer ${this.auth.registrytoken}`;
      return `Bearer ${await this.fetchToken(bearer, ep)}`;
    }
    if (challenges.some((c) => c.scheme === 'basic') && creds) return basicHeader(creds.username, creds.password);
    return undefined;
  }

  private async fetchToken(ch: Challenge, ep: Endpoint): Promise<string> {
    const realm = ch.params.realm;
    if (!realm) throw new RegistryError('registry sent a Bearer challenge without a realm', 401);
    let u: URL;
    try {
      u = new URL(realm);
    } catch {
      throw new RegistryError(`registry sent a Bearer challenge with an invalid realm ${JSON.stringify(realm)}`, 401);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:')
      throw new RegistryError(`registry sent a Bearer challenge with a ${u.protocol} realm`, 401);
    if (ch.params.service) u.searchParams.set('service', ch.params.service);
    const repository = ep.repository ?? this.repository;
    const scope = repository ? `repository:${repository}:${this.actions}` : ch.params.scope;
    if (scope) u.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    const creds = basicCredentials(this.auth);
    // Over plain http the password would be readable on the way: only an insecure registry
    // (itself reached over plain http) may have its token server there.
    const withheld = creds !== undefined && u.protocol === 'http:' && !ep.base.startsWith('http:');
    if (creds && !withheld) headers.Authorization = basicHeader(creds.username, creds.password);
    const res = await httpRequest({ method: 'GET', url: u.toString(), headers, insecureTls: ep.insecureTls });
    if (res.status !== 200) {
      const err = await errorFrom(res, `token request to ${u.host}`);
      if (!withheld) throw err;
      throw new RegistryError(
        `${err.message} (credentials are not sent to the token server ${u.origin} over plain http: ` +
          `the registry ${this.domain} is not an insecure registry)`,
        err.status,
        err.errors,
      );
    }
    const body = await readBody(res, 1024 * 1024);
    let v: { token?: unknown; access_token?: unknown };
    try {
      v = JSON.parse(body.toString('utf8')) as typeof v;
    } catch {
      throw new RegistryError(`token server ${u.host} sent invalid JSON`, 500);
    }
    const token =
      typeof v.token === 'string' ? v.token : typeof v.access_token === 'string' ? v.access_token : undefined;
    if (!token) throw new RegistryError(`token server ${u.host} sent no token`, 500);
    return token;
  }

  /** GET a manifest by tag or digest. RegistryError on any non-200. */
  async getManifest(reference: string): Promise<FetchedManifest> {
    const res = await this.request('GET', `/v2/${this.repository}/manifests/${reference}`, { Accept: MANIFEST_ACCEPT });
    if (res.status !== 200) throw await errorFrom(res, `manifest ${reference}`);
    const body = await readBody(res, 4 * 1024 * 1024);
    const dh = res.headers['docker-content-digest'];
    return { body, contentType: res.headers['content-type'], digestHeader: typeof dh === 'string' ? dh : undefined };
  }

  /** GET a blob. The caller must consume or destroy the stream. */
  async getBlob(digest: string): Promise<BlobStream> {
    const res = await this.request('GET', `/v2/${this.repository}/blobs/${digest}`);
    if (res.status !== 200) throw await errorFrom(res, `blob ${digest}`);
    const len = res.headers['content-length'];
    return { stream: res.body, size: len !== undefined ? Number(len) : undefined };
  }

  /** True when the registry has the blob in this repository. */
  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${this.repository}/blobs/${digest}`);
    res.body.resume();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw new RegistryError(`blob ${digest}: ${res.status} ${statusText(res.status)}`, res.status);
  }

  /**
   * Ask the registry to mount a blob from another repository of the same registry. True when
   * it did (201); false when it started an ordinary upload instead (202) or refused.
   */
  async mountBlob(digest: string, from: string): Promise<boolean> {
    const q = new URLSearchParams({ mount: digest, from });
    const res = await this.request(
      'POST',
      `/v2/${this.repository}/blobs/uploads/?${q.toString()}`,
      { 'Content-Length': '0' },
      Buffer.alloc(0),
    );
    res.body.resume();
    if (res.status === 202 && typeof res.headers.location === 'string') {
      // An upload session was opened instead: cancel it (registries expire it anyway).
      const del = await this.request('DELETE', new URL(res.headers.location, this.endpoint?.base).toString()).catch(
        () => undefined,
      );
      del?.body.resume();
    }
    return res.status === 201;
  }

  /** Upload a blob (monolithic: POST then PUT with the digest), unless it is already there. */
  async pushBlob(
    digest: string,
    data: Buffer | { size: number; open: () => Readable },
    skipCheck = false,
  ): Promise<void> {
    if (!skipCheck && (await this.hasBlob(digest))) return;
    const start = await this.request(
      'POST',
      `/v2/${this.repository}/blobs/uploads/`,
      { 'Content-Length': '0' },
      Buffer.alloc(0),
    );
    if (start.status !== 202 || typeof start.headers.location !== 'string')
      throw await errorFrom(start, 'blob upload start');
    start.body.resume();
    const loc = new URL(start.headers.location, this.endpoint?.base);
    loc.searchParams.set('digest', digest);
    const size = Buffer.isBuffer(data) ? data.length : data.size;
    const body = Buffer.isBuffer(data) ? data : data.open;
    const put = await this.request(
      'PUT',
      loc.toString(),
      { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
      body,
    );
    if (put.status !== 201) throw await errorFrom(put, `blob upload ${digest}`);
    put.body.resume();
  }

  /** PUT a manifest under a tag or digest. */
  async putManifest(reference: string, mediaType: string, body: Buffer): Promise<void> {
    const res = await this.request(
      'PUT',
      `/v2/${this.repository}/manifests/${reference}`,
      { 'Content-Type': mediaType },
      body,
    );
    if (res.status !== 201) throw await errorFrom(res, `manifest put ${reference}`);
    res.body.resume();
  }

  /** GET /v2/ with the credentials: true when the registry accepts them (or needs none). */
  async checkLogin(): Promise<{ ok: boolean; status: number; url: string }> {
    const res = await this.request('GET', '/v2/');
    res.body.resume();
    return { ok: res.status === 200, status: res.status, url: res.url };
  }
}
