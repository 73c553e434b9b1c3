/**
 * The CLI's output: human tables (cli-table3, borderless, docker-style columns) or JSON for
 * scripts (--json), and the short forms of ids and times a table shows.
 */
import Table from 'cli-table3';

/** A borderless table of `rows` under `head` (the text it prints, with a final newline). */
export function table(head: string[], rows: string[][]): string {
  const t = new Table({
    head,
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '   ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  t.push(...rows);
  return (
    t
      .toString()
      .split('\n')
      .map((l) => l.replace(/\s+$/, ''))
      .join('\n') + '\n'
  );
}

/** JSON for scripts, indented, with a final newline. */
export function json(v: unknown): string {
  return JSON.stringify(v, null, 2) + '\n';
}

/** The 12-character short form of an id. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** "3 seconds ago", "2 minutes ago"... from an ISO time and now. */
export function ago(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const [n, unit] =
    s < 60
      ? [s, 'second']
      : s < 3600
        ? [Math.round(s / 60), 'minute']
        : s < 86400
          ? [Math.round(s / 3600), 'hour']
          : [Math.round(s / 86400), 'day'];
  return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
}

/** A command line as one string, cut to `max` characters. */
export function commandText(args: string[], max = 30): string {
  const s = args.join(' ');
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}
