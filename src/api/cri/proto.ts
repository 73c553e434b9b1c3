/**
 * Our CRI v1 protobuf definitions (./proto/runtime-v1.proto), loaded at run time with
 * @grpc/proto-loader: the file is read from the source tree beside the package root (tsc
 * copies no .proto into dist/, and the daemon runs from a checkout), so the daemon and the
 * test client use the very same file.
 *
 * Loader options, fixed here for both sides: field names as in the .proto (snake_case),
 * 64-bit integers as decimal strings (nanosecond timestamps do not fit a JS number), enums by
 * name, unset fields filled with their defaults.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PACKAGE_ROOT } from '../../util/package-info';

/** Where our CRI v1 definitions are. */
export const CRI_PROTO_FILE = path.join(PACKAGE_ROOT, 'src', 'api', 'cri', 'proto', 'runtime-v1.proto');

/** The two services of CRI v1 with their client constructors and service definitions. */
export interface CriServices {
  RuntimeService: grpc.ServiceClientConstructor;
  ImageService: grpc.ServiceClientConstructor;
}

let loaded: CriServices | undefined;

/** Load (once) the runtime.v1 package. */
export function loadCriServices(): CriServices {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(CRI_PROTO_FILE, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: CriServices } };
  loaded = { RuntimeService: pkg.runtime.v1.RuntimeService, ImageService: pkg.runtime.v1.ImageService };
  return loaded;
}
