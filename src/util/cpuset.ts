/**
 * cpuset lists as Docker and the kernel write them ("0-2,4"): parsed as dockerd parses
 * `--cpuset-cpus` and `--cpuset-mems` (comma-separated numbers and ranges, no blanks), so a
 * caller can check the numbers against what exists and size a VM to hold them.
 */

/** The numbers of a cpuset list ("" is none); null when it is not a valid list. */
export function parseCpusetList(list: string): number[] | null {
  if (list === '') return [];
  const out = new Set<number>();
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo || hi - lo > 4096) return null;
    for (let i = lo; i <= hi; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

/** The highest number of a valid cpuset list, or -1 for "" or an invalid list. */
export function cpusetMax(list: string): number {
  const n = parseCpusetList(list);
  return n && n.length ? n[n.length - 1]! : -1;
}
