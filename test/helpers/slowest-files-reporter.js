/* global process, module */
/**
 * A jest reporter that prints, once the run ends, where its time went: each project's total
 * of its files' times, and the slowest files (issue 68: the suite must fit CI on the slower
 * machines, and this is what to read first when it does not). Plain CommonJS: jest loads
 * reporters without transpiling them.
 */
class SlowestFilesReporter {
  /**
   * @param {unknown} _globalConfig
   * @param {{ count?: number }} options how many files to list (default 30)
   */
  constructor(_globalConfig, options) {
    this.count = (options && options.count) || 30;
  }

  /**
   * @param {unknown} _contexts
   * @param {{ testResults: Array<{ testFilePath: string, displayName?: { name: string }, perfStats: { start: number, end: number } }> }} results
   */
  onRunComplete(_contexts, results) {
    const files = results.testResults.map((r) => ({
      project: (r.displayName && r.displayName.name) || '',
      file: r.testFilePath.replace(`${process.cwd()}/`, ''),
      seconds: Math.max(0, (r.perfStats.end - r.perfStats.start) / 1000),
    }));
    if (files.length === 0) return;
    const byProject = new Map();
    for (const f of files) byProject.set(f.project, (byProject.get(f.project) || 0) + f.seconds);
    const lines = ['', 'Time by project (the sum of its files; 2 workers share it):'];
    for (const [project, seconds] of [...byProject].sort((a, b) => b[1] - a[1]))
      lines.push(`  ${project.padEnd(12)} ${seconds.toFixed(0).padStart(6)} s`);
    lines.push(`The ${Math.min(this.count, files.length)} slowest files:`);
    for (const f of files.sort((a, b) => b.seconds - a.seconds).slice(0, this.count))
      lines.push(`  ${f.seconds.toFixed(1).padStart(7)} s  ${f.project.padEnd(12)} ${f.file}`);
    process.stderr.write(`${lines.join('\n')}\n`);
  }
}

module.exports = SlowestFilesReporter;
