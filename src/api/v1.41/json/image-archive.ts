/**
 * Load events -> the JSON messages dockerd 20.10 streams for `POST /images/load`: `Loading
 * layer` progress (left out when quiet) and `{"stream": "Loaded image: ...\n"}` lines.
 */
import type { LoadEvent } from '../../../storage/archive-image/load';
import type { DockerProgress } from './pull-progress';

/** One message of the load stream: a progress message, or a `stream` line. */
export type LoadMessage = { progress: DockerProgress } | { stream: string };

/** The messages dockerd streams for one load event. */
export function dockerLoadMessages(e: LoadEvent, quiet: boolean): LoadMessage[] {
  switch (e.kind) {
    case 'layer':
      return quiet
        ? []
        : [
            {
              progress: {
                status: 'Loading layer',
                progressDetail: { current: e.current, total: e.total },
                id: e.layer,
              },
            },
          ];
    case 'renamed':
      return [
        {
          stream: `The image ${e.reference} already exists, renaming the old one with ID ${e.oldId} to empty string\n`,
        },
      ];
    case 'loaded':
      return [{ stream: `Loaded image: ${e.reference}\n` }];
    case 'loaded-id':
      return [{ stream: `Loaded image ID: ${e.id}\n` }];
  }
}
