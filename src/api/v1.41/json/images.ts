/**
 * Stored images -> the JSON dockerd 20.10 answers for them: `GET /images/json` summaries,
 * `GET /images/{name}/json` (ImageInspect), `GET /images/{name}/history`, the images of
 * `GET /system/df`, and the items of `DELETE /images/{name}` and image prune. Pure functions:
 * storage hands neutral records (StoredImageView, ImageRemoval); what the layer store knows
 * (directories, sizes) is passed in.
 */
import type { ImageRemoval, StoredImageView } from '../../../storage/images';
import type { DistributionRecord } from '../../../storage/service';

/** The image's creation time in Unix seconds (0 when the config has none). */
export function createdSeconds(img: StoredImageView): number {
  const t = img.config.created ? Date.parse(img.config.created) : NaN;
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

/** The image config's labels (an empty or absent map: none). */
export function imageLabels(img: StoredImageView): Record<string, string> | null {
  const l = img.config.config?.Labels;
  return l && Object.keys(l).length ? l : null;
}

/** Go marshals maps with sorted keys. */
function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(o)
      .sort()
      .map((k) => [k, o[k]]),
  );
}

/** One `GET /images/json` entry (`docker images`), keys in dockerd's order. */
export function imageSummaryJson(img: StoredImageView): Record<string, unknown> {
  const none = img.repoTags.length === 0 && img.repoDigests.length === 0;
  const labels = imageLabels(img);
  return {
    Containers: -1,
    Created: createdSeconds(img),
    Id: img.id,
    Labels: labels ? sortKeys(labels) : null,
    ParentId: img.parent ?? '',
    RepoDigests: none ? ['<none>@<none>'] : img.repoDigests,
    RepoTags: none || img.repoTags.length === 0 ? ['<none>:<none>'] : img.repoTags,
    SharedSize: -1,
    Size: img.size,
    VirtualSize: img.size,
  };
}

/** One image of `GET /system/df`, with the number of containers using it. */
export function imageDiskUsageJson(
  img: StoredImageView,
  containers: number,
): Record<string, unknown> & { Size: number } {
  return {
    Containers: containers,
    Created: img.config.created ? Math.floor(Date.parse(img.config.created) / 1000) : 0,
    Id: img.id,
    Labels: imageLabels(img) ? sortKeys(imageLabels(img)!) : (img.config.config?.Labels ?? null),
    ParentId: img.parent ?? '',
    RepoDigests: img.repoDigests.length ? img.repoDigests : null,
    RepoTags: img.repoTags.length ? img.repoTags : null,
    SharedSize: -1,
    Size: img.size,
    VirtualSize: img.size,
  };
}

/** A container config section with Docker's field order and defaults. */
function containerConfig(c: Record<string, unknown> | undefined): Record<string, unknown> {
  const src = c ?? {};
  const o: Record<string, unknown> = {
    Hostname: src.Hostname ?? '',
    Domainname: src.Domainname ?? '',
    User: src.User ?? '',
    AttachStdin: src.AttachStdin ?? false,
    AttachStdout: src.AttachStdout ?? false,
    AttachStderr: src.AttachStderr ?? false,
  };
  if (src.ExposedPorts && Object.keys(src.ExposedPorts as object).length)
    o.ExposedPorts = sortKeys(src.ExposedPorts as Record<string, unknown>);
  o.Tty = src.Tty ?? false;
  o.OpenStdin = src.OpenStdin ?? false;
  o.StdinOnce = src.StdinOnce ?? false;
  o.Env = src.Env ?? null;
  o.Cmd = src.Cmd ?? null;
  if (src.Healthcheck) o.Healthcheck = src.Healthcheck;
  if (src.ArgsEscaped) o.ArgsEscaped = src.ArgsEscaped;
  o.Image = src.Image ?? '';
  o.Volumes = src.Volumes ? sortKeys(src.Volumes as Record<string, unknown>) : null;
  o.WorkingDir = src.WorkingDir ?? '';
  o.Entrypoint = src.Entrypoint ?? null;
  if (src.NetworkDisabled) o.NetworkDisabled = src.NetworkDisabled;
  if (src.MacAddress) o.MacAddress = src.MacAddress;
  o.OnBuild = src.OnBuild ?? null;
  o.Labels = src.Labels ? sortKeys(src.Labels as Record<string, unknown>) : null;
  if (src.StopSignal) o.StopSignal = src.StopSignal;
  if (src.StopTimeout !== undefined && src.StopTimeout !== null) o.StopTimeout = src.StopTimeout;
  if (src.Shell) o.Shell = src.Shell;
  return o;
}

