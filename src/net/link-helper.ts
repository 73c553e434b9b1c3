/**
 * Setting a link's bridge, MTU and state without running `ip`: one long-lived perl helper
 * (src/util/line-helper.ts) sends rtnetlink RTM_SETLINK requests for the daemon. Every
 * container start puts its VM's tap on a bridge and every removal takes it off; an `ip` per
 * change cost a fork and exec of the daemon's process plus ip's own start, ~5 ms of CPU and
 * of the start's wall time each (bench:start-cpu), a request to the helper ~0.2 ms.
 *
 * Request line: `s <link> <mtu> <master> <up>`, the names hex-encoded; an empty field leaves
 * that property alone, master `-` takes the link off its master. The helper looks the names up
 * (SIOCGIFINDEX), sends one RTM_SETLINK (IFLA_MTU, IFLA_MASTER, IFF_UP in ifi_change) with
 * NLM_F_ACK and answers `0` or `<errno> <message>` from the kernel's acknowledgement, as
 * PerlLineHelper expects. Only the daemon writes to it.
 */
import { PerlLineHelper } from '../util/line-helper';

/** How long one request may take before the helper is killed and the request fails. */
const REQUEST_TIMEOUT_MS = 15_000;

// AF_NETLINK 16, SOCK_RAW 3, NETLINK_ROUTE 0; RTM_SETLINK 19; NLM_F_REQUEST|NLM_F_ACK 5;
// NLMSG_ERROR 2; IFLA_MTU 4, IFLA_MASTER 10; IFF_UP 1; SIOCGIFINDEX 0x8933 on an AF_INET
// socket with a 40-byte struct ifreq (name[16], then the index).
const SCRIPT = `
use strict;
$| = 1;
socket(my $nl, 16, 3, 0) or die "netlink socket: $!\\n";
bind($nl, pack("S x2 L L", 16, 0, 0)) or die "netlink bind: $!\\n";
socket(my $io, 2, 2, 0) or die "inet socket: $!\\n";
my $seq = 0;
sub ifindex { my $ifr = pack("Z16 x24", $_[0]); ioctl($io, 0x8933, $ifr) or return 0; return unpack("x16 i", $ifr); }
while (my $l = <STDIN>) {
  chomp $l;
  my ($op, $name, $mtu, $master, $up) = split / /, $l, -1;
  if ($op ne "s" || !defined $up) { print "22 bad request\\n"; next; }
  $name = pack("H*", $name);
  my $idx = ifindex($name);
  if (!$idx) { print 0 + $!, " $name: $!\\n"; next; }
  my $attrs = "";
  $attrs .= pack("S S L", 8, 4, $mtu) if length $mtu;
  if (length $master) {
    my $m = 0;
    if ($master ne "-") {
      my $mname = pack("H*", $master);
      $m = ifindex($mname);
      if (!$m) { print 0 + $!, " $mname: $!\\n"; next; }
    }
    $attrs .= pack("S S L", 8, 10, $m);
  }
  my ($flags, $change) = length $up ? (($up ? 1 : 0), 1) : (0, 0);
  my $body = pack("C x S i L L", 0, 0, $idx, $flags, $change) . $attrs;
  $seq++;
  send($nl, pack("L S S L L", 16 + length($body), 19, 5, $seq, 0) . $body, 0, pack("S x2 L L", 16, 0, 0)) or do { print 0 + $!, " send: $!\\n"; next; };
  my $err;
  while (!defined $err) {
    my $buf;
    defined recv($nl, $buf, 65536, 0) or do { $err = 0 + $!; last; };
    while (length($buf) >= 20) {
      my ($len, $type, $f, $s) = unpack("L S S L", $buf);
      last if $len < 16;
      if ($type == 2 && $s == $seq) { $err = -unpack("x16 i", $buf); last; }
      $buf = substr($buf, ($len + 3) & ~3);
    }
  }
  if ($err == 0) { print "0\\n"; } else { $! = $err; print "$err $name: $!\\n"; }
}
`;

const hex = (s: string): string => Buffer.from(s, 'utf8').toString('hex');

/** What to change on a link (an absent field is left alone). */
export interface LinkChange {
  mtu?: number;
  /** The bridge to put it on, or null to take it off its bridge. */
  master?: string | null;
  up?: boolean;
}

/** Changes links through one long-lived helper process (see the module comment). */
export class LinkHelper {
  private readonly helper = new PerlLineHelper(SCRIPT, 'link helper', REQUEST_TIMEOUT_MS);

  /** One RTM_SETLINK for `link`; rejects with UnavailableError carrying the kernel's error. */
  set(link: string, change: LinkChange): Promise<void> {
    const master = change.master === undefined ? '' : change.master === null ? '-' : hex(change.master);
    const line = [
      's',
      hex(link),
      change.mtu === undefined ? '' : String(Math.trunc(change.mtu)),
      master,
      change.up === undefined ? '' : change.up ? '1' : '0',
    ].join(' ');
    return this.helper.request(line, `setting link ${link}`);
  }

  /** Stop the helper; a later request starts a new one. */
  close(): void {
    this.helper.close();
  }
}

let shared: LinkHelper | undefined;

/** The process-wide LinkHelper. */
export function sharedLinkHelper(): LinkHelper {
  shared ??= new LinkHelper();
  return shared;
}
