/**
 * The faults dockerd reports as plain errors (Go errors of no errdefs kind), which its API
 * answers with 500 whoever is at fault: a Binds entry it cannot read, a link it cannot read.
 * The Docker front throws this class where dockerd does, so a client gets dockerd's status.
 */
import { PodvisorError } from '../../errors';

/** A fault dockerd answers with 500 (see the module comment). */
export class DockerPlainError extends PodvisorError {}
