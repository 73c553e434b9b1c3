/**
 * System routes: /_ping (GET and HEAD, with dockerd's headers).
 * /version, /info, /events and /system/df are added by the container work.
 */
import type { Router } from 'express';
import type { ApiServices } from './services';
import { API_VERSION } from './version';

/** Headers dockerd sets on every /_ping answer; the CLI reads API-Version and OSType. */
function pingHeaders(): Record<string, string> {
  return {
    'API-Version': API_VERSION,
    'OSType': 'linux',
    'Docker-Experimental': 'false',
    'Cache-Control': 'no-cache, no-store, must-revalidate',
    'Pragma': 'no-cache',
  };
}

/** Register the system routes. */
export function register(router: Router, _services: ApiServices): void {
  router.get('/_ping', (_req, res) => {
    res.set(pingHeaders()).type('text/plain').send('OK');
  });
  router.head('/_ping', (_req, res) => {
    res.set(pingHeaders()).type('text/plain').set('Content-Length', '0').end();
  });
}
