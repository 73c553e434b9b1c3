/**
 * Sizes written as people write them, read as dockerd reads them (the go-units package):
 * one parser per unit system, shared by every option that takes a size.
 */

/** go-units' RAMInBytes: binary units (k = 1024); throws `invalid size: '<v>'` as it does. */
export function ramInBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  if (!m) throw new Error(`invalid size: '${v}'`);
  const mult: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };
  return Math.trunc(Number(m[1]) * (m[2] ? mult[m[2].toLowerCase()] : 1));
}
