/**
 * `docker run --network container:X`, `--pid container:X`, `--ipc container:X`: the new
 * container runs in X's VM (its pod's sandbox), so it shares X's network namespace and IPC (a
 * VM has one of each); with --pid, also the PID namespace of X's init. dockerd's checks and
 * words: a hostname or published ports conflict with the container network mode (400); the
 * container named by --pid or --ipc must exist at create (404), the one named by --network
 * only at start. Two different containers named by these modes cannot both be joined here:
 * one VM holds the new container.
 */
import { InvalidArgumentError, NotImplementedError } from '../../../errors';
import type { DockerConfig, DockerHostConfig } from './docker-types';

/** What a create asks to join. */
export interface JoinRequest {
  /** The container named (a reference, as given). */
  target: string;
  /** Share its PID namespace too. */
  pid: boolean;
  /** Share its /dev/shm too (--ipc container:X). */
  ipc: boolean;
  /** Named by --pid or --ipc: must exist at create already. */
  checkAtCreate: boolean;
}

function containerOf(mode: string | undefined): string | undefined {
  if (!mode || !mode.startsWith('container:')) return undefined;
  const ref = mode.slice('container:'.length);
  if (!ref) throw new InvalidArgumentError(`invalid container mode: ${JSON.stringify(mode)}`);
  return ref;
}

/** The join a create body asks for, checked as dockerd checks it; undefined when none. */
export function joinRequestOf(
  c: Pick<DockerConfig, 'Hostname' | 'MacAddress' | 'ExposedPorts'>,
  hc: Pick<DockerHostConfig, 'NetworkMode' | 'PidMode' | 'IpcMode' | 'PortBindings' | 'PublishAllPorts'> &
    Partial<Pick<DockerHostConfig, 'Links' | 'Dns' | 'ExtraHosts'>>,
): JoinRequest | undefined {
  const net = containerOf(hc.NetworkMode);
  const pid = containerOf(hc.PidMode);
  const ipc = containerOf(hc.IpcMode);
  if (net !== undefined) {
    // dockerd's checks of a container network mode, in its order.
    const conflict = (what: string) => new InvalidArgumentError(`conflicting options: ${what}`);
    if (c.Hostname) throw conflict('hostname and the network mode');
    if (hc.Links?.length)
      throw conflict("container type network can't be used with links. This would result in undefined behavior");
    if (hc.Dns?.length) throw conflict('dns and the network mode');
    if (hc.ExtraHosts?.length) throw conflict('custom host-to-IP mapping and the network mode');
    if (c.MacAddress) throw conflict('mac-address and the network mode');
    if (hc.PublishAllPorts || Object.keys(hc.PortBindings ?? {}).length > 0) {
      throw conflict('port publishing and the container type network mode');
    }
    if (Object.keys(c.ExposedPorts ?? {}).length > 0)
      throw conflict('port exposing and the container type network mode');
  }
  const named = [net, pid, ipc].filter((x): x is string => x !== undefined);
  if (named.length === 0) return undefined;
  if (new Set(named).size > 1) {
    throw new NotImplementedError(
      'podvisor runs a container in one VM: --network, --pid and --ipc container: modes must name the same container',
    );
  }
  return {
    target: named[0],
    pid: pid !== undefined,
    ipc: ipc !== undefined,
    checkAtCreate: pid !== undefined || ipc !== undefined,
  };
}
