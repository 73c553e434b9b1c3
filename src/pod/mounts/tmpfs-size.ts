/**
 * The size a container's tmpfs gets in its VM. A tmpfs lives in the guest's RAM and, with no
 * swap in the guest, its pages cannot be reclaimed: a tmpfs allowed to grow past what the VM
 * holds drives the guest into endless reclaim of everything else (the agent's own pages among
 * them) instead of failing the write. So each tmpfs (`--tmpfs`, `--mount type=tmpfs`, a
 * `--shm-size` /dev/shm) is capped at a share of the VM's memory left once the guest's own
 * share is set aside; a write past it gets ENOSPC, as a full tmpfs does under runc.
 */
import { GUEST_RESERVED_MIB } from '../records/limits';

const MIB = 1024 * 1024;

/** The smallest cap, for VMs barely larger than the guest's share. */
const MIN_CAP_BYTES = 8 * MIB;

/** Bytes one tmpfs may hold in a VM of `vmMemoryMiB`: half of what the guest leaves. */
export function tmpfsCapBytes(vmMemoryMiB: number): number {
  const room = Math.max(0, vmMemoryMiB - GUEST_RESERVED_MIB) * MIB;
  return Math.max(MIN_CAP_BYTES, Math.floor(room / 2 / MIB) * MIB);
}

/**
 * The bytes a tmpfs `size=` value asks for in a VM of `vmMemoryMiB` (a number with an optional
 * k, m or g suffix, or a percentage of the guest's RAM, as the kernel reads it); undefined for a
 * value of another shape (the agent refuses those).
 */
export function tmpfsSizeBytes(value: string, vmMemoryMiB: number): number | undefined {
  const m = /^(\d{1,20})([kmgKMG%]?)$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2].toLowerCase();
  if (unit === '%') return Math.floor((vmMemoryMiB * MIB * n) / 100);
  const mult = unit === 'k' ? 1024 : unit === 'm' ? MIB : unit === 'g' ? 1024 * MIB : 1;
  return n * mult;
}

/**
 * `options` of a tmpfs (comma-separated, as PodTmpfsMount.options) with its size capped for a
 * VM of `vmMemoryMiB`: a size= above the cap, 0 (the kernel's "unlimited") or absent (the
 * kernel's default, half the RAM) becomes size=<cap>; anything else is kept as it is.
 */
export function capTmpfsOptions(options: string | undefined, vmMemoryMiB: number): string {
  const cap = tmpfsCapBytes(vmMemoryMiB);
  const parts = options ? options.split(',').filter((p) => p !== '') : [];
  let sized = false;
  const out = parts.map((p) => {
    if (!p.startsWith('size=')) return p;
    sized = true;
    const bytes = tmpfsSizeBytes(p.slice('size='.length), vmMemoryMiB);
    if (bytes === undefined) return p;
    return bytes === 0 || bytes > cap ? `size=${cap}` : p;
  });
  if (!sized) out.push(`size=${cap}`);
  return out.join(',');
}
