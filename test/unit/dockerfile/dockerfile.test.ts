/**
 * The Dockerfile side of the classic builder, without a daemon: parsing into stages, the word
 * rules (quotes, escapes, variable expansion), each config instruction's effect on the image
 * config and its history text, `docker commit --change`, and COPY's glob matching.
 */
import { parseDockerfile, parseInstructions } from '../../../src/dockerfile/parse';
import { expandWord, splitWords, parseKeyValues } from '../../../src/dockerfile/words';
import { applyConfigInstruction, parseDuration, type RunConfig } from '../../../src/dockerfile/instructions';
import { applyChanges } from '../../../src/dockerfile/changes';
import { globRegExp } from '../../../src/builder/sources';
import { InvalidArgumentError } from '../../../src/errors';

const vars: Record<string, string> = { A: 'one', EMPTY: '', SP: 'x y' };
const lookup = (n: string) => vars[n];

test('words: quotes, escapes and expansion as dockerd applies them', () => {
  expect(splitWords('a "b c" \'d e\' f\\ g')).toEqual(['a', '"b c"', "'d e'", 'f\\ g']);
  expect(expandWord('$A-${A}', lookup)).toBe('one-one');
  expect(expandWord("'$A'", lookup)).toBe('$A');
  expect(expandWord('"$A \\$A"', lookup)).toBe('one $A');
  expect(expandWord('\\$A', lookup)).toBe('$A');
  expect(expandWord('${NOPE:-dflt}|${EMPTY:-e}|${EMPTY-e}|${A:+alt}|${NOPE:+alt}', lookup)).toBe('dflt|e||alt|');
  expect(expandWord('$1 $', lookup)).toBe('$1 $');
  expect(parseKeyValues('K=$A L="two words" M=${SP}', lookup, '\\', 'ENV', true)).toEqual([
    ['K', 'one'],
    ['L', 'two words'],
    ['M', 'x y'],
  ]);
  expect(parseKeyValues('K rest of $A', lookup, '\\', 'ENV', true)).toEqual([['K', 'rest of one']]);
  expect(() => parseKeyValues('=x', lookup, '\\', 'ENV', true)).toThrow('ENV names can not be blank');
});

test('parse: stages, AS names, meta ARGs, flags, exec form, continuations', () => {
  const df = parseDockerfile(
    [
      'ARG V=1',
      'FROM busybox:${V} AS Build',
      'RUN echo a \\',
      '  && echo b',
      'COPY --chown=1:2 --from=x a b',
      'FROM scratch',
      'CMD ["run", "it"]',
      '',
    ].join('\n'),
  );
  expect(df.metaArgs.map((a) => a.args)).toEqual(['V=1']);
  expect(df.stages.map((s) => [s.from, s.name])).toEqual([
    ['busybox:${V}', 'build'],
    ['scratch', undefined],
  ]);
  const [run, copy] = df.stages[0].instructions;
  expect(run.keyword).toBe('RUN');
  expect(run.args).toMatch(/^echo a\s+&& echo b$/);
  expect(copy.flags).toEqual({ chown: '1:2', from: 'x' });
  expect(copy.args).toBe('a b');
  expect(df.stages[1].instructions[0].json).toEqual(['run', 'it']);
  expect(() => parseDockerfile('RUN x\n')).toThrow(InvalidArgumentError);
  expect(() => parseDockerfile('FROM a\nBOGUS x\n')).toThrow('unknown instruction: BOGUS');
  expect(() => parseDockerfile('FROM a AS x\nFROM b AS x\n')).toThrow('duplicate name');
  expect(parseDockerfile('# escape=`\nFROM a\nRUN echo `\n  b\n').escape).toBe('`');
});

function apply(line: string, c: RunConfig = {}, cmdSet = { value: false }): { c: RunConfig; text: string } {
  const ins = parseInstructions(line).instructions[0];
  const text = applyConfigInstruction(ins, c, {
    escape: '\\',
    lookup: (n) => (n === 'HOME' ? '/root' : undefined),
    shell: ['/bin/sh', '-c'],
    cmdSet,
  });
  return { c, text };
}

