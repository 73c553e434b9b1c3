/**
 * Pod files: a Kubernetes v1 Pod or a HyperContainer podfile, JSON or YAML (the `yaml`
 * package, which reads JSON as the YAML 1.2 subset it is), into a PodManifest
 * (./podspec-types.ts). A file that asks for anything podvisor cannot run as written is
 * refused with a PodFileError naming every such field; nothing is dropped silently.
 */
import { lazyModule } from '../../../util/lazy-module';
import { Fields, Problems } from './podspec-read';
import { readHyperPodfile } from './podspec-hyper';
import { readKubePod } from './podspec-kube';
import { PodFileError, type PodManifest } from './podspec-types';

/** yaml, loaded at the first pod file rather than with the daemon (~11 ms of its start). */
const yaml = lazyModule<typeof import('yaml')>('yaml');

export { PodFileError };
export type { PodManifest };

/** Which kind of pod file: `auto` takes Kubernetes when the file has `apiVersion` or `kind`. */
export type PodFileFormat = 'auto' | 'kubernetes' | 'hyper';

/** Largest pod file read (bytes). */
export const MAX_POD_FILE = 1024 * 1024;

/**
 * Read a pod file's text (JSON or YAML, one document) into a manifest. Throws PodFileError
 * (an InvalidArgumentError) listing every unknown, unsupported or malformed field.
 */
export function parsePodFile(text: string, format: PodFileFormat = 'auto'): PodManifest {
  if (text.length > MAX_POD_FILE) throw new PodFileError([`the file is larger than ${MAX_POD_FILE} bytes`]);
  const doc = yaml().parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0)
    throw new PodFileError(doc.errors.map((e) => `not valid JSON or YAML: ${e.message.split('\n')[0]}`));
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  return readPodObject(value, format);
}

/** Read a pod file already parsed into plain values (a JSON request body). */
export function readPodObject(value: unknown, format: PodFileFormat = 'auto'): PodManifest {
  const problems = new Problems();
  const root = Fields.of(value, '', problems);
  if (!root) throw new PodFileError(problems.list.length ? ['the file must hold one object'] : ['the file is empty']);
  const kube = format === 'kubernetes' || (format === 'auto' && ('apiVersion' in root.obj || 'kind' in root.obj));
  const manifest = kube ? readKubePod(root, problems) : readHyperPodfile(root, problems);
  check(manifest, problems);
  if (problems.list.length > 0) throw new PodFileError(problems.list);
  return manifest;
}

/** Checks across fields: names unique, volumes mounted exist, at least one container. */
function check(m: PodManifest, problems: Problems): void {
  const containersKey = m.format === 'kubernetes' ? 'spec.containers' : 'containers';
  if (m.containers.length === 0) problems.add(containersKey, 'at least one container is required');
  const names = new Set<string>();
  const all = [...m.initContainers, ...m.containers];
  all.forEach((c, i) => {
    if (m.format === 'hyper' && !c.name) c.name = `container${i}`;
    if (c.name && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(c.name))
      problems.add(`container ${JSON.stringify(c.name)}`, 'name must be letters, digits, _, . or -');
    if (names.has(c.name)) problems.add(`container ${JSON.stringify(c.name)}`, 'name is used twice');
    names.add(c.name);
  });
  const volumes = new Set<string>();
  for (const v of m.volumes) {
    if (volumes.has(v.name)) problems.add(`volume ${JSON.stringify(v.name)}`, 'name is used twice');
    volumes.add(v.name);
  }
  for (const c of all) {
    for (const vm of c.volumeMounts) {
      if (vm.name && !volumes.has(vm.name))
        problems.add(
          `container ${JSON.stringify(c.name)}`,
          `mounts volume ${JSON.stringify(vm.name)}, which the pod does not define`,
        );
    }
  }
}
