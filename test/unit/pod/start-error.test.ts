import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../../src/errors';
import { ProcessStartError } from '../../../src/pod/errors';
import { execStartFailure, startFailure } from '../../../src/pod/lifecycle/start-error';

describe('startFailure (dockerd translateContainerdStartErr)', () => {
  it("gives 127 and a 400 with the guest's account as facts for a missing command", () => {
    const f = startFailure(
      new NotFoundError('exec: "/nonexistent": stat /nonexistent: no such file or directory'),
      '/nonexistent',
      128,
    );
    expect(f.exitCode).toBe(127);
    expect(f.error).toBeInstanceOf(InvalidArgumentError);
    expect(f.error).toBeInstanceOf(ProcessStartError);
    expect((f.error as ProcessStartError).failure).toEqual({
      kind: 'process-start',
      detail: 'exec: "/nonexistent": stat /nonexistent: no such file or directory',
      exec: false,
      guestExec: true,
    });
    // The pod layer's own message names no runtime.
    expect(f.error.message).toBe(
      'process could not start: exec: "/nonexistent": stat /nonexistent: no such file or directory',
    );
    expect(
      startFailure(new NotFoundError('exec: "nope": executable file not found in $PATH'), 'nope', 126).exitCode,
    ).toBe(127);
  });

  it('gives 126 for a file that cannot be run', () => {
    const f = startFailure(new InvalidArgumentError('exec: "/etc/passwd": permission denied'), '/etc/passwd', 128);
    expect(f.exitCode).toBe(126);
    expect(f.error.message).toContain('permission denied');
  });

  it('keeps other errors and the fallback exit code', () => {
    const e = new UnavailableError('VM did not boot');
    expect(startFailure(e, 'sh', 128)).toEqual({ exitCode: 128, error: e });
  });

  it('gives 126 for every exec that cannot start, marked as an exec', () => {
    const missing = execStartFailure(new NotFoundError('exec: "nope": executable file not found in $PATH'), 'nope');
    expect(missing.exitCode).toBe(126);
    expect(missing.error).toBeInstanceOf(ProcessStartError);
    expect((missing.error as ProcessStartError).failure).toMatchObject({ exec: true, guestExec: true });
    expect(
      execStartFailure(new InvalidArgumentError('exec: "/etc/passwd": permission denied'), '/etc/passwd').exitCode,
    ).toBe(126);
    const other = new UnavailableError('agent gone');
    expect(execStartFailure(other, 'sh')).toEqual({ exitCode: 126, error: other });
  });
});
