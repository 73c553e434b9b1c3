/**
 * The API versions served and what tells them apart: a request's version (from its `/vX.Y`
 * prefix, else the default) is kept with the request, and every difference between 1.41 and
 * 1.45 that podvisor serves is decided here and in this folder's modules (create.ts for the
 * create body, views.ts for answers), never by comparing version strings in a route.
 */
import type { Response } from 'express';

/** The version an unversioned request is served as, and the one /version and /_ping announce. */
export const DEFAULT_API_VERSION = '1.45';
/** The newest version a `/vX.Y` prefix may name. */
export const MAX_API_VERSION = '1.45';

/** Compare two `major.minor` versions: negative, zero or positive. */
export function compareApiVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

/** Whether version `v` is `min` or newer. */
export function atLeast(v: string, min: string): boolean {
  return compareApiVersions(v, min) >= 0;
}

/** Whether `v` is served exactly as 1.41 (dockerd 20.10): every version up to 1.41. */
export function asV141(v: string): boolean {
  return compareApiVersions(v, V.V1_42) < 0;
}

/** The API version the request is served as (set by the version prefix middleware). */
export function apiVersionOf(res: Response): string {
  const v = (res.locals as { apiVersion?: unknown }).apiVersion;
  return typeof v === 'string' ? v : DEFAULT_API_VERSION;
}

/**
 * The versions that changed a behaviour podvisor serves, each named once. 1.42 is where
 * dockerd 26's answers start (asV141): besides 1.42's own changes, what dockerd 26 does at
 * every version (DNSNames, CDISpecDirs, the image list's `until`, a repeated network name).
 */
export const V = {
  /** stop/restart `signal`, KernelMemory dropped, mount option types, /system/df `type`, volume prune. */
  V1_42: '1.42',
  /** HostConfig.Annotations; `/images/json` lists untagged images with empty RepoTags. */
  V1_43: '1.43',
  /** Several networks at create, MAC per endpoint, Healthcheck.StartInterval, no VirtualSize. */
  V1_44: '1.44',
  /** VolumeOptions.Subpath; image inspect without Container/ContainerConfig; Aliases as asked. */
  V1_45: '1.45',
} as const;
