/**
 * The requests and events of the agent's socket and file-event operations (Agent.listenSocket,
 * acceptSocket, socketEvent, answerSocket, refuseSocket, dialSocket, fileEvent): a host socket
 * bound into a container, and sockets and inotify events of a 9p share across the VM's edge.
 */
/** Agent.fileEvent: which watched file, and what happened to it or to an entry of it. */
export interface FileEventRequest {
  /** The 9p share's tag. */
  tag: string;
  /** The watched file's path from the share's root (a WATCH event's). */
  path: string;
  /** The entry of the watched directory the event is about; absent: the watched file itself. */
  name?: string;
  /** inotify IN_* bits: one of MODIFY, ATTRIB, CLOSE_WRITE, MOVED_FROM, MOVED_TO, CREATE, DELETE, with ISDIR. */
  mask: number;
  /** A rename's cookie (MOVED_FROM and MOVED_TO of one rename share it), else 0. */
  cookie: number;
}

/**
 * Who connected in the guest, as the guest reports it (its word: a guest root can claim any
 * ids, no more than a root container can take under runc): the effective uid and gid that
 * SO_PEERCRED shows, and the supplementary groups (SO_PEERGROUPS), at most 64. The host
 * connects to a host socket as them (src/pod/network/connect-as.ts).
 */
export interface PeerCredentials {
  uid: number;
  gid: number;
  groups: number[];
}

/** Agent.socketEvent: what the guest kernel reports about a socket file in a 9p share. */
export interface ShareSocketEvent {
  /** connect, bound: a unix socket file; watch: an inotify watch added on a file there. */
  kind: 'connect' | 'bound' | 'watch';
  /** The kernel's id of a connect, for answerSocket or refuseSocket. */
  token: number;
  /** The 9p mount's tag (the guest's word: check it). */
  tag: string;
  /** The file's path from the share's root, as the guest names it (check it). */
  path: string;
  /** A connect's caller; absent from a guest kernel or agent that predates it. */
  peer?: PeerCredentials;
}

/** Agent.answerSocket: which connect, and the process the connection becomes. */
export interface SocketAnswerRequest {
  token: number;
  /** A container of the VM, whose connection it becomes (ended with it). */
  containerId: string;
  processId: string;
}

/** Agent.dialSocket: the socket file to connect to, and the process it becomes. */
export interface SocketDialRequest {
  containerId: string;
  processId: string;
  /** The 9p share's tag. */
  tag: string;
  /** Absolute path from the share's root. */
  path: string;
  /**
   * The host client's ids (SO_PEERCRED and SO_PEERGROUPS of its connection): the agent
   * connects as them, so the guest's server sees what it sees under runc; absent: as root.
   */
  peer?: PeerCredentials;
}

/** Agent.listenSocket: where and how the socket is made in the container. */
export interface SocketListenRequest {
  containerId: string;
  /** Absolute path inside the container. */
  path: string;
  /** Permission bits (0..0o777). */
  mode: number;
  /** The socket's owner (the host socket's, so its mode means the same); absent: root. */
  owner?: { uid: number; gid: number };
  /** The host's number for it, unique in the container. */
  listener: number;
}

/** Agent.acceptSocket: which listener, and the process id the connection gets. */
export interface SocketAcceptRequest {
  containerId: string;
  listener: number;
  processId: string;
}
