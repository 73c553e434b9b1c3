/** Jest setup file of the `compat-dockerd26` project: its suites compare with dockerd 26.1 (./baseline-choice.ts). */
process.env.PODVISOR_BASELINE = 'dockerd26';
