/**
 * Vitest setup of every test file (vitest.config.ts): a test sees none of the developer's
 * BASALT_* variables (BASALT_METAD, BASALT_CLUSTER, BASALT_AGENT name a cluster to the CLI and
 * the SDK examples), and neither do the processes it starts, which inherit this environment. A
 * test that wants one passes it to the process or Io it runs. The other half of hermeticity is
 * the working directory: ProcessScope and runCli (test/lib/process.ts) start processes in empty
 * folders, and captureIo (@basalt/cli/testing) gives `main` one, so no ./.basalt/cluster.json
 * of the checkout is found. test/hermetic.test.ts runs tests with both planted.
 */
for (const name of Object.keys(process.env)) {
  if (name.startsWith('BASALT_')) delete process.env[name];
}
