/**
 * `docker import --change` and `docker commit --change` semantics (one parser, the builder's), with the results dockerd 20.10 gives for the same
 * changes (checked against it by hand with `docker import --change ... && docker inspect`).
 */
import { applyChanges as applyImportChanges } from '../../../src/dockerfile/changes';
import type { RunConfig as ImportConfig } from '../../../src/dockerfile/instructions';
import { InvalidArgumentError } from '../../../src/errors';

const EMPTY = {
  User: '',
  Env: null,
  Cmd: null,
  Entrypoint: null,
  WorkingDir: '',
  Labels: null,
  Volumes: null,
  OnBuild: null,
} as unknown as ImportConfig;

test('ENV, LABEL, WORKDIR, USER, EXPOSE and VOLUME, with variables from earlier ENV lines', () => {
  const c = applyImportChanges(EMPTY, [
    'ENV GREETING=hello WHO="the importer"',
    'env FULL $GREETING-${WHO}',
    'ENV EMPTY=${NOPE:-fallback} SET=${GREETING:+yes}',
    'WORKDIR /srv',
    'WORKDIR data/../logs',
    'USER $GREETING',
    'EXPOSE 8080 53/udp 7000-7001/TCP',
    'LABEL a=b "with space"=\'single $GREETING\'',
    'LABEL legacy form value',
    'VOLUME /cache $GREETING',
    'VOLUME ["/a", "/b"]',
    '# a comment',
    'ONBUILD RUN echo hi',
  ]);
  expect(c.Env).toEqual(['GREETING=hello', 'WHO=the importer', 'FULL=hello-the importer', 'EMPTY=fallback', 'SET=yes']);
  expect(c.WorkingDir).toBe('/srv/logs');
  expect(c.User).toBe('hello');
  expect(c.ExposedPorts).toEqual({ '8080/tcp': {}, '53/udp': {}, '7000/tcp': {}, '7001/tcp': {} });
  expect(c.Labels).toEqual({ a: 'b', 'with space': 'single $GREETING', legacy: 'form value' });
  expect(c.Volumes).toEqual({ '/cache': {}, hello: {}, '/a': {}, '/b': {} });
  expect(c.OnBuild).toEqual(['RUN echo hi']);
  expect(EMPTY.Env).toBeNull();
});

test('CMD and ENTRYPOINT: exec and shell forms; ENTRYPOINT clears a CMD that these changes did not set', () => {
  const both = applyImportChanges(EMPTY, ['CMD ["/bin/busybox", "true"]', 'ENTRYPOINT /bin/busybox echo']);
  expect(both.Cmd).toEqual(['/bin/busybox', 'true']);
  expect(both.Entrypoint).toEqual(['/bin/sh', '-c', '/bin/busybox echo']);
  const inherited = applyImportChanges({ ...EMPTY, Cmd: ['old'] }, ['ENTRYPOINT ["/e"]']);
  expect(inherited.Cmd).toBeNull();
  expect(applyImportChanges(EMPTY, ['CMD echo $HOME']).Cmd).toEqual(['/bin/sh', '-c', 'echo $HOME']);
});

test('HEALTHCHECK: shell and exec forms, NONE, and its flags as Go durations', () => {
  expect(
    applyImportChanges(EMPTY, [
      'HEALTHCHECK --interval=5s --timeout=1m30s --start-period=100ms --retries=2 CMD echo hi',
    ]).Healthcheck,
  ).toEqual({
    Test: ['CMD-SHELL', 'echo hi'],
    Interval: 5e9,
    Timeout: 90e9,
    StartPeriod: 1e8,
    Retries: 2,
  });
  expect(applyImportChanges(EMPTY, ['HEALTHCHECK CMD ["/bin/true", "x"]']).Healthcheck).toEqual({
    Test: ['CMD', '/bin/true', 'x'],
  });
  expect(applyImportChanges(EMPTY, ['HEALTHCHECK NONE']).Healthcheck).toEqual({ Test: ['NONE'] });
  expect(() => applyImportChanges(EMPTY, ['HEALTHCHECK --interval=5 CMD x'])).toThrow(
    'time: missing unit in duration "5"',
  );
  expect(() => applyImportChanges(EMPTY, ['HEALTHCHECK --retries=0 CMD x'])).toThrow(
    '--retries must be at least 1 (not 0)',
  );
  expect(() => applyImportChanges(EMPTY, ['HEALTHCHECK FOO x'])).toThrow('Unknown type "FOO" in HEALTHCHECK (try CMD)');
});

test("refused changes carry dockerd's words", () => {
  /** The refusal's message (an InvalidArgumentError's), or what happened instead. */
  const refused = (change: string) => {
    try {
      applyImportChanges(EMPTY, [change]);
    } catch (e) {
      return e instanceof InvalidArgumentError ? e.message : `not an InvalidArgumentError: ${String(e)}`;
    }
    return 'accepted';
  };
  expect(refused('RUN true')).toBe('run is not a valid change command');
  expect(refused('FROM scratch')).toBe('from is not a valid change command');
  expect(refused('COPY a b')).toBe('copy is not a valid change command');
  expect(refused('EXPOSE nope')).toBe('Invalid containerPort: nope');
  expect(refused('ONBUILD FROM x')).toBe("FROM isn't allowed as an ONBUILD trigger");
  expect(refused('ENV')).toBe('ENV requires at least one argument');
});
