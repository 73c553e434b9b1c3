/**
 * The one-time tokens of streaming URLs: each CRI streaming RPC stores its request under a fresh
 * random token; the client's connection to the URL consumes it. As the kubelet's request cache:
 * a token lives one minute, is good for one use, and at most 1000 wait at once.
 */
import { randomBytes } from 'node:crypto';

/** The kinds of request a token can stand for; the URL path names the kind. */
export type TokenKind = 'exec' | 'attach' | 'portforward';

/** Too many requests wait for their client (the CRI answers RESOURCE_EXHAUSTED). */
export class TooManyPendingRequests extends Error {
  constructor() {
    super('maximum number of in-flight requests exceeded');
  }
}

interface Entry<T> {
  kind: TokenKind;
  request: T;
  expires: number;
}

/** Options of a TokenCache. */
export interface TokenCacheOptions {
  /** How long a token is valid, in ms (default 60 s). */
  ttlMs?: number;
  /** The most tokens pending at once (default 1000). */
  maxPending?: number;
  /** The clock (tests). */
  now?: () => number;
}

/** Requests waiting for their client, by token. */
export class TokenCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly ttlMs: number;
  private readonly maxPending: number;
  private readonly now: () => number;

  constructor(opts: TokenCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.maxPending = opts.maxPending ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** Stores a request and returns its token (URL-safe, 128 random bits). */
  insert(kind: TokenKind, request: T): string {
    this.sweep();
    if (this.entries.size >= this.maxPending) throw new TooManyPendingRequests();
    const token = randomBytes(16).toString('base64url');
    this.entries.set(token, { kind, request, expires: this.now() + this.ttlMs });
    return token;
  }

  /**
   * Takes the request stored under `token` for `kind`. The token is gone afterwards whatever the
   * answer; undefined when it is unknown, used, expired or of another kind.
   */
  consume(kind: TokenKind, token: string): T | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    if (entry.kind !== kind || entry.expires <= this.now()) return undefined;
    return entry.request;
  }

  /** How many tokens wait (expired ones swept first). */
  get size(): number {
    this.sweep();
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) if (entry.expires <= now) this.entries.delete(token);
  }
}
