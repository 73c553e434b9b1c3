/**
 * The host's TSC frequency, handed to TCG guests as `tsc_early_khz=`.
 *
 * Under TCG the guest's TSC runs at the host's TSC rate, but the guest kernel has to measure
 * that rate against the PIT, and on a busy host the measurement fails ("Fast TSC calibration
 * failed", then "Unable to calibrate against PIT"). The microvm machine has no HPET or ACPI PM
 * timer to fall back on, so the kernel marks the TSC unstable and hangs early in the boot:
 * this is what made roughly one TCG boot in ten (more under load) hang without a word.
 * Telling the guest the frequency skips the calibration.
 */
import * as fs from 'node:fs';

/**
 * The TSC frequency in kHz when /proc/cpuinfo states it reliably: a constant TSC, and a
 * "cpu MHz" that is the TSC's rate (no APERF/MPERF, which would make it the current clock).
 * Falls back to intel_pstate's base_frequency. Undefined when neither is known.
 */
export function hostTscKhz(
  cpuinfo?: string,
  baseFrequencyFile = '/sys/devices/system/cpu/cpu0/cpufreq/base_frequency',
): number | undefined {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return undefined;
    }
  }
  const first = text.split(/\n\s*\n/)[0] ?? '';
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(first)?.[1] ?? '').split(/\s+/));
  if (!flags.has('constant_tsc')) return undefined;
  const mhz = /^cpu MHz\s*:\s*([\d.]+)$/m.exec(first)?.[1];
  if (mhz && !flags.has('aperfmperf')) {
    const khz = Math.round(Number(mhz) * 1000);
    if (Number.isFinite(khz) && khz > 100_000) return khz;
  }
  try {
    const base = Number(fs.readFileSync(baseFrequencyFile, 'utf8').trim());
    if (Number.isFinite(base) && base > 100_000) return base;
  } catch {
    // not intel_pstate
  }
  return undefined;
}
