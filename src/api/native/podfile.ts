/**
 * Pod files on the native API, decoded: a Kubernetes v1 Pod or a hyper podfile, sent as a
 * JSON object (the request's `spec`) or as the file's text (a YAML request body), read by
 * ./podspec/podspec.ts and made into the neutral pod request (./podspec/podspec-request.ts).
 * The pod is made of it by the creation service (src/engine/native.ts).
 */
import type { PodRequest } from '../../translate/request/pod-request';
import { parsePodFile, readPodObject, type PodManifest } from './podspec/podspec';
import { podRequestOf } from './podspec/podspec-request';

/** Whether a JSON spec is a pod file (Kubernetes `apiVersion`/`kind`, hyper `containers`) rather than the single-container spec. */
export function isPodFileObject(v: unknown): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  return 'apiVersion' in v || 'kind' in v || 'containers' in v;
}

/** Read a pod file given as text (YAML or JSON) or as a parsed JSON object. */
export function manifestOf(file: string | object): PodManifest {
  return typeof file === 'string' ? parsePodFile(file) : readPodObject(file);
}

/** A pod file given as text or as a parsed JSON object, as the neutral pod request. */
export function podRequestOfFile(file: string | object): PodRequest {
  return podRequestOf(manifestOf(file));
}
