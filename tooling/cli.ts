// What the command-line programs (the fleet simulator, the load tester) share: their I/O, and how each runs from a
// shell: the first SIGINT or SIGTERM asks the run to stop as it should (abort signal), a second one quits at once
// (exit 130), and the exit code is `main`'s.
import { pathToFileURL } from 'node:url';

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
  /** Aborts the run as SIGINT/SIGTERM do. */
  signal?: AbortSignal;
  /** Relative paths (the admin-token file, a report) are relative to this directory. */
  cwd?: string;
}

/**
 * Run `main` when `moduleUrl` is the script node was started with. `stopping` is printed at the first signal (what
 * the program does now); `name` prefixes an error that escaped `main`.
 */
export function runCli(moduleUrl: string, name: string, stopping: string, main: (argv: string[], io: CliIo) => Promise<number>): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) process.exit(130);
    process.stderr.write(`\n${name}: ${signal}: ${stopping} (again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal })
    .then(
      (code) => {
        process.exitCode = code;
      },
      (err: unknown) => {
        process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      },
    )
    .finally(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
}
