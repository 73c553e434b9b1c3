/**
 * A directory tree deeper than any path the kernel takes, for tests of walks that must not
 * hold a descriptor per level (docker cp, export).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Make under `root` a file `z-after` and `levels` directories `d` one in another with a file
 * `leaf` at the bottom. Made from held descriptors by python3: the bottom's path is longer
 * than any the kernel takes.
 */
export function makeDeepTree(root: string, levels: number): void {
  fs.writeFileSync(path.join(root, 'z-after'), 'after\n');
  execFileSync('python3', [
    '-c',
    [
      'import os, sys',
      'fd = os.open(sys.argv[1], os.O_RDONLY)',
      'for i in range(int(sys.argv[2])):',
      "    os.mkdir('d', dir_fd=fd); n = os.open('d', os.O_RDONLY, dir_fd=fd); os.close(fd); fd = n",
      "f = os.open('leaf', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd); os.write(f, b'leaf'); os.close(f)",
    ].join('\n'),
    root,
    String(levels),
  ]);
}
