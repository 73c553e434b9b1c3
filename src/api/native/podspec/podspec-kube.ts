/**
 * The Kubernetes `v1 Pod` subset podvisor runs: metadata (name, labels), spec (containers,
 * initContainers, volumes of type emptyDir and hostPath, restartPolicy,
 * terminationGracePeriodSeconds, hostname) and per container name, image, command, args, env
 * (plain values), workingDir, ports, volumeMounts, resources.limits and requests (cpu,
 * memory), liveness, readiness and startup probes (./podspec-probes.ts),
 * securityContext.privileged, tty, stdin. Anything else set in the file is a problem named
 * by its path (./podspec-read.ts).
 */
import { Fields, Problems, parseCpuQuantity, parseMemoryQuantity } from './podspec-read';
import { checkHostPorts, isHostIp } from './podspec-ports';
import { readProbes } from './podspec-probes';
import type {
  ManifestContainer,
  ManifestPort,
  ManifestRestartPolicy,
  ManifestVolume,
  PodManifest,
} from './podspec-types';

const RESTART: Record<string, ManifestRestartPolicy> = { Always: 'Always', OnFailure: 'OnFailure', Never: 'Never' };

/** Fields of a Kubernetes container spec known but not run by podvisor. */
const UNSUPPORTED_CONTAINER = [
  'envFrom',
  'lifecycle',
  'volumeDevices',
  'stdinOnce',
  'terminationMessagePath',
  'terminationMessagePolicy',
  'resizePolicy',
  'restartPolicy',
];
/** Fields of a Kubernetes pod spec known but not run by podvisor. */
const UNSUPPORTED_SPEC = [
  'nodeName',
  'nodeSelector',
  'affinity',
  'tolerations',
  'serviceAccountName',
  'serviceAccount',
  'automountServiceAccountToken',
  'hostNetwork',
  'hostPID',
  'hostIPC',
  'shareProcessNamespace',
  'dnsPolicy',
  'dnsConfig',
  'hostAliases',
  'priority',
  'priorityClassName',
  'schedulerName',
  'securityContext',
  'imagePullSecrets',
  'ephemeralContainers',
  'subdomain',
  'setHostnameAsFQDN',
  'runtimeClassName',
  'overhead',
  'topologySpreadConstraints',
  'readinessGates',
  'activeDeadlineSeconds',
  'enableServiceLinks',
  'preemptionPolicy',
  'os',
  'hostUsers',
  'schedulingGates',
  'resourceClaims',
];

function ports(c: Fields): ManifestPort[] {
  return c.objects('ports').flatMap((p) => {
    const containerPort = p.int('containerPort', 65535);
    const hostPort = p.int('hostPort', 65535);
    const proto = (p.string('protocol') ?? 'TCP').toLowerCase();
    const hostIP = p.string('hostIP');
    const name = p.string('name');
    p.done();
    if (proto !== 'tcp' && proto !== 'udp') {
      c.problems.add(`${p.path}.protocol`, 'must be TCP or UDP');
      return [];
    }
    if (!containerPort) {
      if (containerPort === undefined) c.problems.add(`${p.path}.containerPort`, 'is required');
      return [];
    }
    if (hostIP && !isHostIp(hostIP)) c.problems.add(`${p.path}.hostIP`, 'must be an IPv4 address');
    if (hostIP && !hostPort) c.problems.add(`${p.path}.hostIP`, 'needs a hostPort');
    return [
      {
        containerPort,
        ...(hostPort ? { hostPort } : {}),
        ...(hostIP && hostPort ? { hostIP } : {}),
        protocol: proto,
        ...(name ? { name } : {}),
      },
    ];
  });
}

function env(c: Fields): string[] {
  return c.objects('env').flatMap((e) => {
    const name = e.string('name');
    const value = e.string('value') ?? '';
    e.unsupported('valueFrom');
    e.done();
    if (!name) {
      c.problems.add(`${e.path}.name`, 'is required');
      return [];
    }
    return [`${name}=${value}`];
  });
}

