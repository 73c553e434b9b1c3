/**
 * Pull events -> the progress messages dockerd 20.10 streams for `POST /images/create`
 * (its jsonmessage: status, id, progressDetail; the API adds the progress bar string).
 */
import type { LayerPhase, PullEvent } from '../../../storage/pull';

/** One progress message, keys as dockerd names them. */
export interface DockerProgress {
  status: string;
  id?: string;
  /** Present (possibly empty) on per-layer messages. */
  progressDetail?: { current?: number; total?: number };
}

/** dockerd's words for each layer phase ('downloaded' is two messages, as dockerd sends). */
const LAYER_WORDS: Record<LayerPhase, string[]> = {
  exists: ['Already exists'],
  queued: ['Pulling fs layer'],
  waiting: ['Waiting'],
  downloading: ['Downloading'],
  downloaded: ['Verifying Checksum', 'Download complete'],
  extracting: ['Extracting'],
  complete: ['Pull complete'],
};

/** The messages dockerd streams for one pull event. */
export function dockerProgress(e: PullEvent): DockerProgress[] {
  switch (e.kind) {
    case 'resolved':
      return [{ status: `Pulling from ${e.repository}`, id: e.tagOrDigest }];
    case 'layer': {
      const detail = e.current !== undefined && e.total !== undefined ? { current: e.current, total: e.total } : {};
      return LAYER_WORDS[e.phase].map((status) => ({ status, progressDetail: detail, id: e.layer }));
    }
    case 'stored':
      return [
        { status: `Digest: ${e.digest}` },
        { status: `Status: ${e.updated ? 'Downloaded newer image' : 'Image is up to date'} for ${e.reference}` },
      ];
    case 'image-disk':
      return [{ status: e.made ? 'Image disk made' : 'Making image disk', progressDetail: {}, id: e.image }];
    case 'platform-mismatch':
      return [
        {
          status:
            `WARNING: image with reference ${e.reference} was found but does not match the specified platform: ` +
            `wanted ${e.wanted}, actual: ${e.actual}`,
        },
      ];
  }
}
