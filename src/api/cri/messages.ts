/**
 * The CRI v1 request messages the runtime calls read, declared once from our
 * ./proto/runtime-v1.proto as @grpc/proto-loader decodes them with ./proto.ts's options:
 * field names as in the .proto (snake_case), 64-bit integers as decimal strings, enums by
 * name, unset fields filled with their defaults (an unset message field as null).
 *
 * Only the fields podvisor reads are declared; the others pass unread. As decoded, every
 * scalar, list and map is there (its default when the client left it out) and a message field
 * is null when unset. The handlers still read defensively (`?.`, `??`): a request may also be
 * built in-process (the events' status reads: ./runtime-events.ts).
 */

/** An int64/uint64 field: a decimal string (proto.ts `longs: String`). */
export type Int64 = string;

/** A CRI string map (labels, annotations, sysctls, label selectors). */
export type StringMap = Record<string, string>;

/** A CRI key-value pair (an environment variable). */
export interface KeyValue {
  key: string;
  value: string;
}

/** Int64Value: a 64-bit value a message field makes optional (run_as_user: null when unset). */
export interface Int64Value {
  value: Int64;
}

/** NamespaceOption: `POD`, `CONTAINER`, `NODE` or `TARGET` per namespace. */
export interface NamespaceOption {
  network: string;
  pid: string;
  ipc: string;
}

/** SecurityProfile: `profile_type` RuntimeDefault, Unconfined or Localhost (with `localhost_ref`). */
export interface SecurityProfile {
  profile_type: string;
  localhost_ref: string;
}

/** The seccomp and privilege fields both security contexts share. */
export interface SeccompFields {
  privileged: boolean;
  seccomp: SecurityProfile | null;
  /** Deprecated, still honoured (./seccomp.ts). */
  seccomp_profile_path: string;
}

/** LinuxSandboxSecurityContext (the fields read). */
export interface LinuxSandboxSecurityContext extends SeccompFields {
  namespace_options: NamespaceOption | null;
}

/** LinuxPodSandboxConfig (the fields read). */
export interface LinuxPodSandboxConfig {
  /** The host cgroup the sandbox's VM goes under ('' for none): the kubelet's pod cgroup. */
  cgroup_parent: string;
  security_context: LinuxSandboxSecurityContext | null;
  sysctls: StringMap;
}

/** PodSandboxMetadata. */
export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

/** DNSConfig. */
export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

/** PortMapping: `protocol` is TCP, UDP or SCTP. */
export interface PortMapping {
  protocol: string;
  container_port: number;
  host_port: number;
  host_ip: string;
}

/** PodSandboxConfig (the fields read). */
export interface PodSandboxConfig {
  metadata: PodSandboxMetadata | null;
  hostname: string;
  log_directory: string;
  dns_config: DnsConfig | null;
  port_mappings: PortMapping[];
  labels: StringMap;
  annotations: StringMap;
  linux: LinuxPodSandboxConfig | null;
}

/** RunPodSandboxRequest. */
export interface RunPodSandboxRequest {
  config: PodSandboxConfig | null;
  runtime_handler: string;
}

/** StopPodSandboxRequest, RemovePodSandboxRequest, PodSandboxStatsRequest: a sandbox named. */
export interface PodSandboxIdRequest {
  pod_sandbox_id: string;
}

/** PodSandboxStatusRequest. */
export interface PodSandboxStatusRequest extends PodSandboxIdRequest {
  verbose: boolean;
}

/** PodSandboxStateValue / ContainerStateValue: a state by its enum name. */
export interface StateValue {
  state: string;
}

/** PodSandboxFilter and PodSandboxStatsFilter (the latter has no state). */
export interface PodSandboxFilter {
  id: string;
  state: StateValue | null;
  label_selector: StringMap;
}

/** ListPodSandboxRequest and ListPodSandboxStatsRequest. */
export interface ListPodSandboxRequest {
  filter: PodSandboxFilter | null;
}

/** ContainerMetadata. */
export interface ContainerMetadata {
  name: string;
  attempt: number;
}

/** ImageSpec (the field read). */
export interface ImageSpec {
  image: string;
}

/** Mount: `propagation` is PROPAGATION_PRIVATE, PROPAGATION_HOST_TO_CONTAINER or PROPAGATION_BIDIRECTIONAL. */
export interface Mount {
  container_path: string;
  host_path: string;
  readonly: boolean;
  propagation: string;
}

/** LinuxContainerResources (the fields read). */
export interface LinuxContainerResources {
  cpu_period: Int64;
  cpu_quota: Int64;
  memory_limit_in_bytes: Int64;
}

/** Capability (the fields read). */
export interface Capability {
  add_capabilities: string[];
  drop_capabilities: string[];
}

/** LinuxContainerSecurityContext (the fields read). */
export interface LinuxContainerSecurityContext extends SeccompFields {
  capabilities: Capability | null;
  namespace_options: NamespaceOption | null;
  run_as_user: Int64Value | null;
  run_as_group: Int64Value | null;
  run_as_username: string;
  readonly_rootfs: boolean;
  supplemental_groups: Int64[];
  no_new_privs: boolean;
  masked_paths: string[];
  readonly_paths: string[];
}

/** LinuxContainerConfig. */
export interface LinuxContainerConfig {
  resources: LinuxContainerResources | null;
  security_context: LinuxContainerSecurityContext | null;
}

/** ContainerConfig (the fields read). */
export interface ContainerConfig {
  metadata: ContainerMetadata | null;
  image: ImageSpec | null;
  command: string[];
  args: string[];
  working_dir: string;
  envs: KeyValue[];
  mounts: Mount[];
  labels: StringMap;
  annotations: StringMap;
  log_path: string;
  stdin: boolean;
  stdin_once: boolean;
  tty: boolean;
  linux: LinuxContainerConfig | null;
}

/** CreateContainerRequest. */
export interface CreateContainerRequest {
  pod_sandbox_id: string;
  config: ContainerConfig | null;
  /** The sandbox's config, as the kubelet sends it again (its privilege is checked). */
  sandbox_config: PodSandboxConfig | null;
}

/**
 * StartContainerRequest, RemoveContainerRequest, ContainerStatusRequest,
 * ReopenContainerLogRequest, ContainerStatsRequest: a container named.
 */
export interface ContainerIdRequest {
  container_id: string;
}

/** StopContainerRequest: `timeout` in seconds. */
export interface StopContainerRequest extends ContainerIdRequest {
  timeout: Int64;
}

/** ContainerFilter and ContainerStatsFilter (the latter has no state). */
export interface ContainerFilter {
  id: string;
  state: StateValue | null;
  pod_sandbox_id: string;
  label_selector: StringMap;
}

/** ListContainersRequest and ListContainerStatsRequest. */
export interface ListContainersRequest {
  filter: ContainerFilter | null;
}

/** ExecSyncRequest: `timeout` in seconds, 0 for none. */
export interface ExecSyncRequest extends ContainerIdRequest {
  cmd: string[];
  timeout: Int64;
}

/** AttachRequest. */
export interface AttachRequest extends ContainerIdRequest {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** ExecRequest. */
export interface ExecRequest extends AttachRequest {
  cmd: string[];
}

/** PortForwardRequest. */
export interface PortForwardRequest extends PodSandboxIdRequest {
  port: number[];
}

/** UpdateContainerResourcesRequest (the fields read). */
export interface UpdateContainerResourcesRequest extends ContainerIdRequest {
  linux: LinuxContainerResources | null;
}
