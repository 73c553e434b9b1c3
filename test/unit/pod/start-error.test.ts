import { InvalidArgumentError, NotFoundError, UnavailableError } from '../../../src/errors';
import { execStartFailure, startFailure } from '../../../src/pod/start-error';

describe('startFailure (dockerd translateContainerdStartErr)', () => {
  it('gives 127 and a 400 in runc wording for a missing command', () => {
    const f = startFailure(
      new NotFoundError('exec: "/nonexistent": stat /nonexistent: no such file or directory'),
      '/nonexistent',
      128,
    );
    expect(f.exitCode).toBe(127);
    expect(f.error).toBeInstanceOf(InvalidArgumentError);
    expect(f.error.message).toBe(
      'unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: unknown',
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

  it("gives 126 for every exec that cannot start, in dockerd's exec wording", () => {
    const missing = execStartFailure(new NotFoundError('exec: "nope": executable file not found in $PATH'), 'nope');
    expect(missing.exitCode).toBe(126);
    expect(missing.error).toBeInstanceOf(InvalidArgumentError);
    expect(missing.error.message).toBe(
      'OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in $PATH: unknown',
    );
    expect(
      execStartFailure(new InvalidArgumentError('exec: "/etc/passwd": permission denied'), '/etc/passwd').exitCode,
    ).toBe(126);
    const other = new UnavailableError('agent gone');
    expect(execStartFailure(other, 'sh')).toEqual({ exitCode: 126, error: other });
  });
});
