/**
 * Credit-based flow control ledgers for one stream (see FLOW CONTROL in
 * guest/include/podvisor_agent.h). Credits are absolute stream offsets, so duplicated or
 * reordered CREDIT frames are harmless: the limit only grows.
 */
import { protocolError } from './tlv';

/**
 * Guest -> host (stdout/stderr): how far the host lets the agent send. The host keeps at
 * most one window outstanding beyond what its consumer has taken, so host memory per stream
 * stays bounded by the window plus the consumer's own buffer.
 */
export class OutputCredit {
  /** Bytes received so far (absolute offset). */
  received: number;
  /** The agent may send up to this offset. */
  limit: number;

  /**
   * @param window bytes allowed in flight
   * @param start offset the stream starts at (non-zero after a reattach)
   * @param limit the limit the agent already has (START_PROCESS's WINDOW), default start
   */
  constructor(
    readonly window: number,
    start = 0,
    limit = start,
  ) {
    this.received = start;
    this.limit = limit;
  }

  /** Account for n received bytes; a guest sending beyond its credit is a protocol error. */
  onData(n: number): void {
    if (this.received + n > this.limit) {
      throw protocolError(`agent sent ${this.received + n - this.limit} bytes beyond its credit`);
    }
    this.received += n;
  }

  /**
   * The consumer wants more: the new limit to announce, or undefined when the current one
   * is still close enough (avoids a CREDIT frame per read).
   */
  grant(): number | undefined {
    const next = this.received + this.window;
    if (next - this.limit < this.window / 4) return undefined;
    this.limit = next;
    return next;
  }

  /** Grant unconditionally (the consumer is gone and output is discarded). */
  grantAll(): number | undefined {
    const next = this.received + this.window;
    if (next <= this.limit) return undefined;
    this.limit = next;
    return next;
  }
}

/** Host -> guest (stdin): how much the host may still send. */
export class InputCredit {
  constructor(
    /** Bytes sent so far (absolute offset). */
    public sent: number,
    /** The agent accepts up to this offset. */
    public limit: number,
  ) {}

  /** Bytes that may be sent now. */
  available(): number {
    return Math.max(0, this.limit - this.sent);
  }

  /** Account for n sent bytes. */
  onSent(n: number): void {
    this.sent += n;
  }

  /** A CREDIT from the agent; returns true when it raised the limit. */
  onCredit(limit: number): boolean {
    if (limit <= this.limit) return false;
    this.limit = limit;
    return true;
  }
}
