/**
 * The daemon's network set-up (src/net/daemon.ts openNetworks) as a process of its own, for a
 * test that runs it in a network namespace and with a PATH of its choosing
 * (`ip netns exec NS env PATH=... node ts-node open-networks.ts ROOT`): prints the log lines,
 * then `networks: ready` or `networks: unavailable`; when ready it shuts the networks down and
 * removes everything of ROOT before it exits.
 */
import { openNetworks } from '../../../../src/net/daemon';
import { removeAllOwned } from '../../../../src/net/host';
import { setLogSink } from '../../../../src/util/log';

async function main(): Promise<void> {
  const [root] = process.argv.slice(2);
  setLogSink((line) => process.stdout.write(`${line}\n`));
  const m = await openNetworks(root, { emit: () => undefined });
  process.stdout.write(`networks: ${m ? 'ready' : 'unavailable'}\n`);
  if (m) {
    await m.shutdown();
    await removeAllOwned(root);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
