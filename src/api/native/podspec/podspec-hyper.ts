/**
 * HyperContainer's podfile (hyperd types.proto, docs.hypercontainer.io reference/podfile.md):
 * id, hostname, labels, resource{vcpu, memory (MB)}, restartPolicy, tty, containers[],
 * volumes[] (format `vfs` with a source: a host directory; no source: a new empty one), and
 * portmappings[]. Container: name, image, command[], entrypoint[], workdir, envs[{env,
 * value}], volumes[{path, volume, readOnly}], user{name, group}, tty, labels, StopSignal.
 * dns, files, services, interfaces and per-container restartPolicy and files are known but not
 * run by podvisor: set, they are problems named by path, as unknown fields are.
 */
import { Fields, type Problems } from './podspec-read';
import { checkHostPorts } from './podspec-ports';
import type {
  ManifestContainer,
  ManifestPort,
  ManifestRestartPolicy,
  ManifestVolume,
  PodManifest,
} from './podspec-types';

const RESTART: Record<string, ManifestRestartPolicy> = { always: 'Always', onfailure: 'OnFailure', never: 'Never' };

function container(c: Fields, podTty: boolean): ManifestContainer {
  const image = c.string('image') ?? '';
  if (!image) c.problems.add(`${c.path}.image`, 'is required');
  const out: ManifestContainer = {
    name: c.string('name') ?? '',
    image,
    env: c.objects('envs').flatMap((e) => {
      const k = e.string('env');
      const v = e.string('value') ?? '';
      e.done();
      if (!k) {
        c.problems.add(`${e.path}.env`, 'is required');
        return [];
      }
      return [`${k}=${v}`];
    }),
    tty: c.bool('tty') ?? podTty,
    stdin: false,
    ports: c.objects('ports').flatMap((p) => port(p)),
    volumeMounts: c.objects('volumes').map((m) => {
      const vm = {
        name: m.string('volume') ?? '',
        mountPath: m.string('path') ?? '',
        readOnly: m.bool('readOnly') ?? false,
      };
      m.done();
      if (!vm.name) c.problems.add(`${m.path}.volume`, 'is required');
      if (!vm.mountPath.startsWith('/')) c.problems.add(`${m.path}.path`, 'must be an absolute path');
      return vm;
    }),
    privileged: false,
    labels: c.map('labels'),
  };
  const entrypoint = c.strings('entrypoint');
  const command = c.strings('command');
  const workdir = c.string('workdir');
  const stop = c.string('StopSignal') ?? c.string('stopSignal');
  if (entrypoint) out.command = entrypoint;
  if (command) out.args = command;
  if (workdir) out.workingDir = workdir;
  if (stop) out.stopSignal = stop;
  const user = c.object('user');
  if (user) {
    const name = user.string('name');
    const group = user.string('group');
    user.unsupported('additionalGroups');
    user.done();
    if (name) out.user = group ? `${name}:${group}` : name;
    else if (group) c.problems.add(`${user.path}.group`, 'needs user.name');
  }
  c.unsupported('files', 'podfile files are not supported by podvisor');
  c.unsupported('restartPolicy', 'podvisor has one restart policy per pod; set it on the pod');
  c.unsupported('sysctl');
  c.done();
  return out;
}

function port(p: Fields): ManifestPort[] {
  const containerPort = p.int('containerPort', 65535);
  const hostPort = p.int('hostPort', 65535);
  const proto = (p.string('protocol') ?? 'tcp').toLowerCase();
  p.done();
  if (proto !== 'tcp' && proto !== 'udp') {
    p.problems.add(`${p.path}.protocol`, 'must be tcp or udp');
    return [];
  }
  if (!containerPort) {
    p.problems.add(`${p.path}.containerPort`, 'is required');
    return [];
  }
  return [{ containerPort, ...(hostPort ? { hostPort } : {}), protocol: proto }];
}

function volume(v: Fields): ManifestVolume[] {
  const name = v.string('name') ?? '';
  const source = v.string('source') ?? '';
  const format = v.string('format') ?? '';
  v.unsupported('fstype');
  v.unsupported('option');
  v.done();
  if (!name) {
    v.problems.add(`${v.path}.name`, 'is required');
    return [];
  }
  if (!source) {
    if (format && format !== 'vfs') v.problems.add(`${v.path}.format`, 'a new volume takes no format');
    return [{ name, type: 'emptyDir' }];
  }
  if (format !== 'vfs') {
    v.problems.add(`${v.path}.format`, `${JSON.stringify(format)} volumes are not supported by podvisor (vfs is)`);
    return [];
  }
  if (!source.startsWith('/')) v.problems.add(`${v.path}.source`, 'must be an absolute host path');
  return [{ name, type: 'hostPath', path: source, create: false }];
}

/** Read a hyper podfile (already parsed from JSON or YAML) into a manifest; problems are collected. */
export function readHyperPodfile(doc: Fields, problems: Problems): PodManifest {
  const tty = doc.bool('tty') ?? false;
  const out: PodManifest = {
    format: 'hyper',
    labels: doc.map('labels'),
    restartPolicy: 'Never',
    initContainers: [],
    containers: doc.objects('containers').map((c) => container(c, tty)),
    volumes: doc.objects('volumes').flatMap(volume),
  };
  const id = doc.string('id');
  const hostname = doc.string('hostname');
  if (id) out.name = id;
  if (hostname) out.hostname = hostname;
  const rp = doc.string('restartPolicy');
  if (rp !== undefined) {
    const p = RESTART[rp.toLowerCase()];
    if (p) out.restartPolicy = p;
    else problems.add('restartPolicy', 'must be never, always or onFailure');
  }
  const res = doc.object('resource');
  if (res) {
    const vcpus = res.int('vcpu', 64);
    const memoryMiB = res.int('memory', 1024 * 1024);
    res.done();
    out.vm = { ...(vcpus ? { vcpus } : {}), ...(memoryMiB ? { memoryMiB } : {}) };
  }
  // Pod-level port mappings: the pod's containers share one network namespace, so they go to
  // the first container (which container listens makes no difference).
  const mappings = doc.objects('portmappings').map((p) => ({ path: p.path, ports: port(p) }));
  checkHostPorts(
    [
      ...out.containers.flatMap((c, i) => c.ports.map((p, j) => ({ path: `containers[${i}].ports[${j}]`, port: p }))),
      ...mappings.flatMap((m) => m.ports.map((p) => ({ path: m.path, port: p }))),
    ],
    problems,
  );
  const mapped = mappings.flatMap((m) => m.ports);
  if (mapped.length > 0) {
    if (out.containers[0]) out.containers[0].ports.push(...mapped);
    else problems.add('portmappings', 'needs a container');
  }
  doc.unsupported('dns', 'podvisor gives containers the host resolvers');
  doc.unsupported('files', 'podfile files are not supported by podvisor');
  doc.unsupported('services', 'podfile services are not supported by podvisor');
  doc.unsupported('interfaces', 'podfile interfaces are not supported by podvisor; use docker networks');
  doc.unsupported('log');
  doc.done();
  return out;
}
