/**
 * HostConfig.Binds, HostConfig.Mounts and HostConfig.Tmpfs -> the pod's mounts (PodMount), with
 * dockerd's checks and messages (volume/mounts/parser_linux.go, validate.go), and the `Mounts`
 * list inspect shows. Pure: no I/O (whether a bind source exists is checked at start, where
 * the host half of the mount is made).
 */
import * as path from 'node:path';
import { InvalidArgumentError, PlainError } from '../../../errors';
import type { PodMount } from '../../../pod/types';
import type { DockerHostConfig } from './docker-types';
import { mountTarget, sortParentsFirst } from '../../../translate/request/policy/mount-order';

/** Bind modes dockerd accepts (SELinux labels and propagation are taken and have no effect in the VM). */
const BIND_MODES = new Set([
  'ro',
  'rw',
  'z',
  'Z',
  'shared',
  'rshared',
  'slave',
  'rslave',
  'private',
  'rprivate',
  'nocopy',
]);
/** --tmpfs flags that map onto mount flags; other options go to the tmpfs itself. */
const TMPFS_FLAGS = new Set(['ro', 'rw', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev']);

type Json = Record<string, unknown>;

function absTarget(target: string, prefix: string): string {
  if (!path.posix.isAbsolute(target))
    throw new InvalidArgumentError(`${prefix}invalid mount path: '${target}' mount path must be absolute`);
  return mountTarget(target);
}

/** A volume mount still to be resolved at create (name empty: anonymous). */
function volumeMount(
  name: string,
  target: string,
  readOnly: boolean,
  noCopy: boolean,
  extra: { labels?: Record<string, string>; driver?: string; options?: Record<string, string> } = {},
): PodMount {
  return {
    type: 'volume',
    name,
    source: '',
    target,
    readOnly,
    anonymous: name === '',
    ...(noCopy ? { noCopy } : {}),
    ...extra,
  };
}

/**
 * One `-v [src:]dst[:mode]` entry of HostConfig.Binds (src absolute: a bind; a name: a
 * volume). dockerd reads Binds when it registers the container's mounts, where a fault is a
 * plain error: its 500.
 */
function parseBind(spec: string): PodMount {
  try {
    return readBind(spec);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new PlainError(err.message);
    throw err;
  }
}

/** parseBind's reading, with its faults as InvalidArgumentError. */
function readBind(spec: string): PodMount {
  const parts = spec.split(':');
  if (parts.length > 3 || parts.some((p) => p === ''))
    throw new InvalidArgumentError(`invalid volume specification: '${spec}'`);
  if (parts.length === 1)
    return volumeMount(
      '',
      absTarget(parts[0], `invalid volume specification: '${spec}': invalid mount config for type "volume": `),
      false,
      false,
    );
  const [source, target, mode = ''] = parts;
  const modes = mode ? mode.split(',') : [];
  for (const m of modes) if (!BIND_MODES.has(m)) throw new InvalidArgumentError(`invalid mode: ${mode}`);
  if (modes.includes('ro') && modes.includes('rw')) throw new InvalidArgumentError(`invalid mode: ${mode}`);
  const isBind = path.posix.isAbsolute(source);
  const t = absTarget(
    target,
    `invalid volume specification: '${spec}': invalid mount config for type "${isBind ? 'bind' : 'volume'}": `,
  );
  if (!isBind) return volumeMount(source, t, modes.includes('ro'), modes.includes('nocopy'));
  if (modes.includes('nocopy')) throw new InvalidArgumentError(`invalid mode: ${mode}`);
  return {
    type: 'bind',
    source: path.posix.normalize(source),
    target: t,
    readOnly: modes.includes('ro'),
    createSource: true,
  };
}

/** The agent's tmpfs options from `size=64m,mode=1777,...` (flags split out). */
function tmpfsOptions(opts: string[], where: string): { options: string; flags: Set<string> } {
  const keep: string[] = [];
  const flags = new Set<string>();
  for (const o of opts) {
    if (TMPFS_FLAGS.has(o)) flags.add(o);
    else if (/^(size=\d+[kmgKMG%]?|nr_inodes=\d+[kmgKMG]?|mode=[0-7]{1,4}|uid=\d+|gid=\d+)$/.test(o)) keep.push(o);
    else throw new InvalidArgumentError(`${where}unsupported tmpfs option: ${o}`);
  }
  return { options: keep.join(','), flags };
}

function tmpfsMount(target: string, options: string, flags: Set<string>): PodMount {
  return {
    type: 'tmpfs',
    target,
    ...(options ? { options } : {}),
    readOnly: flags.has('ro'),
    noexec: !flags.has('exec'),
    nosuid: !flags.has('suid'),
    nodev: !flags.has('dev'),
  };
}

/** One entry of HostConfig.Mounts. */
function parseMountEntry(raw: unknown): PodMount {
  const m = (raw && typeof raw === 'object' ? raw : {}) as Json;
  const type = typeof m.Type === 'string' ? m.Type : '';
  const where = `invalid mount config for type "${type}": `;
  const source = typeof m.Source === 'string' ? m.Source : '';
  const target = typeof m.Target === 'string' ? m.Target : '';
  if (type !== 'bind' && type !== 'tmpfs' && type !== 'volume')
    throw new InvalidArgumentError(`${where}mount type unknown`);
  if (!target) throw new InvalidArgumentError(`${where}field Target must not be empty`);
  const t = absTarget(target, where);
  if (type === 'volume') {
    if (source && (source.includes('/') || source.includes(':')))
      throw new InvalidArgumentError(`${where}invalid volume name: '${source}'`);
    const vo = (m.VolumeOptions && typeof m.VolumeOptions === 'object' ? m.VolumeOptions : {}) as Json;
    const dc = (vo.DriverConfig && typeof vo.DriverConfig === 'object' ? vo.DriverConfig : {}) as Json;
    const labels = vo.Labels && typeof vo.Labels === 'object' ? (vo.Labels as Record<string, string>) : undefined;
    const driver = typeof dc.Name === 'string' && dc.Name ? dc.Name : undefined;
    // Driver options are checked where the volume is made, as `docker volume create -o` (src/storage/volumes.ts).
    const options =
      dc.Options && typeof dc.Options === 'object' && Object.keys(dc.Options).length
        ? Object.fromEntries(Object.entries(dc.Options as Json).map(([k, v]) => [k, String(v)]))
        : undefined;
    return volumeMount(source, t, m.ReadOnly === true, vo.NoCopy === true, {
      ...(labels ? { labels } : {}),
      ...(driver ? { driver } : {}),
      ...(options ? { options } : {}),
    });
  }
  if (type === 'tmpfs') {
    if (source) throw new InvalidArgumentError(`${where}field Source must not be specified`);
    const to = (m.TmpfsOptions ?? {}) as Json;
    const opts: string[] = [];
    if (typeof to.SizeBytes === 'number' && to.SizeBytes > 0) opts.push(`size=${Math.ceil(to.SizeBytes / 1024)}k`);
    if (typeof to.Mode === 'number' && to.Mode > 0) opts.push(`mode=${(to.Mode & 0o7777).toString(8)}`);
    return tmpfsMount(t, opts.join(','), new Set(m.ReadOnly === true ? ['ro'] : []));
  }
  if (!source) throw new InvalidArgumentError(`${where}field Source must not be empty`);
  if (!path.posix.isAbsolute(source))
    throw new InvalidArgumentError(`${where}invalid mount path: '${source}' mount path must be absolute`);
  return {
    type: 'bind',
    source: path.posix.normalize(source),
    target: t,
    readOnly: m.ReadOnly === true,
    createSource: false,
  };
}

/**
 * Every mount of a create request, checked: Binds, then Mounts, then Tmpfs (a mount point
 * used twice is refused, as dockerd does). The volumes of Binds get HostConfig.VolumeDriver.
 */
export function parseMounts(
  hc: Pick<DockerHostConfig, 'Binds' | 'Mounts' | 'Tmpfs'> & Partial<Pick<DockerHostConfig, 'VolumeDriver'>>,
): PodMount[] {
  const out: PodMount[] = [];
  for (const b of hc.Binds ?? []) {
    const m = parseBind(String(b));
    // A volume of `-v name:/path` is made by --volume-driver (dockerd's HostConfig.VolumeDriver);
    // one of --mount names its own driver, or the local one.
    out.push(m.type === 'volume' && hc.VolumeDriver ? { ...m, driver: hc.VolumeDriver } : m);
  }
  for (const m of hc.Mounts ?? []) out.push(parseMountEntry(m));
  for (const [target, opts] of Object.entries(hc.Tmpfs ?? {})) {
    const t = absTarget(target, '');
    const { options, flags } = tmpfsOptions(opts ? String(opts).split(',') : [], '');
    out.push(tmpfsMount(t, options, flags));
  }
  const seen = new Set<string>();
  for (const m of out) {
    if (seen.has(m.target)) throw new InvalidArgumentError(`Duplicate mount point: ${m.target}`);
    seen.add(m.target);
  }
  // Parents before children (dockerd's sortMounts): a mount at /a/b must go on top of one at /a.
  return sortParentsFirst(out);
}

/** The mode string of each `-v` entry, by its normalised destination. */
function bindModes(hc: Pick<DockerHostConfig, 'Binds'>): Map<string, string> {
  const out = new Map<string, string>();
  for (const b of hc.Binds ?? []) {
    const parts = String(b).split(':');
    // `-v /path`: an anonymous volume, with no mode.
    if (parts.length === 1) out.set(mountTarget(parts[0]), '');
    else out.set(mountTarget(parts[1]), parts[2] ?? '');
  }
  return out;
}

const PROPAGATIONS = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);

/**
 * The propagation each bind asked for, by its normalised destination: a `-v` mode's
 * propagation word, or a `--mount` entry's BindOptions.Propagation.
 */
function bindPropagations(hc: Pick<DockerHostConfig, 'Binds' | 'Mounts'>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [target, mode] of bindModes(hc)) {
    const p = mode.split(',').find((w) => PROPAGATIONS.has(w));
    if (p) out.set(target, p);
  }
  for (const raw of hc.Mounts ?? []) {
    const m = (raw && typeof raw === 'object' ? raw : {}) as Json;
    const bo = (m.BindOptions && typeof m.BindOptions === 'object' ? m.BindOptions : {}) as Json;
    if (m.Type === 'bind' && typeof bo.Propagation === 'string' && bo.Propagation)
      out.set(mountTarget(String(m.Target ?? '')), bo.Propagation);
  }
  return out;
}