/** A timestamp as Go's RFC3339Nano marshals it (fraction without trailing zeros, `Z` for UTC). */
export function goTime(iso: string | undefined): string {
  if (!iso) return '0001-01-01T00:00:00Z';
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i.exec(iso);
  if (!m) return iso;
  const frac = (m[2] ?? '').replace(/0+$/, '');
  const zone = m[3] === '+00:00' || m[3] === '-00:00' || m[3].toUpperCase() === 'Z' ? 'Z' : m[3];
  return `${m[1]}${frac ? '.' + frac : ''}${zone}`;
}

/**
 * The ImageInspect body dockerd returns. `layerDirs`: the host directories of the image's
 * layers, lowest first (`<layer>/diff`), shown as overlay2's GraphDriver data.
 */
export function imageInspectJson(img: StoredImageView, layerDirs: readonly string[]): Record<string, unknown> {
  const raw = img.config as unknown as Record<string, unknown>;
  const dirs = [...layerDirs].reverse();
  const top = dirs[0];
  const topRoot = top ? top.replace(/\/diff$/, '') : '';
  const graph: Record<string, string> = {};
  if (dirs.length > 1) graph.LowerDir = dirs.slice(1).join(':');
  if (top) {
    graph.MergedDir = `${topRoot}/merged`;
    graph.UpperDir = top;
    graph.WorkDir = `${topRoot}/work`;
  }
  const o: Record<string, unknown> = {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: img.repoDigests,
    Parent: img.parent ?? '',
    // dockerd shows the last history entry's comment when the image has none of its own.
    Comment: (typeof raw.comment === 'string' && raw.comment) || (img.config.history ?? []).at(-1)?.comment || '',
    Created: goTime(img.config.created),
    Container: typeof raw.container === 'string' ? raw.container : '',
    ContainerConfig: containerConfig(raw.container_config as Record<string, unknown> | undefined),
    DockerVersion: typeof raw.docker_version === 'string' ? raw.docker_version : '',
    Author: img.config.author ?? '',
    Config: img.config.config ? containerConfig(img.config.config as Record<string, unknown>) : null,
    Architecture: img.config.architecture ?? '',
  };
  if (typeof raw.variant === 'string' && raw.variant) o.Variant = raw.variant;
  o.Os = img.config.os ?? '';
  if (typeof raw['os.version'] === 'string' && raw['os.version']) o.OsVersion = raw['os.version'];
  o.Size = img.size;
  o.VirtualSize = img.size;
  o.GraphDriver = { Data: graph, Name: 'overlay2' };
  o.RootFS = { Type: 'layers', Layers: img.layers };
  o.Metadata = { LastTagTime: goTime(img.lastTagTime) };
  return o;
}

/**
 * `GET /images/{name}/history`, newest first. `layerSize`: the unpacked size of a layer by
 * diff ID (undefined when the layer store does not have it). `ancestry`: the image and its
 * stored parents, nearest first; as in dockerd, the n-th entry from the top shows the n-th
 * image of that chain (a built image's steps each added one entry), the rest `<missing>`.
 */
export function imageHistoryJson(
  img: StoredImageView,
  layerSize: (diffId: string) => number | undefined,
  ancestry: readonly StoredImageView[] = [img],
): unknown[] {
  const history = img.config.history?.length
    ? img.config.history
    : img.layers.map(() => ({}) as NonNullable<typeof img.config.history>[number]);
  let layer = 0;
  const rows = history.map((h) => {
    let size = 0;
    if (!h.empty_layer) {
      const d = img.layers[layer++];
      if (d) size = layerSize(d) ?? 0;
    }
    const t = h.created ? Date.parse(h.created) : NaN;
    return {
      Comment: h.comment ?? '',
      Created: Number.isFinite(t) ? Math.floor(t / 1000) : 0,
      CreatedBy: h.created_by ?? '',
      Id: '<missing>',
      Size: size,
      Tags: null as string[] | null,
    };
  });
  rows.reverse();
  for (let i = 0; i < rows.length && i < ancestry.length; i++) {
    rows[i].Id = ancestry[i].id;
    rows[i].Tags = ancestry[i].repoTags.length ? ancestry[i].repoTags : null;
  }
  return rows;
}

/** The items of `DELETE /images/{name}` and image prune: `{"Untagged": ...}` / `{"Deleted": ...}`. */
export function imageDeleteJson(items: readonly ImageRemoval[]): Array<{ Untagged: string } | { Deleted: string }> {
  return items.map((i) => ('untagged' in i ? { Untagged: i.untagged } : { Deleted: i.deleted }));
}

/** `GET /distribution/{name}/json` (DistributionInspect). */
export function distributionJson(d: DistributionRecord): Record<string, unknown> {
  return {
    Descriptor: { mediaType: d.descriptor.mediaType, digest: d.descriptor.digest, size: d.descriptor.size },
    Platforms: d.platforms,
  };
}