test('config instructions change the config and give dockerd-like history texts', () => {
  expect(apply('ENV A=1 B="x y"', { Env: ['A=0', 'PATH=/bin'] })).toEqual({
    c: { Env: ['PATH=/bin', 'A=1', 'B=x y'] },
    text: 'ENV A=1 B=x y',
  });
  expect(apply('WORKDIR sub', { WorkingDir: '/app' }).c.WorkingDir).toBe('/app/sub');
  expect(apply('WORKDIR $HOME/x').c.WorkingDir).toBe('/root/x');
  expect(apply('USER 1000:1000').c.User).toBe('1000:1000');
  expect(apply('EXPOSE 80 53/udp 8000-8001').c.ExposedPorts).toEqual({
    '80/tcp': {},
    '53/udp': {},
    '8000/tcp': {},
    '8001/tcp': {},
  });
  expect(apply('VOLUME ["/a", "/b"]').c.Volumes).toEqual({ '/a': {}, '/b': {} });
  expect(apply('VOLUME /a /b').c.Volumes).toEqual({ '/a': {}, '/b': {} });
  expect(apply('CMD echo hi')).toEqual({
    c: { Cmd: ['/bin/sh', '-c', 'echo hi'] },
    text: 'CMD ["/bin/sh" "-c" "echo hi"]',
  });
  expect(apply('ENTRYPOINT ["/e"]', { Cmd: ['inherited'] }).c).toEqual({ Entrypoint: ['/e'], Cmd: null });
  expect(apply('ENTRYPOINT ["/e"]', { Cmd: ['mine'] }, { value: true }).c).toEqual({
    Entrypoint: ['/e'],
    Cmd: ['mine'],
  });
  expect(apply('LABEL "a b"=c d=e').c.Labels).toEqual({ 'a b': 'c', d: 'e' });
  expect(apply('STOPSIGNAL SIGINT').c.StopSignal).toBe('SIGINT');
  expect(apply('SHELL ["/bin/bash", "-c"]').c.Shell).toEqual(['/bin/bash', '-c']);
  expect(apply('ONBUILD RUN echo x').c.OnBuild).toEqual(['RUN echo x']);
  expect(apply('HEALTHCHECK --interval=1m30s --retries=2 CMD ["check"]').c.Healthcheck).toEqual({
    Test: ['CMD', 'check'],
    Interval: 90e9,
    Retries: 2,
  });
  expect(apply('HEALTHCHECK NONE').c.Healthcheck).toEqual({ Test: ['NONE'] });
  // The history text is Go's %v of dockerd's HealthConfig.
  expect(apply('HEALTHCHECK --interval=1m30s --retries=2 CMD ["check"]').text).toBe(
    `HEALTHCHECK &{["CMD" "check"] "1m30s" "0s" "0s" '\\x00'}`,
  );
  expect(apply('HEALTHCHECK --timeout=3s --start-period=10s CMD curl -f x').text).toBe(
    `HEALTHCHECK &{["CMD-SHELL" "curl -f x"] "0s" "3s" "10s" '\\x00'}`,
  );
  expect(() => apply('SHELL /bin/bash')).toThrow('SHELL requires the arguments to be in JSON form');
  expect(() => apply('ONBUILD ONBUILD RUN x')).toThrow("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  expect(() => apply('EXPOSE http')).toThrow('Invalid containerPort: http');
  expect(() => apply('HEALTHCHECK --interval=soon CMD x')).toThrow('invalid duration');
  expect(parseDuration('500ms', 'x')).toBe(5e8);
});

test('commit --change applies allowed instructions and refuses the others', () => {
  const base: RunConfig = { Env: ['A=1'], Cmd: ['sh'] };
  const c = applyChanges(base, ['ENV B=$A', 'CMD ["x"]', 'EXPOSE 80']);
  expect(c).toEqual({ Env: ['A=1', 'B=1'], Cmd: ['x'], ExposedPorts: { '80/tcp': {} } });
  expect(base.Env).toEqual(['A=1']);
  expect(() => applyChanges(base, ['RUN echo'])).toThrow('run is not a valid change command');
  expect(() => applyChanges(base, ['FROM x'])).toThrow('from is not a valid change command');
});

test('COPY globs match as Go filepath.Match: * and ? never cross a slash', () => {
  expect(globRegExp('*.txt').test('a.txt')).toBe(true);
  expect(globRegExp('*.txt').test('d/a.txt')).toBe(false);
  expect(globRegExp('d/?.txt').test('d/a.txt')).toBe(true);
  expect(globRegExp('[ab].c').test('b.c')).toBe(true);
  expect(globRegExp('[^ab].c').test('b.c')).toBe(false);
  expect(globRegExp('a.c').test('abc')).toBe(false);
});