/** The cpu and memory of `limits` or `requests` (bytes, millicores), with the quantities as written. */
function quantities(f: Fields | undefined): { memory?: number; cpu?: number; raw: Record<string, string> } {
  const out: { memory?: number; cpu?: number; raw: Record<string, string> } = { raw: {} };
  if (!f) return out;
  for (const [key, parse] of [
    ['memory', parseMemoryQuantity],
    ['cpu', parseCpuQuantity],
  ] as const) {
    const v = f.raw(key);
    if (v === undefined) continue;
    const n = typeof v === 'string' || typeof v === 'number' ? parse(v) : undefined;
    if (n === undefined) f.problems.add(`${f.path}.${key}`, `bad quantity ${JSON.stringify(v)}`);
    else {
      out[key] = n;
      out.raw[key] = String(v);
    }
  }
  f.done();
  return out;
}

function container(c: Fields, init = false): ManifestContainer {
  const name = c.string('name') ?? '';
  const image = c.string('image') ?? '';
  if (!name) c.problems.add(`${c.path}.name`, 'is required');
  if (!image) c.problems.add(`${c.path}.image`, 'is required');
  const out: ManifestContainer = {
    name,
    image,
    env: env(c),
    tty: c.bool('tty') ?? false,
    stdin: c.bool('stdin') ?? false,
    ports: ports(c),
    volumeMounts: c.objects('volumeMounts').map((m) => {
      const vm = {
        name: m.string('name') ?? '',
        mountPath: m.string('mountPath') ?? '',
        readOnly: m.bool('readOnly') ?? false,
      };
      m.unsupported('subPath');
      m.unsupported('subPathExpr');
      m.unsupported('mountPropagation');
      m.unsupported('recursiveReadOnly');
      m.done();
      if (!vm.name) c.problems.add(`${m.path}.name`, 'is required');
      if (!vm.mountPath.startsWith('/')) c.problems.add(`${m.path}.mountPath`, 'must be an absolute path');
      return vm;
    }),
    privileged: false,
    labels: {},
  };
  const command = c.strings('command');
  const args = c.strings('args');
  const workingDir = c.string('workingDir');
  if (command) out.command = command;
  if (args) out.args = args;
  if (workingDir) out.workingDir = workingDir;
  const res = c.object('resources');
  if (res) {
    const limits = quantities(res.object('limits'));
    const requests = quantities(res.object('requests'));
    if (limits.memory !== undefined) out.memoryLimit = limits.memory;
    if (limits.cpu !== undefined) out.cpuLimitMillis = limits.cpu;
    if (requests.memory !== undefined) out.memoryRequest = requests.memory;
    if (requests.cpu !== undefined) out.cpuRequestMillis = requests.cpu;
    // The API server's check (ValidateResourceRequirements): a request above its limit.
    for (const k of ['memory', 'cpu'] as const) {
      const lim = limits[k];
      const req = requests[k];
      if (lim !== undefined && req !== undefined && req > lim) {
        c.problems.add(
          `${res.path}.requests`,
          `Invalid value: ${JSON.stringify(requests.raw[k])}: ` +
            `must be less than or equal to ${k} limit of ${limits.raw[k]}`,
        );
      }
    }
    res.unsupported('claims');
    res.done();
  }
  const sc = c.object('securityContext');
  if (sc) {
    out.privileged = sc.bool('privileged') ?? false;
    const uid = sc.int('runAsUser');
    const gid = sc.int('runAsGroup');
    if (uid !== undefined) out.user = gid !== undefined ? `${uid}:${gid}` : String(uid);
    else if (gid !== undefined) sc.problems.add(`${sc.path}.runAsGroup`, 'needs runAsUser');
    for (const k of [
      'capabilities',
      'readOnlyRootFilesystem',
      'runAsNonRoot',
      'allowPrivilegeEscalation',
      'seLinuxOptions',
      'seccompProfile',
      'appArmorProfile',
      'procMount',
      'windowsOptions',
    ]) {
      sc.unsupported(k);
    }
    sc.done();
  }
  const probes = readProbes(c, out.ports, init);
  if (probes) out.probes = probes;
  const pull = c.string('imagePullPolicy');
  if (pull && pull !== 'IfNotPresent') c.problems.add(`${c.path}.imagePullPolicy`, 'only IfNotPresent is supported');
  for (const k of UNSUPPORTED_CONTAINER) c.unsupported(k);
  c.done();
  return out;
}

