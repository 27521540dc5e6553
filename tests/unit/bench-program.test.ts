// How a benchmark program ends when interrupted (bench/program.ts runAsProgram), in a real child process: SIGINT or
// SIGTERM ends it through process.exit, so the exit hooks that stop the servers it started (tooling/*.ts) run.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { ROOT, tempDir, waitFor } from '../../tooling/system.ts';

for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
  t.test(`${signal}: the program exits with ${code} and its exit hooks run`, async (t) => {
    const dir = await tempDir('bench-program');
    t.teardown(() => dir.remove());
    const file = join(dir.path, 'program.ts');
    const marker = join(dir.path, 'stopped');
    await writeFile(
      file,
      `import { writeFileSync } from 'node:fs';
import { runAsProgram } from ${JSON.stringify(pathToFileURL(join(ROOT, 'bench/program.ts')).href)};
runAsProgram(import.meta.url, async (_argv, io) => {
  // what tooling/influxd.ts does for the server it started
  process.once('exit', () => writeFileSync(${JSON.stringify(marker)}, 'server stopped'));
  io.stdout.write('running\\n');
  await new Promise(() => setInterval(() => undefined, 1000));
  return 0;
});
`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    await waitFor('the program running', async () => (out.includes('running') ? true : undefined), 30_000);
    child.kill(signal);
    t.equal(await exited, code);
    t.equal(await readFile(marker, 'utf8'), 'server stopped', 'the exit hook ran');
  });
}
