/**
 * dockerd's embedded HostConfig: a create body may give HostConfig fields at its top level
 * (the deprecated `*container.HostConfig` embedded in runconfig's ContainerConfigWrapper;
 * docker-py's `runtime=` is sent as a top-level `Runtime`). dockerd's getHostConfig takes them
 * as the whole HostConfig when the body has none, and otherwise fills only the memory, swap,
 * CPU shares, cpuset and volume driver that the body's HostConfig leaves unset, dropping the
 * rest. This does the same, once, before anything else reads the body.
 */
import { HostConfigSchema } from './docker-schema';

/** The top-level fields dockerd copies into a given HostConfig where that one leaves them unset. */
const FILLED_FROM_TOP = ['Memory', 'MemorySwap', 'CpuShares', 'CpusetCpus', 'VolumeDriver'] as const;

/** Whether `v` is set as Go sees a field: not zero, not empty. */
function isSet(v: unknown): boolean {
  return v !== undefined && v !== null && v !== 0 && v !== '';
}

/**
 * Create body `body` (decoded) with its top-level HostConfig fields resolved as dockerd
 * resolves them (see the module comment) and removed from its top level; a body without any
 * is returned as it is.
 */
export function withEmbeddedHostConfig<B extends object>(body: B): B {
  const b = body as Record<string, unknown>;
  const top = Object.keys(b).filter((k) => k !== 'HostConfig' && k in HostConfigSchema.properties);
  if (top.length === 0) return body;
  const rest = Object.fromEntries(Object.entries(b).filter(([k]) => !top.includes(k)));
  const given = b.HostConfig as Record<string, unknown> | null | undefined;
  if (given === undefined || given === null) {
    return { ...rest, HostConfig: Object.fromEntries(top.map((k) => [k, b[k]])) } as B;
  }
  const hostConfig = { ...given };
  for (const k of FILLED_FROM_TOP) if (isSet(b[k]) && !isSet(hostConfig[k])) hostConfig[k] = b[k];
  return { ...rest, HostConfig: hostConfig } as B;
}
