/**
 * POST /auth: check registry credentials for `docker login`, dockerd's way: a 200
 * {"IdentityToken":"","Status":"Login Succeeded"} or the registry's refusal (dockerd 20.10
 * answers a rejected Basic login with a 500 naming the URL and the status).
 */
import type { Router } from 'express';
import type { ApiServices } from './services';
import { sendJson, svc } from './kit/params';
import type { AuthConfig } from '../../storage/registry/auth';
import { typed } from './schema/routes';

/** Register the auth route. */
export function register(router: Router, services: ApiServices): void {
  router.post(
    '/auth',
    typed('POST /auth', async ({ body }, _req, res) => {
      const images = svc(services, 'images');
      const auth: AuthConfig = {};
      for (const [k, v] of Object.entries(body)) if (v) auth[k as keyof AuthConfig] = v;
      await images.login(auth);
      sendJson(res, 200, { IdentityToken: '', Status: 'Login Succeeded' });
    }),
  );
}
