/**
 * The end-of-session report on the error stream: a metav1.Status as JSON (protocol v4 and later),
 * or only the failure's message (the older protocols, which send nothing on success). The JSON
 * keys are in the order Go's encoder writes them.
 */

/** A metav1.Status as the kubelet writes it. */
export interface KubeStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { causes: { reason?: string; message: string }[] };
  code?: number;
}

/** The command or attach ended normally (exit code 0). */
export function successStatus(): KubeStatus {
  return { metadata: {}, status: 'Success' };
}

/** The command exited with `code` ≠ 0: reason NonZeroExitCode with an ExitCode cause. */
export function exitCodeStatus(cmd: string[], code: number): KubeStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${cmd.join(' ')}], exit code ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

/** The runtime failed (apierrors.NewInternalError). */
export function internalErrorStatus(message: string): KubeStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message }] },
    code: 500,
  };
}

/** How a negotiated protocol version reports a status: bytes to write, or none. */
export function encodeStatus(status: KubeStatus, json: boolean): Buffer | undefined {
  if (json) return Buffer.from(JSON.stringify(status));
  if (status.status === 'Success') return undefined;
  return Buffer.from(status.message ?? '');
}
