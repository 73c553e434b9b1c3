/**
 * What a build is asked and what it answers: its options (the query of POST /build), the
 * messages of its output stream, and its failure (dockerd's message, and a failing RUN's exit
 * code).
 */
/** Build options (the query of POST /build). */
export interface BuildOptions {
  tags: string[];
  quiet: boolean;
  noCache: boolean;
  /** Remove the step containers after a successful step (default true). */
  rm: boolean;
  /** Remove them after a failed one too. */
  forceRm: boolean;
  pull: boolean;
  buildArgs: Record<string, string | null>;
  labels: Record<string, string>;
  target?: string;
  /**
   * `--squash` (a daemon in experimental mode only): the built image's layers above its last
   * stage's base become one, and that image is the one tagged (dockerd's order of messages).
   */
  squash?: boolean;
  /**
   * `--cache-from`: when given, a step may reuse only these images (the named images and
   * their parents, as dockerd's classic builder's isParent walk finds them); a name that is
   * no local image adds nothing, so only unknown names mean no cache at all.
   */
  cacheSources?: ReadonlySet<string>;
  /**
   * Aborted when the client went away: as dockerd's classic builder, the build stops before
   * its next step ("Build cancelled") and a RUN step's container is killed and removed.
   */
  signal?: AbortSignal;
}

/** One message of the build's output stream. */
export type BuildMessage =
  | { stream: string }
  | { aux: { ID: string } }
  | { id: 'moby.image.id'; aux: { ID: string } }
  | { status: string };

/** A build that failed: dockerd's message, and the exit code of a failing RUN. */
export class BuildError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

/** The proxy build args: passed to RUN steps without being declared, and never reported unused. */
export const PROXY_ARGS = new Set([
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'FTP_PROXY',
  'ftp_proxy',
  'NO_PROXY',
  'no_proxy',
  'ALL_PROXY',
  'all_proxy',
]);
