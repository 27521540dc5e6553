// Dead letters in InfluxDB: a point per letter in the `dead_letters` measurement (tag reason; string fields), in the
// raw retention policy, in ns so that letters of the same ms stay apart.
import { Point } from '@influxdata/influxdb-client';
import type { RejectReason } from '../../contract/telemetry.ts';
import type { DeadLetter, DeadLetterQuery, DeadLetterRepository } from '../dead-letters.ts';
import { rowLimit } from '../telemetry.ts';
import { rowsOf, type InfluxClient } from './client.ts';
import { inPolicy, lineOf, literal, tagIs, tagValue } from './lines.ts';

export const DEAD_LETTERS_MEASUREMENT = 'dead_letters';
const NANOS_PER_MS = 1_000_000;

export class InfluxDeadLetters implements DeadLetterRepository {
  /**
   * Letters are written at receivedAt + this counter's nanoseconds, so that two letters of one reason in the same ms
   * do not overwrite each other; it starts at random so that processes rarely collide.
   */
  private counter = Math.floor(Math.random() * NANOS_PER_MS);

  constructor(
    private readonly influx: InfluxClient,
    /** the raw retention policy (undefined: the database's default) */
    private readonly policy: string | undefined,
  ) {}

  async writeDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    const lines = letters.map((letter) => {
      const point = new Point(DEAD_LETTERS_MEASUREMENT)
        .tag('reason', tagValue(letter.reason))
        .stringField('detail', letter.detail)
        .stringField('topic', letter.topic)
        .stringField('raw', letter.raw)
        .timestamp(this.uniqueNanos(letter.receivedAt));
      if (letter.vin !== undefined) point.stringField('vin', letter.vin);
      return lineOf(point);
    });
    await this.influx.write(lines, { precision: 'ns', table: 'dead_letters', retentionPolicy: this.policy });
  }

  async listDeadLetters(query: DeadLetterQuery): Promise<DeadLetter[]> {
    const limit = rowLimit(query.limit);
    if (limit === 0) return [];
    const conditions: string[] = [];
    if (query.reason !== undefined) conditions.push(tagIs('reason', query.reason));
    // vin is a field: compared as it was written
    if (query.vin !== undefined) conditions.push(`"vin" = ${literal(query.vin)}`);
    const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
    const [result] = await this.influx.query([
      `SELECT "reason", "detail", "topic", "vin", "raw" FROM ${inPolicy(this.policy, DEAD_LETTERS_MEASUREMENT)}${where} ORDER BY time DESC LIMIT ${limit}`,
    ]);
    return rowsOf(result).map((row) => {
      const letter: DeadLetter = {
        receivedAt: Number(row[0]),
        reason: String(row[1]) as RejectReason,
        detail: String(row[2] ?? ''),
        topic: String(row[3] ?? ''),
        raw: String(row[5] ?? ''),
      };
      if (typeof row[4] === 'string') letter.vin = row[4];
      return letter;
    });
  }

  private uniqueNanos(receivedAt: number): string {
    this.counter = (this.counter + 1) % NANOS_PER_MS;
    return (BigInt(Math.floor(receivedAt)) * BigInt(NANOS_PER_MS) + BigInt(this.counter)).toString();
  }
}
