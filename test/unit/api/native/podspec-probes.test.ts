/**
 * Probes and resource requests in Kubernetes pod files (src/api/native/podspec/podspec-probes.ts,
 * podspec-kube.ts, podspec-request.ts and the VM sizing of src/translate/request/policy/vm-size.ts): each handler read, Kubernetes' defaults applied,
 * Kubernetes' validation errors (by path and in its words) for bad values, named ports
 * resolved; requests sizing the VM where no limit is given.
 */
import { parsePodFile, PodFileError } from '../../../../src/api/native/podspec/podspec';
import { podOfFile } from '../../../helpers/pod-file';
import type { ImageRecord } from '../../../../src/storage/types';

/** A Pod of one container `app` whose container spec has these extra YAML lines (indented 4). */
function pod(containerLines: string, extra = ''): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
${extra}  containers:
  - name: app
    image: busybox
    ports: [{name: web, containerPort: 8080}, {name: metrics, containerPort: 9090}]
${containerLines
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;
}

/** The problems a file is refused with. */
function problems(text: string): string[] {
  try {
    parsePodFile(text);
  } catch (e) {
    if (e instanceof PodFileError) return e.problems;
    throw e;
  }
  throw new Error('the file was accepted');
}

describe('probes', () => {
  test("each handler is read, with Kubernetes' defaults for what is not given", () => {
    const m = parsePodFile(
      pod(`livenessProbe:
  exec: {command: [cat, /tmp/healthy]}
readinessProbe:
  httpGet: {path: /ready, port: web, httpHeaders: [{name: X-Probe, value: "1"}]}
  initialDelaySeconds: 2
  periodSeconds: 3
  timeoutSeconds: 4
  successThreshold: 2
  failureThreshold: 5
startupProbe:
  tcpSocket: {port: 9090, host: 10.0.0.9}
  failureThreshold: 30
  periodSeconds: 1
  terminationGracePeriodSeconds: 7`),
    );
    expect(m.containers[0].probes).toEqual({
      liveness: {
        action: { type: 'exec', command: ['cat', '/tmp/healthy'] },
        initialDelaySeconds: 0,
        periodSeconds: 10,
        timeoutSeconds: 1,
        failureThreshold: 3,
        successThreshold: 1,
      },
      readiness: {
        action: {
          type: 'httpGet',
          port: 8080,
          path: '/ready',
          scheme: 'HTTP',
          headers: [{ name: 'X-Probe', value: '1' }],
        },
        initialDelaySeconds: 2,
        periodSeconds: 3,
        timeoutSeconds: 4,
        failureThreshold: 5,
        successThreshold: 2,
      },
      startup: {
        action: { type: 'tcpSocket', host: '10.0.0.9', port: 9090 },
        initialDelaySeconds: 0,
        periodSeconds: 1,
        timeoutSeconds: 1,
        failureThreshold: 30,
        successThreshold: 1,
        terminationGracePeriodSeconds: 7,
      },
    });
  });

  test('0 means the default (as the API server defaults it); httpGet path defaults to /, scheme to HTTP', () => {
    const m = parsePodFile(
      pod(
        `readinessProbe: {httpGet: {port: 80}, periodSeconds: 0, timeoutSeconds: 0, successThreshold: 0, failureThreshold: 0}`,
      ),
    );
    expect(m.containers[0].probes?.readiness).toEqual({
      action: { type: 'httpGet', port: 80, path: '/', scheme: 'HTTP', headers: [] },
      initialDelaySeconds: 0,
      periodSeconds: 10,
      timeoutSeconds: 1,
      failureThreshold: 3,
      successThreshold: 1,
    });
    expect(
      parsePodFile(pod('livenessProbe: {httpGet: {port: 80, path: healthz, scheme: HTTPS}}')).containers[0].probes
        ?.liveness?.action,
    ).toMatchObject({ path: '/healthz', scheme: 'HTTPS' });
  });

  test("bad values get Kubernetes' validation errors, each by its path", () => {
    const at = 'spec.containers[0]';
    expect(problems(pod('livenessProbe: {exec: {command: ["true"]}, successThreshold: 2}'))).toEqual([
      `${at}.livenessProbe.successThreshold: Invalid value: 2: must be 1`,
    ]);
    expect(problems(pod('startupProbe: {exec: {command: ["true"]}, successThreshold: 3}'))).toEqual([
      `${at}.startupProbe.successThreshold: Invalid value: 3: must be 1`,
    ]);
    expect(
      problems(pod('readinessProbe: {exec: {command: ["true"]}, periodSeconds: -1, initialDelaySeconds: -5}')),
    ).toEqual([
      `${at}.readinessProbe.initialDelaySeconds: Invalid value: -5: must be greater than or equal to 0`,
      `${at}.readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0`,
    ]);
    expect(
      problems(
        pod(
          'readinessProbe: {exec: {command: ["true"]}, timeoutSeconds: -1, failureThreshold: -2, successThreshold: -3}',
        ),
      ),
    ).toEqual([
      `${at}.readinessProbe.timeoutSeconds: Invalid value: -1: must be greater than or equal to 0`,
      `${at}.readinessProbe.failureThreshold: Invalid value: -2: must be greater than or equal to 0`,
      `${at}.readinessProbe.successThreshold: Invalid value: -3: must be greater than or equal to 0`,
    ]);
    expect(problems(pod('livenessProbe: {periodSeconds: 5}'))).toEqual([
      `${at}.livenessProbe: Required value: must specify a handler type`,
    ]);
    expect(problems(pod('livenessProbe: {exec: {command: ["true"]}, tcpSocket: {port: 80}}'))).toEqual([
      `${at}.livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type`,
    ]);
    expect(problems(pod('livenessProbe: {exec: {}}'))).toEqual([`${at}.livenessProbe.exec.command: Required value`]);
    expect(problems(pod('livenessProbe: {httpGet: {port: 0}}'))).toEqual([
      `${at}.livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive`,
    ]);
    expect(problems(pod('livenessProbe: {tcpSocket: {port: 70000}}'))).toEqual([
      `${at}.livenessProbe.tcpSocket.port: Invalid value: 70000: must be between 1 and 65535, inclusive`,
    ]);
    expect(problems(pod('livenessProbe: {tcpSocket: {}}'))).toEqual([
      `${at}.livenessProbe.tcpSocket.port: Required value`,
    ]);
    expect(problems(pod('livenessProbe: {httpGet: {port: Web_Port}}'))).toEqual([
      `${at}.livenessProbe.httpGet.port: Invalid value: "Web_Port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`,
    ]);
    expect(problems(pod('livenessProbe: {httpGet: {port: "8080"}}'))).toEqual([
      `${at}.livenessProbe.httpGet.port: Invalid value: "8080": must contain at least one letter (a-z)`,
    ]);
    expect(problems(pod('livenessProbe: {httpGet: {port: admin}}'))).toEqual([
      `${at}.livenessProbe.httpGet.port: Invalid value: "admin": no port of the container is named admin`,
    ]);
    expect(problems(pod('livenessProbe: {httpGet: {port: 80, scheme: FTP}}'))).toEqual([
      `${at}.livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"`,
    ]);
    expect(problems(pod('livenessProbe: {httpGet: {port: 80, httpHeaders: [{name: "X Bad", value: v}]}}'))).toEqual([
      `${at}.livenessProbe.httpGet.httpHeaders: Invalid value: "X Bad": a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')`,
    ]);
    expect(problems(pod('readinessProbe: {exec: {command: ["true"]}, terminationGracePeriodSeconds: 5}'))).toEqual([
      `${at}.readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes`,
    ]);
    expect(problems(pod('livenessProbe: {exec: {command: ["true"]}, terminationGracePeriodSeconds: 0}'))).toEqual([
      `${at}.livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0`,
    ]);
    expect(problems(pod('livenessProbe: {grpc: {port: 9090}}'))).toEqual([
      `${at}.livenessProbe.grpc: grpc probes are not supported by podvisor (exec, httpGet and tcpSocket are)`,
    ]);
    expect(problems(pod('livenessProbe: {exec: {command: ["true"]}, colour: red}'))).toEqual([
      `${at}.livenessProbe.colour: unknown field`,
    ]);
  });

  test('an init container takes no probe (Kubernetes: Forbidden)', () => {
    const text = pod(
      '',
      '  initContainers:\n  - name: setup\n    image: busybox\n    readinessProbe: {exec: {command: ["true"]}}\n',
    );
    expect(problems(text)).toEqual([
      'spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers',
    ]);
  });

  test('the pod layer gets milliseconds, the named port resolved, and a pod that restarts its containers in place', async () => {
    const m = parsePodFile(
      pod(
        'livenessProbe: {httpGet: {port: metrics, path: /m, scheme: HTTPS}, initialDelaySeconds: 3, terminationGracePeriodSeconds: 2}\nstartupProbe: {exec: {command: ["true"]}}',
      ),
    );
    const image = { id: 'sha256:' + 'b'.repeat(64), config: { config: { Cmd: ['sh'] } } } as unknown as ImageRecord;
    const { spec } = await podOfFile(m, {
      id: 'f'.repeat(64),
      resolveImage: async () => image,
      defaults: { memoryMiB: 256, cpus: 1 },
      hostCpus: 4,
    });
    expect(spec.restartInPlace).toBe(true);
    expect(spec.containers[0].probes).toEqual({
      liveness: {
        action: { type: 'http', port: 9090, path: '/m', scheme: 'https', headers: [] },
        initialDelayMs: 3000,
        periodMs: 10000,
        timeoutMs: 1000,
        failureThreshold: 3,
        successThreshold: 1,
        killGraceSeconds: 2,
      },
      startup: {
        action: { type: 'exec', args: ['true'] },
        initialDelayMs: 0,
        periodMs: 10000,
        timeoutMs: 1000,
        failureThreshold: 3,
        successThreshold: 1,
      },
    });
  });
});

