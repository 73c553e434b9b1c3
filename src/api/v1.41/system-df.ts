/**
 * GET /system/df (`docker system df`) in dockerd 20.10's shape. Images count their containers
 * and the bytes of their layers that another image shares (layers told apart by chain ID, as
 * dockerd's layer store keys them); LayersSize counts every layer an image refers to once.
 * Containers are the `ps -a --size` summaries. Volumes carry UsageData: the bytes under the
 * volume (hard links counted once) and how many containers mount it. There is no BuildKit
 * cache: BuildCache holds warm starts' states (docs/warm-starts.md), the one cache a podvisor
 * daemon keeps for runs, and is null without them, as dockerd answers without BuildKit.
 */
import type { ApiServices } from './services';
import type { StoredImageView } from '../../storage/images';
import { chainIds } from '../../storage/digest';
import { mainContainer, podSpecOf, type PodRecord } from '../../pod/types';
import { volumeUsers } from '../../pod/types';
import { containerSummary } from './json/inspect';
import { imageDiskUsageJson } from './json/images';
import { volumeJson } from './volumes';
import type { WarmStateUsage } from '../../engine/warm-starts';

/** Images with their container counts and shared sizes, and the bytes of all their layers. */
function imagesUsage(
  services: ApiServices,
  records: PodRecord[],
): { images: Record<string, unknown>[]; layersSize: number } {
  const images = services.images;
  if (!images) return { images: [], layersSize: 0 };
  const list: StoredImageView[] = images.store.list();
  const sizeOf = (diffId: string): number => {
    try {
      return images.layers.get(diffId).size;
    } catch {
      return 0;
    }
  };
  // chain ID -> [images referring to it, its layer's size]
  const refs = new Map<string, { count: number; size: number }>();
  const chains = list.map((img) => {
    const ids = chainIds(img.layers);
    ids.forEach((chain, i) => {
      const r = refs.get(chain);
      if (r) r.count++;
      else refs.set(chain, { count: 1, size: sizeOf(img.layers[i]) });
    });
    return ids;
  });
  const out = list.map((img, i) => {
    const containers = records.filter((r) => Object.values(r.containers).some((x) => x.spec.image === img.id)).length;
    const shared = chains[i].reduce((n, chain) => n + (refs.get(chain)!.count > 1 ? refs.get(chain)!.size : 0), 0);
    return { ...imageDiskUsageJson(img, containers), SharedSize: shared };
  });
  let layersSize = 0;
  for (const r of refs.values()) layersSize += r.size;
  return { images: out, layersSize };
}

/** Each image's bytes shared with another image, by image ID (`GET /images/json?shared-size=1`). */
export function sharedSizes(services: ApiServices): Map<string, number> {
  return new Map(imagesUsage(services, []).images.map((img) => [img.Id as string, img.SharedSize as number]));
}

/** A warm state as a BuildKit cache record (`docker system df -v` lists it under Build cache). */
function warmStateJson(u: WarmStateUsage): Record<string, unknown> {
  return {
    ID: u.key.slice(0, 25),
    Parent: '',
    Type: 'warm-start',
    Description: `podvisor warm start of image ${u.image.slice(7, 19)}`,
    InUse: u.inUse,
    Shared: false,
    Size: u.bytes,
    CreatedAt: u.created.toISOString(),
    LastUsedAt: u.lastUsed ? u.lastUsed.toISOString() : null,
    UsageCount: u.uses,
  };
}

/** The body of GET /system/df. */
export async function diskUsage(services: ApiServices): Promise<Record<string, unknown>> {
  const c = services.containers;
  const records = c?.pods.list() ?? [];
  const containers = [];
  for (const r of records) {
    const rw = c ? await c.pods.sizeRw(r.id) : 0;
    let base = 0;
    try {
      base = c ? (await c.images.resolve(mainContainer(r).spec.image)).size : 0;
    } catch {
      // Image gone.
    }
    containers.push(containerSummary(r, { size: { rw, rootFs: rw + base } }));
  }
  const { images, layersSize } = imagesUsage(services, records);
  const vs = services.volumes;
  const volumes = [];
  if (vs) {
    const pods = records.map((r) => ({ id: r.id, spec: podSpecOf(r) }));
    for (const v of vs.store.list()) {
      volumes.push({
        ...volumeJson(v, vs.store),
        UsageData: { RefCount: volumeUsers(pods, v.name).length, Size: await vs.store.size(v.name) },
      });
    }
  }
  const warm = (await c?.warmStarts?.usage()) ?? [];
  return {
    LayersSize: layersSize,
    Images: images,
    Containers: containers,
    Volumes: volumes,
    BuildCache: warm.length ? warm.map(warmStateJson) : null,
    BuilderSize: warm.reduce((n, u) => n + u.bytes, 0),
  };
}
