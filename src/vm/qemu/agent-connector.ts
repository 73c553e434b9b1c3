/**
 * How the hypervisor reaches a VM's agent: a function from the two channel sockets to a
 * connected Agent (version handshake done). The real one is AgentClient.connect; tests of the
 * boot machinery may pass another.
 */
import type { Agent } from '../types';

/** The host ends of a VM's agent channels. */
export interface AgentEndpoints {
  /** Unix socket of the control channel (virtio-serial port org.podvisor.ctl). */
  ctlPath: string;
  /** Unix socket of the stream channel (org.podvisor.io). */
  ioPath: string;
  /** Give up (reject) when the agent has not answered the handshake within this time. */
  timeoutMs: number;
}

/** Connects to an agent; rejects when it does not answer in time or the channel closes. */
export type AgentConnector = (endpoints: AgentEndpoints) => Promise<Agent>;
