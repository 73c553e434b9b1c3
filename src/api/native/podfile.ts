/**
 * Pod files on the native API, decoded: a Kubernetes v1 Pod or a hyper podfile, sent as a
 * JSON object (the request's `spec`) or as the file's text (a YAML request body), read by
 * src/translate/podspec/podspec.ts. The pod is made by the creation service (src/engine/native.ts).
 */
import { parsePodFile, readPodObject, type PodManifest } from '../../translate/podspec/podspec';

/** Whether a JSON spec is a pod file (Kubernetes `apiVersion`/`kind`, hyper `containers`) rather than the single-container spec. */
export function isPodFileObject(v: unknown): boolean {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  return 'apiVersion' in v || 'kind' in v || 'containers' in v;
}

/** Read a pod file given as text (YAML or JSON) or as a parsed JSON object. */
export function manifestOf(file: string | object): PodManifest {
  return typeof file === 'string' ? parsePodFile(file) : readPodObject(file);
}
