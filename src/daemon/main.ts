/**
 * podvisord's entry point: parse flags, bring up the layers bottom to top, serve the Docker
 * API on every -H address, and on SIGINT/SIGTERM close listeners and destroy idle VMs.
 * Running containers' VMs are left running: a restarted daemon re-adopts them.
 */
import * as http from 'node:http';
import { parseFlags, USAGE } from './flags';
import { listenOn, dockerHostFor } from './listen';
import { createApiApp } from '../api/v1.41/server';
import { logger, setLogLevel } from '../util/log';
import { PodvisorError } from '../errors';
import { PODVISOR_VERSION } from '../util/package-info';
import { ImageService } from '../storage/service';

const log = logger('daemon');


async function main(argv: string[]): Promise<void> {
  const parsed = parseFlags(argv);
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  const opts = parsed;
  setLogLevel(opts.logLevel);

  // --- images (issue 3): content/, layers/, images/ under the data root -------------------
  const images = await ImageService.open(opts.dataRoot, {
    insecureRegistries: opts.insecureRegistries,
    registryMirrors: opts.registryMirrors,
  });
  // --- end images ----------------------------------------------------------------------

  const app = createApiApp({
    system: { version: PODVISOR_VERSION, dataRoot: opts.dataRoot, accel: 'none' },
    images,
  });
  const servers: http.Server[] = [];
  for (const host of opts.hosts) {
    const server = http.createServer(app);
    await listenOn(server, host);
    servers.push(server);
    log.info(`API listening on ${host}`);
  }
  log.info(`podvisord ${PODVISOR_VERSION} ready. To use it: export DOCKER_HOST=${dockerHostFor(opts.hosts[0])}`);

  let stopping = false;
  const shutdown = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${sig} received, shutting down`);
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main(process.argv.slice(2)).catch((err) => {
  const msg = err instanceof PodvisorError ? err.message : err instanceof Error ? err.stack : String(err);
  process.stderr.write(`podvisord: ${msg}\n`);
  process.exit(1);
});
