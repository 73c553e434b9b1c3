/**
 * The Docker front end's wording of the pod layer's typed failures (src/translate/pod-errors.ts):
 * each typed error, and each failure kept in a container's state, rendered as dockerd (and
 * runc, for a process that cannot start) word it.
 */
import {
  AlreadyConnectedError,
  AutoRemoveRestartPolicyError,
  DefaultNetworkAliasError,
  NoneModeConnectError,
  NoSpareNicError,
  NotConnectedError,
  BindSourceMissingError,
  ContainerSetupError,
  LinkFailedError,
  LogConfigError,
  OperationPreemptedError,
  PodUpdateRefusedError,
  RemoveRunningPodError,
  RenameToSameNameError,
} from '../../../src/pod/errors';
import { startFailure, execStartFailure } from '../../../src/pod/lifecycle/start-error';
import { InvalidArgumentError, UnavailableError } from '../../../src/errors';
import { dockerMessage } from '../../../src/translate/errors';
import { stateErrorText } from '../../../src/translate/pod-errors';
import { dockerState } from '../../../src/api/v1.41/json/status';
import { createdState } from '../../../src/pod/types';

const ID = 'a'.repeat(64);

describe("dockerd's words for the pod layer's typed errors", () => {
  test.each([
    [
      new RemoveRunningPodError(ID),
      `You cannot remove a running container ${ID}. Stop the container before attempting removal or force remove`,
    ],
    [new OperationPreemptedError(ID, 'start', 'kill'), `Cannot start container ${ID}: it was killed while starting`],
    [
      new OperationPreemptedError(ID, 'restart', 'remove'),
      `Cannot restart container ${ID}: it was removed while the restart was pending`,
    ],
    [
      new NoneModeConnectError(ID),
      'container cannot be connected to multiple networks with one of the networks in private (none) mode',
    ],
    [
      new DefaultNetworkAliasError('bridge'),
      'network-scoped alias is supported only for containers in user defined networks',
    ],
    [new AlreadyConnectedError('web', 'back'), 'endpoint with name web already exists in network back'],
    [
      new NoSpareNicError('web', 3),
      'container web has no spare network interface: its VM has 3, all in use (disconnect it from a network first)',
    ],
    [new NotConnectedError(ID, 'back'), `container ${ID} is not connected to the network back`],
    [new RenameToSameNameError(ID, 'web'), 'Renaming a container with the same name as its current name'],
    [
      new AutoRemoveRestartPolicyError(ID),
      'Restart policy cannot be updated because AutoRemove is enabled for the container',
    ],
    [
      new PodUpdateRefusedError(ID, 'its VM cannot change limits live (stop it first)'),
      `Cannot update container ${ID}: its VM cannot change limits live (stop it first)`,
    ],
    [new LogConfigError("invalid size: 'abc'"), "failed to initialize logging driver: invalid size: 'abc'"],
    [
      new LinkFailedError('no-such-pod', 'nosuch', 'l2', 'db'),
      'could not get container for nosuch: No such container: nosuch',
    ],
    [new LinkFailedError('not-running', 'lt', 'l2', 'db'), 'Cannot link to a non running container: /lt AS /l2/db'],
    [
      new LinkFailedError('not-on-default-network', 'lt', 'l2', 'db'),
      'Cannot link to /lt, as it does not belong to the default network',
    ],
    [
      new BindSourceMissingError('/no/such', 'bind'),
      'invalid mount config for type "bind": bind source path does not exist: /no/such',
    ],
  ])('%s', (err, text) => {
    expect(dockerMessage(err)).toBe(text);
    // The pod layer's own message is neutral: no Docker words.
    expect(err.message).not.toMatch(/container|docker|Cannot|invalid mount config|logging driver/);
  });

  test("a process that cannot start, in runc's frame (the docker CLI reads its exit status from it)", () => {
    const missing = 'exec: "/nonexistent": stat /nonexistent: no such file or directory';
    expect(dockerMessage(startFailure(new Error(missing), '/nonexistent', 128).error)).toBe(
      `unable to start container process: ${missing}: unknown`,
    );
    expect(
      dockerMessage(execStartFailure(new Error('exec: "nope": executable file not found in $PATH'), 'nope').error),
    ).toBe(
      'OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown',
    );
    // Not the guest's own exec failure: its account, framed for an exec only.
    expect(dockerMessage(execStartFailure(new Error('chdir /x: not a directory'), 'sh').error)).toBe(
      'OCI runtime exec failed: exec failed: chdir /x: not a directory',
    );
    expect(dockerMessage(startFailure(new Error('chdir /x: not a directory'), 'sh', 128).error)).toBe(
      'chdir /x: not a directory',
    );
  });

  test("a container's settings the guest refused or failed before its command ran, in runc's words, with dockerd's status and exit code", () => {
    const refused = startFailure(
      new UnavailableError('agent: sysctl "kernel.foo" is not in a separate kernel namespace'),
      'true',
      128,
    );
    expect(refused.exitCode).toBe(128);
    expect(refused.error).toBeInstanceOf(ContainerSetupError);
    expect(refused.error).toBeInstanceOf(UnavailableError);
    expect(refused.error.message).toBe(
      'the container could not be set up: sysctl "kernel.foo" is not in a separate kernel namespace',
    );
    expect(dockerMessage(refused.error)).toBe('sysctl "kernel.foo" is not in a separate kernel namespace: unknown');
    const bad = startFailure(
      new UnavailableError('agent: error during container init: write /proc/sys/net/ipv4/ip_forward: invalid argument'),
      'true',
      128,
    );
    expect(bad.exitCode).toBe(128);
    expect(bad.error).toBeInstanceOf(UnavailableError);
    expect(dockerMessage(bad.error)).toBe(
      'unable to start container process: error during container init: write /proc/sys/net/ipv4/ip_forward: invalid argument: unknown',
    );
    // dockerd 20.10: "no such file or directory" anywhere is an invalid command: 127 and a 400.
    const missing = startFailure(
      new UnavailableError('agent: error during container init: open /proc/sys/net/x: no such file or directory'),
      'true',
      128,
    );
    expect(missing.exitCode).toBe(127);
    expect(missing.error).toBeInstanceOf(InvalidArgumentError);
    expect(dockerMessage(missing.error)).toBe(
      'unable to start container process: error during container init: open /proc/sys/net/x: no such file or directory: unknown',
    );
  });

  test("a failure kept in a container's state is State.Error in dockerd's words, while it is the state's error", () => {
    const err = new LogConfigError('max-file cannot be less than 1');
    const s = { ...createdState(), status: 'exited' as const, error: err.message, failure: err.failure };
    expect(dockerState(s).Error).toBe('failed to initialize logging driver: max-file cannot be less than 1');
    // A later error (the state rebuilt with the failure left over) is shown as it is.
    expect(stateErrorText({ ...s, error: 'the VM of this container was gone when the daemon restarted' })).toBe(
      'the VM of this container was gone when the daemon restarted',
    );
    expect(stateErrorText({ error: 'VM exited unexpectedly' })).toBe('VM exited unexpectedly');
  });
});
