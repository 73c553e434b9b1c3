/**
 * A VM's shares, as the pod layer uses them: where a container's root filesystem goes in the
 * rootfs share, how a host source (a bind source, a volume's data directory, a host unix
 * socket) reaches a container through the volume share, and how what happens to the volume
 * share's files on either side reaches the other. The pod layer says what to share and where;
 * the shares' directories, keyed names, tag, relays and watcher are this folder's.
 *
 *   rootfs      a container's rootfs place in the rootfs share (`containers/<id>/rootfs`)
 *   prepare     the share is there (the VM was booted with it) and its name key is ready
 *   share       a source's copy at its keyed place in `volumes/` (./share-copies.ts, ./share-names.ts)
 *   unshare     that copy taken away again
 *   mountIn     a shared source mounted at a path inside a container (Agent.mount, the share's tag)
 *   watch       the guest's events on the share answered: sockets both ways (./share-sockets.ts)
 *               and the host's file events for the guest's inotify watches (./share-events.ts)
 *   relaySocket a host socket bound as a single file, relayed (./socket-relay.ts); resumeSocket
 *               relays it again after a daemon restart
 *   endStale    after a daemon restart, an earlier daemon's relayed connections ended
 *
 * Nothing a guest can write is followed by name: copies are attached onto entries reached one
 * component at a time beneath the held share directory (src/util/beneath.ts), and the paths a
 * guest names in its events are resolved beneath it in one openat2 call
 * (src/util/resolve-beneath.ts).
 */
import type { AgentProcess, Vm } from '../types';
import type { OpenHostPath } from '../../util/host-path';
import type { BeneathPath } from '../../util/beneath';
import { sourceSubpath, shareKey } from './share-names';
import { bindCopy, unbindCopy } from './share-copies';
import { endShareConnections, relayShareSockets } from './share-sockets';
import { bindHostSocket, endStaleConnections, resumeHostSocket, type SocketBind } from './socket-relay';

export type { HostSocketSource, SocketBind } from './socket-relay';

/** A source as the share names it: its path as given (keyed, never opened here) and its access mode. */
export interface ShareKey {
  /** The source's path (a bind source as the user gave it, a volume's data directory). */
  source: string;
  /** Read-only copies and read-write ones of one source are two entries of the share. */
  readOnly: boolean;
}

/** A source's entry in the share, as `share` left it. */
export interface SharedSource {
  /** Its place in the share, relative to the share's root. */
  readonly subpath: string;
  /** Whether this call made the copy (false: another container of the VM had it there already). */
  readonly made: boolean;
}

/** A container's root filesystem's place in the VM's rootfs share. */
export interface RootfsPlace {
  /** Where the host mounts it: beneath the share directory, which the guest writes (never followed). */
  host: BeneathPath;
  /** The same directory as the agent names it (CREATE_CONTAINER's rootfs, relative to the share). */
  guest: string;
}

/** One VM's shares (see the module comment); vmShare gives the one of a VM. */
export interface VmShare {
  /** Where container `containerId`'s root filesystem goes in the VM's rootfs share. */
  rootfs(containerId: string): RootfsPlace;
  /**
   * Ready the volume share for sources: throws when the VM was booted without one, and reads
   * its name key (made at the first use, kept as long as the VM).
   */
  prepare(): void;
  /**
   * Copy an open source (a directory or a regular file, held with no symlink followed) to its
   * keyed place in the share, unless another container of the VM has it there already.
   */
  share(source: OpenHostPath, key: ShareKey): Promise<SharedSource>;
  /** Take away a copy that `share` made (one it found there is left to its maker). */
  unshare(shared: SharedSource): Promise<void>;
  /**
   * Mount the shared source `key` at `target` inside container `containerId` (read-only when
   * its key is), and start the share's relays for that container (`watch`).
   */
  mountIn(containerId: string, target: string, key: ShareKey): Promise<void>;
  /**
   * Answer the guest's events on the share from now until the VM goes, with `containerId`
   * among the containers connections are made under: unix sockets made in it on either side
   * reach the other, and the host's writes to a file a guest process watches reach its
   * inotify watch. A VM whose agent or kernel cannot report them keeps both on its own side.
   */
  watch(containerId: string): void;
  /**
   * Make a socket at a path inside a container whose connections are relayed to a host socket
   * (a socket bind). Resolves once the guest listens.
   */
  relaySocket(b: SocketBind): Promise<void>;
  /** After a daemon restart: relay again a socket bind whose listener the guest kept. */
  resumeSocket(b: SocketBind): void;
  /**
   * After a daemon restart: end the relayed connections of container `containerId` (of the
   * share's sockets and of its socket binds) that an earlier daemon made, among what the
   * re-adopted VM's agent lists (`procs`): their host ends went with that daemon.
   */
  endStale(procs: AgentProcess[], containerId: string): void;
}

const shares = new WeakMap<Vm, VmShare>();

/** The volume share of `vm` (one object per VM). */
export function vmShare(vm: Vm): VmShare {
  let s = shares.get(vm);
  if (!s) shares.set(vm, (s = shareOf(vm)));
  return s;
}

function shareOf(vm: Vm): VmShare {
  const device = () => {
    const d = vm.devices.volumes;
    if (!d) throw new Error(`VM ${vm.id} has no volume share`);
    return d;
  };
  const placeOf = (key: ShareKey): BeneathPath => {
    const d = device();
    return { root: d.hostDir, rel: sourceSubpath(d.hostDir, key.source, key.readOnly) };
  };
  return {
    rootfs: (containerId) => {
      const guest = `containers/${containerId}/rootfs`;
      return { host: { root: vm.shareDir, rel: guest }, guest };
    },
    prepare: () => void shareKey(device().hostDir),
    share: async (source, key) => {
      const place = placeOf(key);
      return { subpath: place.rel, made: await bindCopy(place, source, key.readOnly) };
    },
    unshare: async (shared) => {
      if (shared.made) await unbindCopy({ root: device().hostDir, rel: shared.subpath });
    },
    mountIn: async (containerId, target, key) => {
      const d = device();
      await vm.agent.mount({
        containerId,
        path: target,
        fstype: 'virtiofs',
        source: d.tag,
        subpath: sourceSubpath(d.hostDir, key.source, key.readOnly),
        readOnly: key.readOnly,
      });
      relayShareSockets(vm, containerId);
    },
    watch: (containerId) => relayShareSockets(vm, containerId),
    relaySocket: (b) => bindHostSocket(vm.agent, b),
    resumeSocket: (b) => resumeHostSocket(vm.agent, b),
    endStale: (procs, containerId) => {
      endShareConnections(vm.agent, procs, containerId);
      endStaleConnections(vm.agent, procs, containerId);
    },
  };
}