function volume(v: Fields): ManifestVolume[] {
  const name = v.string('name') ?? '';
  if (!name) v.problems.add(`${v.path}.name`, 'is required');
  const found: ManifestVolume[] = [];
  // `emptyDir: {}` in JSON, a bare `emptyDir:` (null) in YAML: both ask for one.
  const hasEmpty = 'emptyDir' in v.obj;
  const empty = v.object('emptyDir');
  if (hasEmpty) {
    const medium = empty?.string('medium');
    if (medium && medium !== 'Memory') v.problems.add(`${v.path}.emptyDir.medium`, 'must be "" or Memory');
    const size = empty?.raw('sizeLimit');
    const sizeLimit = typeof size === 'string' || typeof size === 'number' ? parseMemoryQuantity(size) : undefined;
    if (size !== undefined && sizeLimit === undefined) v.problems.add(`${v.path}.emptyDir.sizeLimit`, 'bad quantity');
    empty?.done();
    found.push({ name, type: 'emptyDir', ...(sizeLimit ? { sizeLimit } : {}) });
  }
  const host = v.object('hostPath');
  if (host) {
    const p = host.string('path') ?? '';
    const type = host.string('type') ?? '';
    if (!p.startsWith('/')) v.problems.add(`${host.path}.path`, 'must be an absolute path');
    if (!['', 'Directory', 'DirectoryOrCreate'].includes(type))
      v.problems.add(`${host.path}.type`, 'only Directory and DirectoryOrCreate are supported');
    host.done();
    found.push({ name, type: 'hostPath', path: p, create: type === 'DirectoryOrCreate' });
  }
  for (const k of Object.keys(v.obj))
    if (k !== 'name' && k !== 'emptyDir' && k !== 'hostPath')
      v.unsupported(k, 'volume type not supported by podvisor (emptyDir and hostPath are)');
  v.done();
  if (found.length > 1) v.problems.add(v.path, 'names more than one volume type');
  return found.slice(0, 1);
}

/** Read a Kubernetes v1 Pod (already parsed from JSON or YAML) into a manifest; problems are collected. */
export function readKubePod(doc: Fields, problems: Problems): PodManifest {
  const api = doc.string('apiVersion');
  const kind = doc.string('kind');
  if (api !== 'v1') problems.add('apiVersion', 'must be v1');
  if (kind !== 'Pod') problems.add('kind', 'must be Pod');
  const meta = doc.object('metadata');
  const name = meta?.string('name');
  const labels = meta?.map('labels') ?? {};
  if (meta) {
    const ns = meta.string('namespace');
    if (ns && ns !== 'default') problems.add('metadata.namespace', 'podvisor has no namespaces other than default');
    for (const k of [
      'annotations',
      'generateName',
      'ownerReferences',
      'finalizers',
      'uid',
      'resourceVersion',
      'creationTimestamp',
    ])
      meta.unsupported(k);
    meta.done();
  }
  doc.unsupported('status', 'is written by a cluster, not read from a pod file');
  const spec = doc.object('spec');
  if (!spec) problems.add('spec', 'is required');
  const out: PodManifest = {
    format: 'kubernetes',
    ...(name ? { name } : {}),
    labels,
    restartPolicy: 'Always',
    initContainers: [],
    containers: [],
    volumes: [],
  };
  if (spec) {
    out.containers = spec.objects('containers').map((c) => container(c));
    out.initContainers = spec.objects('initContainers').map((c) => container(c, true));
    out.volumes = spec.objects('volumes').flatMap(volume);
    const rp = spec.string('restartPolicy');
    if (rp !== undefined) {
      if (RESTART[rp]) out.restartPolicy = RESTART[rp];
      else problems.add('spec.restartPolicy', 'must be Always, OnFailure or Never');
    }
    const grace = spec.int('terminationGracePeriodSeconds');
    if (grace !== undefined) out.terminationGracePeriodSeconds = grace;
    const hostname = spec.string('hostname');
    if (hostname) out.hostname = hostname;
    for (const k of UNSUPPORTED_SPEC) spec.unsupported(k);
    spec.done();
    checkHostPorts(
      out.containers.flatMap((c, i) => c.ports.map((port, j) => ({ path: `spec.containers[${i}].ports[${j}]`, port }))),
      problems,
    );
    out.initContainers.forEach((c, i) =>
      c.ports.forEach((p, j) => {
        if (p.hostPort)
          problems.add(
            `spec.initContainers[${i}].ports[${j}].hostPort`,
            "an init container's ports are not published (publish them from an app container)",
          );
      }),
    );
  }
  doc.done();
  return out;
}
