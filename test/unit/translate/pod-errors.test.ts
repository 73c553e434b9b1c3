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
  LinkFailedError,
  LogConfigError,
  OperationPreemptedError,
  PodUpdateRefusedError,
  RemoveRunningPodError,
  RenameToSameNameError,
} from '../../../src/pod/errors';
import { startFailure, execStartFailure } from '../../../src/pod/start-error';
import { dockerMessage } from '../../../src/translate/errors';
import { stateErrorText } from '../../../src/translate/pod-errors';
import { dockerState } from '../../../src/translate/status';
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
