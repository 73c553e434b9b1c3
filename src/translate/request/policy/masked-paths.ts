/**
 * The paths of the guest's /proc and /sys that a container which is not privileged does not
 * see (masked) or cannot write (read-only) unless its request names its own: dockerd 20.10's
 * defaults (moby's oci/defaults.go), which containerd's CRI shares. A privileged container
 * has none.
 */

/** The paths masked in a container that is not privileged (dockerd 20.10's). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];

/** The paths made read-only in a container that is not privileged (dockerd 20.10's). */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];