/**
 * inspect's `Mounts`, as dockerd lists them, from the container's resolved mounts: binds,
 * volumes (with their names, also anonymous ones) and `--mount type=tmpfs` entries (not
 * --tmpfs), sorted by destination. Mode is the `-v` mode as written, `z` for a volume
 * named without one (dockerd's default label mode), empty otherwise. A bind's Propagation is
 * the one it asked for, `rprivate` by default (the mount in the VM is the same either way).
 */
export function mountPoints(
  hc: Pick<DockerHostConfig, 'Binds' | 'Mounts'>,
  mounts: readonly PodMount[],
): Array<Record<string, unknown>> {
  const modes = bindModes(hc);
  const propagations = bindPropagations(hc);
  const fromMounts = new Set((hc.Mounts ?? []).map((raw) => String((raw as Json).Target ?? '')).map(mountTarget));
  const out: Array<Record<string, unknown>> = [];
  for (const m of mounts) {
    const v = modes.get(m.target);
    const named = v !== undefined || fromMounts.has(m.target);
    if (m.type === 'tmpfs') {
      if (fromMounts.has(m.target))
        out.push({ Type: 'tmpfs', Source: '', Destination: m.target, Mode: '', RW: !m.readOnly, Propagation: '' });
    } else if (m.type === 'bind') {
      out.push({
        Type: 'bind',
        // Shown cleaned, as dockerd keeps it (no trailing '/').
        Source: mountTarget(m.source),
        Destination: m.target,
        Mode: v ?? '',
        RW: !m.readOnly,
        Propagation: propagations.get(m.target) ?? 'rprivate',
      });
    } else if (m.type === 'volume') {
      const mode = v || (named ? 'z' : '');
      out.push({
        Type: 'volume',
        Name: m.name,
        Source: m.source,
        Destination: m.target,
        Driver: 'local',
        Mode: mode,
        RW: !m.readOnly,
        Propagation: '',
      });
    }
  }
  return out.sort((a, b) => String(a.Destination).localeCompare(String(b.Destination)));
}
