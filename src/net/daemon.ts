/** The daemon's networks at start: the manager on the real host, or none (logged) when the host cannot. */
import { logger } from '../util/log';
import { LinuxNetHost } from './host';
import { checkNetworkTools } from './host-tools';
import { NetworkManager, type NetworkEvents } from './manager';

const log = logger('net');

/**
 * Open the networks of `dataRoot` on this host (default `bridge` network, reconcile). A host
 * without bridges or iptables still runs containers: the /networks routes then answer 500. The
 * host's network tools are checked first (./host-tools.ts): when one is missing nothing is
 * made on the host, and the log names what to install.
 */
export async function openNetworks(dataRoot: string, events: NetworkEvents): Promise<NetworkManager | undefined> {
  const t0 = performance.now();
  try {
    checkNetworkTools();
    const m = await NetworkManager.open(dataRoot, new LinuxNetHost(dataRoot), events);
    log.info(`networks ready in ${Math.round(performance.now() - t0)} ms (${m.list().length} network(s))`);
    return m;
  } catch (err) {
    log.error(`networks unavailable: ${(err as Error).message}`);
    return undefined;
  }
}
