/**
 * A network manager run as its own process, for tests that need it in a network namespace of
 * their own (started with `ip netns exec NS ts-node ... netns-manager.ts ROOT SUBNET LINK`):
 * it opens the networks of ROOT on the real host (of that namespace), creates network `net`
 * on SUBNET, connects a container to it and puts LINK (a veth end the test made) on its bridge,
 * then prints the endpoint as one JSON line. When its stdin closes it shuts down and removes
 * everything of ROOT.
 */
import { NetworkManager } from '../../../../src/net/manager';
import { LinuxNetHost, removeAllOwned } from '../../../../src/net/host';

async function main(): Promise<void> {
  const [root, subnet, link] = process.argv.slice(2);
  const m = await NetworkManager.open(root, new LinuxNetHost(root));
  await m.create({ name: 'net', ipam: [{ Subnet: subnet }] });
  const ep = await m.connect('net', { containerId: 'fe'.repeat(32), name: 'ctr' });
  await m.attachTap('net', ep.containerId, link);
  process.stdout.write(`${JSON.stringify(ep)}\n`);
  process.stdin.resume();
  await new Promise((r) => process.stdin.once('end', r));
  await m.shutdown();
  await removeAllOwned(root);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
