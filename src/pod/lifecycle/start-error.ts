/**
 * What a failed process start means to the user, as dockerd decides it
 * (daemon/errors.go translateContainerdStartErr): a missing command gives exit code 127, a
 * command that cannot be run 126, anything else 128 (containers) or 126 (execs); the first
 * two are the caller's fault (400). The guest's own account is kept as the facts of a
 * ProcessStartError (../errors.ts); the Docker front end words it as runc does
 * (src/translate/pod-errors.ts), since the docker CLI derives `docker run`'s exit status from
 * the words.
 */
import { ContainerSetupError, ProcessStartError } from '../errors';

/** The exit code to record and the error to throw for a failed start. */
export interface StartFailure {
  exitCode: number;
  error: Error;
}

/**
 * Classify the error of starting an exec's command: dockerd records 126 for every exec that
 * could not start (missing command included, unlike a container's 127).
 */
export function execStartFailure(err: unknown, cmd: string): StartFailure {
  return { exitCode: 126, error: classify(err, cmd, 126, true).error };
}

/** Classify the error of starting `cmd` (a container's init, or an exec through execStartFailure). */
export function startFailure(err: unknown, cmd: string, fallbackExitCode: number): StartFailure {
  return classify(err, cmd, fallbackExitCode, false);
}

function classify(err: unknown, cmd: string, fallbackExitCode: number, exec: boolean): StartFailure {
  const error = err instanceof Error ? err : new Error(String(err));
  const setup = setupFailure(error, fallbackExitCode, exec);
  if (setup) return setup;
  const msg = error.message;
  const lower = msg.toLowerCase();
  let exitCode = fallbackExitCode;
  const notFound = lower.includes('executable file not found') || lower.includes('no such file or directory');
  if ((cmd === '' || lower.includes(cmd.toLowerCase())) && notFound) exitCode = 127;
  else if (lower.includes('permission denied') || lower.includes('is a directory')) exitCode = 126;
  else if (lower.includes('not a directory')) exitCode = 127;
  else return { exitCode, error };
  // Only the guest's own exec failure (`exec: "x": ...`) is the runtime's to frame.
  return { exitCode, error: new ProcessStartError(msg, exec, /^exec: "/.test(msg), { cause: error }) };
}

/**
 * The guest's refusal of a container's settings before its command ran (the agent's words:
 * `sysctl "kernel.foo" is not in a separate kernel namespace`, `error during container init:
 * open /proc/sys/...: ...`), classified as dockerd 20.10 classifies runc's (isInvalidCommand:
 * "no such file or directory" gives 127 and a 400 whatever the command; "permission denied"
 * 126), or undefined for any other error.
 */
function setupFailure(error: Error, fallbackExitCode: number, exec: boolean): StartFailure | undefined {
  const m = /^agent: (?:(sysctl ".*)|error during container init: (.*))$/s.exec(error.message);
  if (!m) return undefined;
  if (m[1]) return { exitCode: fallbackExitCode, error: new ContainerSetupError(m[1], false, { cause: error }) };
  const lower = m[2].toLowerCase();
  const exitCode =
    lower.includes('no such file or directory') || lower.includes('not a directory')
      ? 127
      : lower.includes('permission denied')
        ? 126
        : 0;
  if (!exitCode) return { exitCode: fallbackExitCode, error: new ContainerSetupError(m[2], true, { cause: error }) };
  return {
    exitCode,
    error: new ProcessStartError(`error during container init: ${m[2]}`, exec, true, { cause: error }),
  };
}
