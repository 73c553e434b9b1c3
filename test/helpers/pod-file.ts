/**
 * A pod file's pod as the daemon makes it, without the daemon: read (src/api/native/podspec),
 * made into the neutral pod request (podspec-request.ts), checked and translated once
 * (src/translate/request/request-pods.ts), each image looked up once by the reference the file
 * names. With no host networks given the pod gets loopback only (its ports cannot be published).
 */
import * as crypto from 'node:crypto';
import type { PodManifest } from '../../src/api/native/podspec/podspec';
import { podRequestOf } from '../../src/api/native/podspec/podspec-request';
import type { PodSpec, PodVmSize } from '../../src/pod/types';
import type { ImageRecord } from '../../src/storage/types';
import type { PortRequest } from '../../src/translate/request/container-request';
import { checkPodRequest, translatePodRequest } from '../../src/translate/request/request-pods';

/** What podOfFile needs besides the file. */
export interface PodFileOptions {
  /** The pod's id (its main container's). */
  id: string;
  resolveImage(ref: string): Promise<ImageRecord>;
  /** The daemon's VM size. */
  defaults: PodVmSize;
  hostCpus: number;
}

/** The pod of a read pod file, its name and its ports (see the module comment). */
export async function podOfFile(
  m: PodManifest,
  opts: PodFileOptions,
): Promise<{ spec: PodSpec; name?: string; ports: PortRequest[] }> {
  const req = podRequestOf(m);
  checkPodRequest(req, opts.hostCpus);
  const images = new Map<string, ImageRecord>();
  for (const c of [...req.initContainers, ...req.containers])
    if (!images.has(c.image)) images.set(c.image, await opts.resolveImage(c.image));
  const spec = translatePodRequest(req, images, opts.id, { defaults: opts.defaults, hostCpus: opts.hostCpus }, () =>
    crypto.randomBytes(32).toString('hex'),
  );
  return { spec, ...(req.name ? { name: req.name } : {}), ports: req.ports };
}
