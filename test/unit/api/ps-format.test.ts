/**
 * docker top's columns rendered from the guest's process records: the titles procps-ng 4's
 * `ps` prints for each ps_args (as Debian's dockerd runs it on its host; the titles below are
 * what `ps <args>` printed on such a host), and its value formats.
 */
process.env.TZ = 'UTC';

import { parsePsArgs, renderTable, ttyName } from '../../../src/api/v1.41/top/ps-format';
import { parsePs } from '../../../src/api/v1.41/top/top-table';
import type { GuestProcessTable, GuestTask } from '../../../src/vm/types';

const titles = (args: string) => parsePsArgs(args).map((c) => c.title);

describe('ps_args -> titles (procps-ng 4)', () => {
  test.each([
    ['', 'UID PID PPID C STIME TTY TIME CMD'],
    ['-ef', 'UID PID PPID C STIME TTY TIME CMD'],
    ['-f', 'UID PID PPID C STIME TTY TIME CMD'],
    ['-e -f', 'UID PID PPID C STIME TTY TIME CMD'],
    ['aux', 'USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND'],
    ['u', 'USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND'],
    ['auxww', 'USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND'],
    ['-e', 'PID TTY TIME CMD'],
    ['-A', 'PID TTY TIME CMD'],
    ['ax', 'PID TTY STAT TIME COMMAND'],
    ['-o pid,comm', 'PID COMMAND'],
    ['-o pid,user,args', 'PID USER COMMAND'],
    ['-eo pid,ppid,user,uid,gid,group,comm,args,cmd', 'PID PPID USER UID GID GROUP COMMAND COMMAND CMD'],
    ['-eo pcpu,pmem,c,vsz,rss,sz,tty,tt,tname,stat,s', '%CPU %MEM C VSZ RSS SZ TT TT TTY STAT S'],
    [
      '-eo time,bsdtime,etime,etimes,stime,start_time,start,nlwp,thcount,ni',
      'TIME TIME ELAPSED ELAPSED STIME START STARTED NLWP THCNT NI',
    ],
    [
      '-o pgid,sid,tpgid,fname,ucmd,cputimes,lstart,pgrp,ucomm,euid',
      'PGID SID TPGID COMMAND CMD TIME STARTED PGRP COMMAND EUID',
    ],
    [
      '-o euser,egroup,sess,session,%cpu,%mem,command,uname,vsize,rsz,rssize,state,cputime',
      'EUSER EGROUP SESS SESS %CPU %MEM COMMAND USER VSZ RSZ RSS S TIME',
    ],
    ['-o pid,comm=NAME', 'PID NAME'],
    ['-o pid:3,comm:5', 'PID COMMAND'],
    ['-o pid -o user', 'PID USER'],
    ['axo pid,stat', 'PID STAT'],
    ['--format pid,args', 'PID COMMAND'],
    ['--format=pid,args', 'PID COMMAND'],
    ['-o pid=PID,args', 'PID COMMAND'],
    ['-o pid=X -o comm', 'X COMMAND'],
  ])('%j', (args, want) => {
    expect(titles(args).join(' ')).toBe(want);
  });

  test('options it cannot render are refused with a message naming them, as ps refuses unknown ones', () => {
    expect(() => parsePsArgs('-o pid,bogus')).toThrow('ps: error: unknown user-defined format specifier "bogus"');
    expect(() => parsePsArgs('-o pid,wchan')).toThrow(/does not render the "wchan" column/);
    expect(() => parsePsArgs('-o pid=A,B')).toThrow('ps: error: unknown user-defined format specifier "B"');
    for (const o of ['-l', '-F', 'j', '--forest', 'f', '-p', '-C', '--sort', '-T', 'm', 'e', '-q']) {
      expect(() => parsePsArgs(`${o} 1`)).toThrow(`does not support the ps option ${JSON.stringify(o)}`);
    }
    expect(() => parsePsArgs('-o')).toThrow('ps: error: list of format specifiers is missing');
  });

  test("dockerd's own check: only pid may be renamed to a PID title", () => {
    expect(() => parsePsArgs('-o pid,user=PID')).toThrow('specifying "pid,user=PID" is not allowed');
    expect(() => parsePsArgs('-o user=PIDX -o pid')).toThrow('specifying "user=PIDX" is not allowed');
  });
});

const NOW = Date.UTC(2026, 10, 24, 18, 41, 43); // Tue Nov 24 2026 18:41:43 UTC

function task(over: Partial<GuestTask>): GuestTask {
  return {
    pid: 1,
    ppid: 0,
    pgid: 1,
    sid: 1,
    tpgid: 0,
    uid: 0,
    gid: 0,
    state: 'S',
    startTicks: 0,
    utime: 0,
    stime: 0,
    vszKiB: 0,
    rssKiB: 0,
    tty: 0,
    threads: 1,
    nice: 0,
    comm: 'x',
    args: [],
    ...over,
  };
}

/** A VM up 435 s (booted 18:34:28), 2,000,000 KiB of memory. */
function table(tasks: GuestTask[], uptimeMs = 435_000): GuestProcessTable {
  return { clockTicks: 100, uptimeMs, memTotalKiB: 2_000_000, tasks, truncated: false };
}

const ctx = {
  now: NOW,
  users: new Map([
    [0, 'root'],
    [999, 'systemd-network'],
    [33, 'www-data'],
  ]),
  groups: new Map([
    [0, 'root'],
    [33, 'www-data'],
  ]),
};

