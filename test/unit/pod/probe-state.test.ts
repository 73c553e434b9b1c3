/**
 * The probe state machine (src/pod/health/probe-state.ts), the kubelet's rules with no timers:
 * thresholds count results in a row, the startup probe holds liveness and readiness off, a
 * liveness or startup failure run asks for a kill and puts the probes on hold, readiness
 * flips `ready` both ways and never kills.
 */
import { ContainerProbeState, type ProbeSpec } from '../../../src/pod/health/probe-state';

const spec = (failureThreshold = 3, successThreshold = 1): ProbeSpec => ({
  action: { type: 'exec', args: ['true'] },
  initialDelayMs: 0,
  periodMs: 10,
  timeoutMs: 10,
  failureThreshold,
  successThreshold,
});

test('no probes: started and ready at once; nothing is active', () => {
  const s = new ContainerProbeState({});
  expect(s.status).toEqual({ started: true, ready: true });
  expect(s.active('liveness')).toBe(false);
  expect(s.record('liveness', false)).toEqual({ changed: false });
});

test('readiness: not ready until successThreshold successes in a row; failureThreshold failures in a row make it unready; never a kill', () => {
  const s = new ContainerProbeState({ readiness: spec(2, 3) });
  expect(s.status).toEqual({ started: true, ready: false });
  expect(s.record('readiness', true)).toEqual({ changed: false });
  expect(s.record('readiness', true)).toEqual({ changed: false });
  expect(s.record('readiness', false)).toEqual({ changed: false });
  // The run starts again after a failure: three more successes.
  s.record('readiness', true);
  s.record('readiness', true);
  expect(s.status.ready).toBe(false);
  expect(s.record('readiness', true)).toEqual({ changed: true });
  expect(s.status.ready).toBe(true);
  expect(s.record('readiness', false)).toEqual({ changed: false });
  expect(s.record('readiness', true)).toEqual({ changed: false });
  expect(s.record('readiness', false)).toEqual({ changed: false });
  expect(s.record('readiness', false)).toEqual({ changed: true });
  expect(s.status.ready).toBe(false);
  for (let i = 0; i < 10; i++) expect(s.record('readiness', false).kill).toBeUndefined();
  expect(s.active('readiness')).toBe(true);
});

test('liveness: failureThreshold failures in a row ask for a kill, once; a success in between resets the count', () => {
  const s = new ContainerProbeState({ liveness: spec(3) });
  expect(s.status).toEqual({ started: true, ready: true });
  s.record('liveness', false);
  s.record('liveness', false);
  expect(s.record('liveness', true)).toEqual({ changed: false });
  s.record('liveness', false);
  s.record('liveness', false);
  expect(s.record('liveness', false)).toEqual({ changed: false, kill: 'liveness' });
  expect(s.onHold).toBe(true);
  expect(s.active('liveness')).toBe(false);
  expect(s.record('liveness', false)).toEqual({ changed: false });
});

test('startup holds liveness and readiness off until it succeeds; then it stops', () => {
  const s = new ContainerProbeState({ startup: spec(5), liveness: spec(1), readiness: spec(1, 1) });
  expect(s.status).toEqual({ started: false, ready: false });
  expect([s.active('startup'), s.active('liveness'), s.active('readiness')]).toEqual([true, false, false]);
  // Results of the others are not counted while not started.
  expect(s.record('liveness', false)).toEqual({ changed: false });
  expect(s.onHold).toBe(false);
  expect(s.record('startup', false)).toEqual({ changed: false });
  expect(s.record('startup', true)).toEqual({ changed: true });
  expect(s.status).toEqual({ started: true, ready: false });
  expect([s.active('startup'), s.active('liveness'), s.active('readiness')]).toEqual([false, true, true]);
  expect(s.record('readiness', true)).toEqual({ changed: true });
  expect(s.status).toEqual({ started: true, ready: true });
});

test('startup without readiness: ready once started; failureThreshold startup failures ask for a kill', () => {
  const ok = new ContainerProbeState({ startup: spec(2) });
  expect(ok.record('startup', true)).toEqual({ changed: true });
  expect(ok.status).toEqual({ started: true, ready: true });
  const bad = new ContainerProbeState({ startup: spec(2), liveness: spec(1) });
  expect(bad.record('startup', false)).toEqual({ changed: false });
  expect(bad.record('startup', false)).toEqual({ changed: false, kill: 'startup' });
  expect(bad.status).toEqual({ started: false, ready: false });
  expect(bad.active('liveness')).toBe(false);
});
