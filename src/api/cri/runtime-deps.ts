/**
 * What the CRI runtime calls are built from (./runtime.ts CriRuntime, and the parts of it that
 * ./runtime-exec.ts and ./runtime-stats.ts take), apart from the calls so that they import it
 * without importing one another.
 */
import type { PodService } from '../../pod/service';
import type { CheckpointImageStore } from './checkpoint-sources';
import type { CriEngine } from './create-request';
import type { CriRecordStore } from './record-store';
import type { StreamingServer } from './streaming';
import type { SandboxCounters } from './stats';

/** The pod's address on the CNI network (the daemon's CniNetworks.get). */
export type SandboxAddress = (id: string) => Promise<{ ip?: string; additionalIps: string[] } | undefined>;

/** What the runtime calls are built from. */
export interface CriRuntimeDeps {
  engine: CriEngine;
  pods: PodService;
  /** The CRI front's records of its sandboxes and containers. */
  records: CriRecordStore;
  /** The infra image of every sandbox, made local (pulled when missing) before each RunPodSandbox. */
  sandboxImage(): Promise<string>;
  address: SandboxAddress;
  /** A sandbox's CNI interface counters, for PodSandboxStats' network (absent: none reported). */
  counters?: SandboxCounters;
  /** Tear down a sandbox's CNI network (idempotent): RemovePodSandbox of one whose VM died unseen. */
  releaseNetwork(id: string): Promise<void>;
  /** The image store, for CreateContainer to tell a checkpoint image (absent: none is one). */
  checkpointImages?: CheckpointImageStore;
  /** The streaming server whose URLs Exec, Attach and PortForward answer (absent: UNIMPLEMENTED). */
  streaming?: () => StreamingUrls | undefined;
}

/** What the runtime asks of the streaming server (./streaming). */
export type StreamingUrls = Pick<StreamingServer, 'getExecUrl' | 'getAttachUrl' | 'getPortForwardUrl'>;
