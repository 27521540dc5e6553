// Dead letters in the embedded DuckDB file (store.ts): a row per letter, with an id from a sequence that keeps the
// order of letters received in the same ms.
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import type { RejectReason } from '../../contract/telemetry.ts';
import type { DeadLetter, DeadLetterQuery, DeadLetterRepository } from '../dead-letters.ts';
import { rowLimit } from '../telemetry.ts';
import { toNumber, transaction, type DuckDbFile } from './connection.ts';

const DEAD_LETTERS_DDL = [
  'CREATE SEQUENCE IF NOT EXISTS dead_letter_id',
  `CREATE TABLE IF NOT EXISTS dead_letters (
    id BIGINT PRIMARY KEY DEFAULT nextval('dead_letter_id'),
    received_at BIGINT NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    vin VARCHAR,
    raw VARCHAR NOT NULL
  )`,
];

export class DuckDbDeadLetters implements DeadLetterRepository {
  constructor(private readonly file: DuckDbFile) {}

  /** The table, in the store's init transaction. */
  async createTables(db: DuckDBConnection): Promise<void> {
    for (const ddl of DEAD_LETTERS_DDL) await db.run(ddl);
  }

  async writeDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return this.file.write(async () => undefined);
    await this.file.write(async (db) => {
      const insert = await db.prepare('INSERT INTO dead_letters (received_at, reason, detail, topic, vin, raw) VALUES ($1, $2, $3, $4, $5, $6)');
      try {
        await transaction(db, async () => {
          // One statement per letter, in array order, so the id sequence keeps their order for same-ms ties.
          for (const letter of letters) {
            insert.bind([BigInt(letter.receivedAt), letter.reason, letter.detail, letter.topic, letter.vin ?? null, letter.raw]);
            await insert.run();
          }
        });
        this.file.observe?.('dead_letters', letters.length, letters.reduce((n, l) => n + 16 + l.reason.length + l.detail.length + l.topic.length + l.raw.length + (l.vin?.length ?? 0), 0));
      } finally {
        insert.destroySync();
      }
    });
  }

  async listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]> {
    const where: string[] = [];
    const params: Record<string, DuckDBValue> = { limit: BigInt(rowLimit(query.limit)) };
    if (query.reason !== undefined) {
      where.push('reason = $reason');
      params.reason = query.reason;
    }
    if (query.vin !== undefined) {
      where.push('vin = $vin');
      params.vin = query.vin;
    }
    const rows = await this.file.read(
      `SELECT received_at, reason, detail, topic, vin, raw FROM dead_letters
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY received_at DESC, id DESC LIMIT $limit`,
      params,
    );
    return rows.map((row) => {
      const letter: DeadLetter = {
        receivedAt: toNumber(row[0]),
        reason: row[1] as RejectReason,
        detail: String(row[2]),
        topic: String(row[3]),
        raw: String(row[5]),
      };
      if (row[4] !== null) letter.vin = String(row[4]);
      return letter;
    });
  }
}
