/**
 * What a failed process start means to the user, as dockerd decides it
 * (daemon/errors.go translateContainerdStartErr): a missing command gives exit code 127, a
 * command that cannot be run 126, anything else 128 (containers) or 126 (execs); the first
 * two are the caller's fault (400). The docker CLI turns a failed `docker run` into its exit
 * status by matching the message case-sensitively ("executable file not found", "no such file
 * or directory", "permission denied"), so the guest's text (runc's wording) is kept and given
 * runc's frame: `unable to start container process: exec: "/x": stat /x: no such file or
 * directory: unknown`.
 */
import { InvalidArgumentError } from '../errors';

/** The exit code to record and the error to throw for a failed start. */
export interface StartFailure {
  exitCode: number;
  error: Error;
}

/**
 * Classify the error of starting an exec's command: dockerd records 126 for every exec that
 * could not start (missing command included, unlike a container's 127), and words it as
 * `OCI runtime exec failed: exec failed: unable to start container process: ...`.
 */
export function execStartFailure(err: unknown, cmd: string): StartFailure {
  const f = startFailure(err, cmd, 126);
  if (!(f.error instanceof InvalidArgumentError) || f.error === err) return { exitCode: 126, error: f.error };
  return {
    exitCode: 126,
    error: new InvalidArgumentError(`OCI runtime exec failed: exec failed: ${f.error.message}`, { cause: err }),
  };
}

/** Classify the error of starting `cmd` (a container's init, or an exec through execStartFailure). */
export function startFailure(err: unknown, cmd: string, fallbackExitCode: number): StartFailure {
  const error = err instanceof Error ? err : new Error(String(err));
  const msg = error.message;
  const lower = msg.toLowerCase();
  let exitCode = fallbackExitCode;
  const notFound = lower.includes('executable file not found') || lower.includes('no such file or directory');
  if ((cmd === '' || lower.includes(cmd.toLowerCase())) && notFound) exitCode = 127;
  else if (lower.includes('permission denied') || lower.includes('is a directory')) exitCode = 126;
  else if (lower.includes('not a directory')) exitCode = 127;
  else return { exitCode, error };
  // Only the guest's own exec failure (`exec: "x": ...`) is re-framed as runc's.
  if (!/^exec: "/.test(msg)) return { exitCode, error: new InvalidArgumentError(msg, { cause: error }) };
  return {
    exitCode,
    error: new InvalidArgumentError(`unable to start container process: ${msg}: unknown`, { cause: error }),
  };
}
