/**
 * The labels under `io.podvisor.cri.` in which older podvisors kept the CRI's data on the pod.
 * Read only to make the record of such a pod (./record-store.ts) when a newer daemon first
 * loads it, so that an upgrade loses no sandbox or container; nothing writes them any more.
 */
import type { PodRecord } from '../../pod/types';
import type { CriMount } from './create-request';
import type { ContainerMetadata, PodSandboxMetadata, StringMap } from './messages';
import type { CriRecord } from './record-types';

/** The prefix of those labels. */
export const LEGACY_LABEL_PREFIX = 'io.podvisor.cri.';

/** Each label's key. */
export const LEGACY_LABELS = {
  kind: `${LEGACY_LABEL_PREFIX}kind`,
  metadata: `${LEGACY_LABEL_PREFIX}metadata`,
  labels: `${LEGACY_LABEL_PREFIX}labels`,
  annotations: `${LEGACY_LABEL_PREFIX}annotations`,
  sandbox: `${LEGACY_LABEL_PREFIX}sandbox`,
  logDirectory: `${LEGACY_LABEL_PREFIX}log-directory`,
  logPath: `${LEGACY_LABEL_PREFIX}log-path`,
  image: `${LEGACY_LABEL_PREFIX}image`,
  mounts: `${LEGACY_LABEL_PREFIX}mounts`,
  pidMode: `${LEGACY_LABEL_PREFIX}pid-mode`,
} as const;

/** A label's JSON, or `dflt` when absent or unreadable. */
function json<T>(v: string | undefined, dflt: T): T {
  try {
    return v ? (JSON.parse(v) as T) : dflt;
  } catch {
    return dflt;
  }
}

/** The record of a pod an older podvisor made for the CRI, from its labels; undefined for any other pod. */
export function recordFromLabels(pod: PodRecord): CriRecord | undefined {
  const l = pod.sandbox.spec.labels;
  const L = LEGACY_LABELS;
  const common = {
    id: pod.id,
    name: pod.name,
    labels: json<StringMap>(l[L.labels], {}),
    annotations: json<StringMap>(l[L.annotations], {}),
  };
  if (l[L.kind] === 'sandbox')
    return {
      ...common,
      kind: 'sandbox',
      metadata: json<Partial<PodSandboxMetadata>>(l[L.metadata], {}),
      logDirectory: l[L.logDirectory] ?? '',
      // Before the mode was kept, every sandbox had a PID namespace per container.
      pidMode: l[L.pidMode] ?? 'CONTAINER',
    };
  if (l[L.kind] === 'container')
    return {
      ...common,
      kind: 'container',
      metadata: json<Partial<ContainerMetadata>>(l[L.metadata], {}),
      sandboxId: l[L.sandbox] ?? '',
      logPath: l[L.logPath] ?? '',
      image: l[L.image] ?? '',
      mounts: json<CriMount[]>(l[L.mounts], []),
    };
  return undefined;
}
