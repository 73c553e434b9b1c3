/**
 * POST /auth: check registry credentials for `docker login`, dockerd's way: a 200
 * {"IdentityToken":"","Status":"Login Succeeded"} or the registry's refusal (dockerd 20.10
 * answers a rejected Basic login with a 500 naming the URL and the status).
 */
import type { Router } from 'express';
import express from 'express';
import type { ApiServices } from './services';
import { sendJson } from './images';
import type { AuthConfig } from '../../storage/registry/auth';
import { InvalidArgumentError, UnavailableError } from '../../errors';

/** Register the auth route. */
export function register(router: Router, services: ApiServices): void {
  router.post('/auth', express.json({ type: () => true, limit: '64kb' }), async (req, res) => {
    if (!services.images) throw new UnavailableError('the image service is not available');
    const b: unknown = req.body;
    if (!b || typeof b !== 'object' || Array.isArray(b)) throw new InvalidArgumentError('invalid auth configuration: expected a JSON object');
    const o = b as Record<string, unknown>;
    const auth: AuthConfig = {};
    for (const k of ['username', 'password', 'auth', 'email', 'serveraddress', 'identitytoken', 'registrytoken'] as const) {
      if (o[k] !== undefined && typeof o[k] !== 'string') throw new InvalidArgumentError(`invalid auth configuration: ${k} must be a string`);
      if (typeof o[k] === 'string' && o[k] !== '') auth[k] = o[k] as string;
    }
    sendJson(res, await services.images.login(auth));
  });
}
