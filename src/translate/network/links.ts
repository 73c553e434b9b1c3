/**
 * Legacy links in Docker's forms: HostConfig.Links and EndpointSettings.Links as a client sends
 * them (`name:alias`, `name`, or dockerd's stored `/name:/me/alias`), read into the typed links
 * of src/net/legacy-links.ts, and written back as dockerd's inspect shows them.
 */
import { InvalidArgumentError, PlainError } from '../../errors';
import type { LegacyLink } from '../../net/legacy-links';

/**
 * Parse HostConfig.Links or EndpointSettings.Links: `name:alias`, `name`, or dockerd's own
 * stored form `/name:/me/alias` (a client may send back what inspect showed). An empty link
 * and one of more than two parts are dockerd's plain errors (500, its words); one with an
 * empty name or alias a 400.
 */
export function parseLinks(links: readonly string[] | null | undefined): LegacyLink[] {
  return (links ?? []).map((l) => {
    if (l === '') throw new PlainError('empty string specified for links');
    const parts = l.split(':');
    if (parts.length > 2) throw new PlainError(`bad format for links: ${l}`);
    if (!parts[0] || parts[1] === '') throw new InvalidArgumentError(`invalid link format: ${l}`);
    const name = parts[0].replace(/^\//, '');
    const alias = parts.length === 2 ? (parts[1].split('/').pop() ?? '') : name;
    if (!name || !alias) throw new InvalidArgumentError(`invalid link format: ${l}`);
    return { name, alias };
  });
}

/** HostConfig.Links as dockerd's inspect shows them: `/name:/me/alias`. */
export function inspectLinks(links: readonly LegacyLink[], me: string): string[] {
  return links.map((l) => `/${l.name}:/${me}/${l.alias}`);
}

/** EndpointSettings.Links on a user network, as dockerd's inspect shows them: `name:alias`. */
export function endpointLinks(links: readonly LegacyLink[]): string[] {
  return links.map((l) => `${l.name}:${l.alias}`);
}