describe('resources.requests', () => {
  const image = { id: 'sha256:' + 'b'.repeat(64), config: { config: { Cmd: ['sh'] } } } as unknown as ImageRecord;
  const opts = {
    id: 'f'.repeat(64),
    resolveImage: async () => image,
    defaults: { memoryMiB: 256, cpus: 1 },
    hostCpus: 4,
  };
  const two = (a: string, b: string) => `apiVersion: v1
kind: Pod
metadata: {name: r}
spec:
  containers:
  - {name: a, image: busybox, resources: ${a}}
  - {name: b, image: busybox, resources: ${b}}
`;
  const vm = async (text: string) => (await podOfFile(parsePodFile(text), opts)).spec.vm;

  test('requests size the VM where no limit is given; a limit wins where there is one', async () => {
    // 512Mi + 256Mi requested, 1.5 + 0.75 CPU: 768 MiB and the guest's 64, 3 vCPUs.
    expect(await vm(two('{requests: {memory: 512Mi, cpu: 1500m}}', '{requests: {memory: 256Mi, cpu: 750m}}'))).toEqual({
      memoryMiB: 768 + 64,
      cpus: 3,
    });
    // a's limit (1Gi, 2 CPUs) wins over its request; b counts by its request.
    expect(
      await vm(
        two(
          '{requests: {memory: 512Mi, cpu: 1}, limits: {memory: 1Gi, cpu: 2}}',
          '{requests: {memory: 128Mi, cpu: 500m}}',
        ),
      ),
    ).toEqual({ memoryMiB: 1024 + 128 + 64, cpus: 3 });
  });

  test("requests smaller than the VM minimum are raised to it; a container with neither keeps the default's worth", async () => {
    expect(await vm(two('{requests: {memory: 16Mi, cpu: 10m}}', '{requests: {memory: 8Mi}}'))).toEqual({
      memoryMiB: 128,
      cpus: 1,
    });
    expect(await vm(two('{requests: {memory: 16Mi}}', '{}'))).toEqual({ memoryMiB: 256, cpus: 1 });
  });

  test('requests are not limits: no cgroup limit comes of them', async () => {
    const { spec } = await podOfFile(
      parsePodFile(two('{requests: {memory: 300Mi, cpu: 2}}', '{limits: {memory: 100Mi}}')),
      opts,
    );
    expect(spec.containers[0].limits).toBeUndefined();
    expect(spec.containers[1].limits).toEqual({ memoryMax: 100 * 2 ** 20 });
  });

  test('a request above its limit is refused as the API server refuses it; a bad quantity by path', () => {
    expect(problems(two('{requests: {cpu: "2"}, limits: {cpu: "1"}}', '{}'))).toEqual([
      'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
    ]);
    expect(problems(two('{requests: {memory: 1Gi}, limits: {memory: 512Mi}}', '{}'))).toEqual([
      'spec.containers[0].resources.requests: Invalid value: "1Gi": must be less than or equal to memory limit of 512Mi',
    ]);
    expect(problems(two('{requests: {memory: lots}}', '{}'))).toEqual([
      'spec.containers[0].resources.requests.memory: bad quantity "lots"',
    ]);
    expect(problems(two('{requests: {gpu: 1}}', '{}'))).toEqual([
      'spec.containers[0].resources.requests.gpu: unknown field',
    ]);
  });
});
