// What every user of a DuckDB connection needs: statements one at a time (a connection runs one transaction at
// a time), and a transaction that is committed whole or rolled back.
import type { DuckDBConnection } from '@duckdb/node-api';

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
