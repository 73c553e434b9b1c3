/**
 * Docker's human-readable container status ("Up 3 seconds", "Exited (0) 2 minutes ago") and
 * state word ("running", "exited"...), from a PodState. The duration wording is that of
 * go-units' HumanDuration, which the docker CLI and dockerd both use.
 */
import { ZERO_TIME, type PodState } from '../../../pod/types';
import { stateErrorText } from '../../../translate/pod-errors';
import { parseRfc3339 } from '../../../util/time';

/** go-units HumanDuration: "Less than a second", "About a minute", "3 hours"... */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(ms / 60000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3600000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3600000 / 24 / 365)} years`;
}

const parseTime = parseRfc3339;

/** Docker's `Status` column. */
export function statusText(s: PodState, now: number = Date.now()): string {
  switch (s.status) {
    case 'running':
      return `Up ${humanDuration(now - parseTime(s.startedAt))}`;
    case 'paused':
      return `Up ${humanDuration(now - parseTime(s.startedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${humanDuration(now - parseTime(s.finishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      if (s.startedAt === ZERO_TIME) return 'Created';
      if (s.finishedAt === ZERO_TIME) return '';
      return `Exited (${s.exitCode}) ${humanDuration(now - parseTime(s.finishedAt))} ago`;
  }
}

/** Docker's State object of inspect. */
export function dockerState(s: PodState): Record<string, unknown> {
  const running = s.status === 'running' || s.status === 'paused' || s.status === 'restarting';
  return {
    Status: s.status,
    Running: running,
    Paused: s.status === 'paused',
    Restarting: s.status === 'restarting',
    OOMKilled: s.oomKilled,
    Dead: s.status === 'dead',
    Pid: running ? s.pid : 0,
    ExitCode: s.exitCode,
    Error: stateErrorText(s),
    StartedAt: s.startedAt,
    FinishedAt: s.finishedAt,
  };
}
