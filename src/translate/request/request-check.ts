/**
 * The checks of a neutral creation request (./container-request.ts) that need no image, run
 * before the image is looked up, so that a bad request is refused before anything else. They
 * are the checks dockerd makes of the same settings, on the request's own fields: a Docker
 * word is kept where it names the setting plainly (memory, CPU period, cpuset, working
 * directory), and the request's word is used where Docker's names a field the request does
 * not have (a capability, a mount). Everything else is checked by the translation
 * (./request-pod.ts: the network, the extra hosts, the seccomp profile, the command).
 */
import * as path from 'node:path';
import { InvalidArgumentError } from '../../errors';
import { capabilityName, isCapability } from '../../util/capabilities';
import { parseCgroupParent } from './policy/cgroup-parent';
import type { ContainerRequest, MountRequest } from './container-request';
import { checkResources } from './policy/resource-checks';
import { mountTarget } from './policy/mount-order';

/** Check `req` (see the module comment); throws InvalidArgumentError. */
export function checkContainerRequest(req: ContainerRequest, hostCpus: number): void {
  if (!req.image) throw new InvalidArgumentError('the request names no image');
  if (req.workingDir && !req.workingDir.startsWith('/'))
    throw new InvalidArgumentError(
      `the working directory '${req.workingDir}' is invalid, it needs to be an absolute path`,
    );
  for (const e of req.env ?? [])
    if (e === '' || e.startsWith('=')) throw new InvalidArgumentError(`invalid environment variable: ${e}`);
  checkResources({ ...req.resources, oomScoreAdj: req.security?.oomScoreAdj }, hostCpus);
  for (const c of req.security?.capabilities ?? [])
    if (!isCapability(capabilityName(c))) throw new InvalidArgumentError(`unknown capability: ${JSON.stringify(c)}`);
  parseCgroupParent(req.cgroupParent ?? '');
  checkMounts(req.mounts ?? []);
}

/** Both paths of every mount absolute (a volume's, a tmpfs's and an empty directory's one), and no mount point twice. */
function checkMounts(mounts: readonly MountRequest[]): void {
  const seen = new Set<string>();
  for (const m of mounts) {
    const paths: Array<readonly ['host' | 'container', string]> = [['container', m.target]];
    if (m.kind !== 'volume' && m.kind !== 'tmpfs' && m.kind !== 'emptyDir') paths.unshift(['host', m.source]);
    for (const [what, p] of paths) {
      if (!path.posix.isAbsolute(p))
        throw new InvalidArgumentError(`mount ${what} path ${JSON.stringify(p)} is not absolute`);
    }
    const target = mountTarget(m.target);
    if (seen.has(target)) throw new InvalidArgumentError(`Duplicate mount point: ${target}`);
    seen.add(target);
  }
}
