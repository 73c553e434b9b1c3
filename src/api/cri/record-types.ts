/**
 * What the CRI front keeps of a sandbox or container beside its pod (./record-store.ts keeps
 * them on disk): the fields of its config that the pod layer has no place for.
 */
import type { CriMount } from './create-request';
import type { ContainerMetadata, PodSandboxMetadata, StringMap } from './messages';

/** What every CRI record holds. */
export interface CriRecordBase {
  /** The pod's id ('' while its create has not returned). */
  id: string;
  /** The pod's name (how a pending record finds its pod). */
  name: string;
  /** The config's labels (the kubelet's). */
  labels: StringMap;
  /** The config's annotations. */
  annotations: StringMap;
}

/** A CRI sandbox's record. */
export interface CriSandboxRecord extends CriRecordBase {
  kind: 'sandbox';
  metadata: Partial<PodSandboxMetadata>;
  /** log_directory: where its containers' log paths are rooted ('' for none). */
  logDirectory: string;
  /** Its PID namespace mode (POD or CONTAINER), as its config asked. */
  pidMode: string;
}

/** What a restored container's record keeps of its archive (./checkpoint-restore.ts). */
export interface RestoredFrom {
  /** The archive's path, as the config named it. */
  archive: string;
  /** The id the guest knows the saved container by (its disks' name). */
  savedId: string;
}

/** A CRI container's record. */
export interface CriContainerRecord extends CriRecordBase {
  kind: 'container';
  metadata: Partial<ContainerMetadata>;
  /** The id of its sandbox's pod. */
  sandboxId: string;
  /** Its CRI log file (log_directory + log_path; '' for none). */
  logPath: string;
  /** The image as the config named it (a restored container's: its saved container's image). */
  image: string;
  mounts: CriMount[];
  /** A container restored from a checkpoint archive (./checkpoint-restore.ts): the archive and its saved container. */
  restoredFrom?: RestoredFrom;
}

/** A CRI sandbox's or container's record. */
export type CriRecord = CriSandboxRecord | CriContainerRecord;

/** A record before its pod exists: everything but the id. */
export type NewCriRecord = Omit<CriSandboxRecord, 'id'> | Omit<CriContainerRecord, 'id'>;
