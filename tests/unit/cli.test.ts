// How the command-line programs run from a shell (tooling/cli.ts), in a real child process: the first SIGINT or
// SIGTERM aborts the run, which ends with main's exit code; a second quits at once with 130.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { ROOT, tempDir, waitFor } from '../../tooling/system.ts';
import type { TapTest } from '../helpers/tap.ts';

/** A program whose main waits for the abort (kept running meanwhile), then (unless told to hang) prints and answers 7. */
async function program(t: TapTest, hang: boolean): Promise<string> {
  const dir = await tempDir('cli');
  t.teardown(() => dir.remove());
  const file = join(dir.path, 'program.ts');
  await writeFile(
    file,
    `import { runCli } from ${JSON.stringify(pathToFileURL(join(ROOT, 'tooling/cli.ts')).href)};
runCli(import.meta.url, 'demo-cli', 'stopping the demo', async (argv, io) => {
  io.stdout.write('started ' + argv.join(',') + '\\n');
  // a real program's work keeps node running; an abort listener alone does not (node would end with 0 once its
  // loader is done, and did on a loaded machine before the signal came)
  const alive = setInterval(() => undefined, 1000);
  await new Promise((resolve) => io.signal!.addEventListener('abort', resolve));
  clearInterval(alive);
  io.stdout.write('aborted\\n');
  ${hang ? 'await new Promise(() => setInterval(() => undefined, 1000));' : ''}
  return 7;
});
`,
  );
  return file;
}

async function run(t: TapTest, hang: boolean, signals: NodeJS.Signals[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', await program(t, hang), 'a', 'b'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor('the program to start', async () => out.includes('started a,b') || undefined, 60_000);
  for (const signal of signals) {
    child.kill(signal);
    if (hang) await waitFor('the abort', async () => out.includes('aborted') || undefined, 30_000);
  }
  return { code: await exited, out, err };
}

t.test('the first signal aborts the run, which ends with its own exit code', async (t) => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const { code, out, err } = await run(t, false, [signal]);
    t.equal(code, 7, `${signal}: main's exit code (stderr: ${JSON.stringify(err.slice(0, 300))}, stdout: ${JSON.stringify(out.slice(0, 300))})`);
    t.match(out, /aborted/);
    t.match(err, new RegExp(`demo-cli: ${signal}: stopping the demo \\(again to quit at once\\)`));
  }
});

t.test('a second signal quits at once with 130', async (t) => {
  const { code, out } = await run(t, true, ['SIGINT', 'SIGINT']);
  t.equal(code, 130);
  t.match(out, /aborted/, 'the first one aborted the run');
});
