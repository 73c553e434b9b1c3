/**
 * Push events -> the messages dockerd 20.10 streams for `POST /images/{name}/push`: "The push
 * refers to repository [...]", per layer Preparing / Pushing / Pushed / Layer already exists /
 * Mounted from ..., then "<tag>: digest: <digest> size: <n>" and the aux record the CLI reads.
 */
import type { PushEvent } from '../../../storage/push';
import type { DockerProgress } from './pull-progress';

/** One message of the push stream: a progress message, or dockerd's aux record. */
export type PushMessage = { progress: DockerProgress } | { aux: { Tag: string; Digest: string; Size: number } };

const WORDS = { preparing: 'Preparing', pushing: 'Pushing', pushed: 'Pushed', exists: 'Layer already exists' } as const;

/** The messages dockerd streams for one push event. */
export function dockerPushMessages(e: PushEvent): PushMessage[] {
  switch (e.kind) {
    case 'started':
      return [{ progress: { status: `The push refers to repository [${e.repository}]` } }];
    case 'layer': {
      const detail = e.current !== undefined && e.total !== undefined ? { current: e.current, total: e.total } : {};
      return [{ progress: { status: WORDS[e.phase], progressDetail: detail, id: e.layer } }];
    }
    case 'mounted':
      return [{ progress: { status: `Mounted from ${e.from}`, progressDetail: {}, id: e.layer } }];
    case 'tagged':
      return [
        { progress: { status: `${e.tag}: digest: ${e.digest} size: ${e.size}` } },
        { aux: { Tag: e.tag, Digest: e.digest, Size: e.size } },
      ];
  }
}