const init = task({
  pid: 412,
  ppid: 401,
  pgid: 412,
  sid: 412,
  startTicks: 100,
  utime: 400,
  stime: 100,
  vszKiB: 50972,
  rssKiB: 19320,
  threads: 13,
  comm: 'nginx',
  args: ['nginx: master process', 'nginx', '-g', 'daemon off;'],
});
const shell = task({
  pid: 480,
  ppid: 412,
  pgid: 480,
  sid: 480,
  tpgid: 480,
  uid: 999,
  gid: 33,
  tty: (136 << 8) | 1,
  startTicks: 43_400,
  comm: 'bash',
  args: ['bash'],
  nice: 5,
  vszKiB: 4620,
  rssKiB: 1780,
});
const zombie = task({ pid: 500, ppid: 480, pgid: 480, sid: 480, state: 'Z', uid: 33, startTicks: 43_450, comm: 'sh' });

describe('renderTable', () => {
  test('-ef: user names, times, terminals and commands as ps -ef prints them', () => {
    const t = renderTable(parsePsArgs('-ef'), table([init, shell, zombie]), ctx);
    expect(t.titles).toEqual(['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    expect(t.processes).toEqual([
      // 5 s of CPU in 434 s of life: C 1 (integer percent).
      ['root', '412', '401', '1', '18:34', '?', '00:00:05', 'nginx: master process nginx -g daemon off;'],
      ['systemd+', '480', '412', '0', '18:41', 'pts/1', '00:00:00', 'bash'],
      ['www-data', '500', '480', '0', '18:41', '?', '00:00:00', '[sh] <defunct>'],
    ]);
  });

  test('aux: %CPU and %MEM in tenths, VSZ/RSS in KiB, STAT flags, START, BSD TIME', () => {
    const t = renderTable(parsePsArgs('aux'), table([init, shell, zombie]), ctx);
    expect(t.processes).toEqual([
      [
        'root',
        '412',
        '1.1',
        '0.9',
        '50972',
        '19320',
        '?',
        'Ssl',
        '18:34',
        '0:05',
        'nginx: master process nginx -g daemon off;',
      ],
      ['systemd+', '480', '0.0', '0.0', '4620', '1780', 'pts/1', 'SNs+', '18:41', '0:00', 'bash'],
      ['www-data', '500', '0.0', '0.0', '0', '0', '?', 'Z', '18:41', '0:00', '[sh] <defunct>'],
    ]);
  });

  test('-o lists: comm, user at a wider column, numeric ids, groups, elapsed and long start times', () => {
    const t = renderTable(
      parsePsArgs('-o pid,comm,user:20,uid,group,etime,etimes,lstart,start,ni,nlwp,tpgid,s'),
      table([init, zombie]),
      ctx,
    );
    expect(t.processes).toEqual([
      [
        '412',
        'nginx',
        'root',
        '0',
        'root',
        '07:14',
        '434',
        'Tue Nov 24 18:34:29 2026',
        '18:34:29',
        '0',
        '13',
        '-1',
        'S',
      ],
      [
        '500',
        'sh <defunct>',
        'www-data',
        '33',
        'root',
        '00:00',
        '0',
        'Tue Nov 24 18:41:42 2026',
        '18:41:42',
        '0',
        '1',
        '-1',
        'Z',
      ],
    ]);
  });

  test('processes started on another day show MmmDD, and another year the year; long CPU times carry days', () => {
    const days = 3 * 86400 * 1000;
    const old = task({ startTicks: 0, utime: 100 * 90_000 });
    expect(
      renderTable(parsePsArgs('-o pid,stime,start,etime,time,bsdtime'), table([old], days), ctx).processes,
    ).toEqual([['1', 'Nov21', 'Nov 21', '3-00:00:00', '1-01:00:00', '1500:00']]);
    const year = 400 * 86400 * 1000;
    expect(renderTable(parsePsArgs('-o pid,stime'), table([old], year), ctx).processes).toEqual([['1', '2025']]);
  });

  test('uids without a name are numbers; control characters in arguments are shown as ?', () => {
    const odd = task({ uid: 4242, args: ['sh', '-c', 'echo\tx\ny'] });
    expect(renderTable(parsePsArgs('-o pid,user,args'), table([odd]), ctx).processes).toEqual([
      ['1', '4242', 'sh -c echo?x?y'],
    ]);
  });

  test("a table without a PID column is dockerd's error", () => {
    expect(() => renderTable(parsePsArgs('-o comm'), table([init]), ctx)).toThrow(
      "Couldn't find PID field in ps output",
    );
    expect(() => renderTable(parsePsArgs('-o pid=Process'), table([init]), ctx)).toThrow(
      "Couldn't find PID field in ps output",
    );
  });

  test('terminal names from tty_nr', () => {
    expect(ttyName(0)).toBe('?');
    expect(ttyName(136 << 8)).toBe('pts/0');
    expect(ttyName((136 << 8) | 0x22)).toBe('pts/34');
    expect(ttyName((137 << 8) | 2)).toBe('pts/258');
    expect(ttyName((4 << 8) | 1)).toBe('tty1');
    expect(ttyName((4 << 8) | 65)).toBe('ttyS1');
    expect(ttyName((5 << 8) | 1)).toBe('console');
  });
});

test("ps output is cut into Docker's table, without ps itself", () => {
  const t = parsePs(
    'PID   USER     TIME  COMMAND\n    1 root      0:00 sleep 100\n    7 root      0:00 ps -ef\n',
    'ps -ef',
  );
  expect(t).toEqual({ titles: ['PID', 'USER', 'TIME', 'COMMAND'], processes: [['1', 'root', '0:00', 'sleep 100']] });
});
