// What every user of a DuckDB file needs: one open per process, statements one at a time (a connection runs one
// transaction at a time), and a transaction that is committed whole or rolled back.
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';

/** Runs tasks one at a time, in call order; a failed task does not stop the ones after it. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  drain(): Promise<unknown> {
    return this.tail;
  }
}

/** Run `work` in one transaction on `db`: all of it is committed, or none. */
export async function transaction<T>(db: DuckDBConnection, work: () => Promise<T>): Promise<T> {
  await db.run('BEGIN TRANSACTION');
  try {
    const result = await work();
    await db.run('COMMIT');
    return result;
  } catch (err) {
    // Also after a failed COMMIT, so the connection never stays inside a broken transaction.
    await db.run('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** DuckDB attaches a file once per process safely; a second instance on the same file would not see the first's writes. */
const openFiles = new Set<string>();

/**
 * Open a DuckDB file that this process has not opened yet and hand its instance to `use`; when `use` throws, the
 * instance is closed and the file free again. Whoever closes the instance later calls `releaseFile`.
 */
export async function openFileOnce<T>(file: string, what: string, use: (instance: DuckDBInstance) => Promise<T>, config?: Record<string, string>): Promise<T> {
  if (openFiles.has(file)) throw new Error(`${what} ${file} is already open in this process`);
  openFiles.add(file);
  try {
    const instance = await DuckDBInstance.create(file, config);
    try {
      return await use(instance);
    } catch (err) {
      instance.closeSync();
      throw err;
    }
  } catch (err) {
    openFiles.delete(file);
    throw err;
  }
}

export function releaseFile(file: string): void {
  openFiles.delete(file);
}
