// Request and answer schemas of the HTTP API (docs/api.md). Each zod schema is at once the type,
// the validator and the OpenAPI document.
import { z } from 'zod';
import { SIGNALS } from '../contract/signals.ts';
import { REJECT_REASONS, SignalValueSchema, VinSchema } from '../contract/telemetry.ts';

export const ErrorSchema = z
  .object({
    statusCode: z.number().int().describe('the HTTP status'),
    code: z.string().describe('stable error code, e.g. VALIDATION_FAILED'),
    message: z.string().describe('what went wrong, for people'),
  })
  .meta({ id: 'Error', description: 'Every error answer, unknown routes included' });

/** An answer of one operation: what the status means there, and its JSON schema. */
export const jsonAnswer = <T extends z.ZodType>(description: string, schema: T) => ({ description, content: { 'application/json': { schema } } });

/** An error answer of one operation: the shared error schema, and what the status means there. */
export const errorAnswer = (description: string, schema: z.ZodType = ErrorSchema) => jsonAnswer(description, schema);

/** The error answers many operations share; an operation lists only those its code paths can give. */
export const ERROR_ANSWERS = {
  /** a params, querystring or body schema that refuses */
  validation: errorAnswer('VALIDATION_FAILED: a parameter does not match its schema'),
  /** as `validation`, for an operation that takes a JSON body */
  invalidBody: errorAnswer('VALIDATION_FAILED: the body or a parameter does not match its schema; INVALID_JSON: the body is not JSON'),
  unauthorized: errorAnswer('UNAUTHORIZED: no valid bearer token (the answer carries WWW-Authenticate: Bearer)'),
  adminOnly: errorAnswer('FORBIDDEN: only the admin token may do this'),
  tooLarge: errorAnswer('PAYLOAD_TOO_LARGE: the body is over the limit'),
  mediaType: errorAnswer('UNSUPPORTED_MEDIA_TYPE: the body must be application/json'),
  rateLimited: errorAnswer("RATE_LIMITED: the caller's requests per minute are used up (VC_RATE_LIMIT); Retry-After says when to try again"),
  /** a read of the telemetry store */
  storeUnavailable: errorAnswer('STORE_UNAVAILABLE: the telemetry store (InfluxDB) did not answer: down, unreachable, timed out or a server error; retry later (Retry-After)'),
} as const;

/**
 * The rule for brand, model and tenant names: what real marques and models use (letters of any script, digits,
 * spaces and - _ . & ' + / ( ) ,), starting with a letter or digit. Wildcards, quotes, backslashes, = and the other
 * query and regex syntax are refused, so a name never means more than itself anywhere it goes.
 */
export const NAME_PATTERN = /^[\p{L}\p{N}][\p{L}\p{M}\p{N} _.&'+/(),-]*$/u;
const NAME_RULE = "letters, digits, spaces and - _ . & ' + / ( ) , only, starting with a letter or digit";
export const nameOf = (maxLength: number) => z.string().trim().min(1).max(maxLength).regex(NAME_PATTERN, NAME_RULE);
const NAME = nameOf(64);

export const PowertrainSchema = z.enum(['bev', 'phev', 'hev', 'ice', 'fcev']);

export const RegisterVehicleSchema = z.object({
  vin: VinSchema,
  brand: NAME.describe('brand (marque), e.g. "Voltra"'),
  model: NAME.describe('model, e.g. "E-Cross"'),
  year: z.number().int().min(1980).max(2100).optional(),
  powertrain: PowertrainSchema.optional(),
});

export const VehicleSchema = z.object({
  vin: VinSchema,
  brand: z.string(),
  model: z.string(),
  year: z.number().int().optional(),
  powertrain: PowertrainSchema.optional(),
  createdAt: z.number().int().describe('ms since the epoch'),
});

export const RegistrationSchema = VehicleSchema.extend({
  mqtt: z.object({
    username: z.string(),
    password: z.string().describe('shown only in this answer'),
    topic: z.string().describe('the only topic it may publish to'),
    url: z.string().describe('the MQTT broker to connect to (VC_MQTT_PUBLIC_URL; by default the embedded broker, or VC_MQTT_URL without credentials)'),
  }),
}).meta({ id: 'Registration' });

export const MAX_VEHICLES_PER_BATCH = 1000;

export const RegisterVehiclesSchema = z.object({
  vehicles: z
    .array(RegisterVehicleSchema)
    .min(1)
    .max(MAX_VEHICLES_PER_BATCH)
    .refine((list) => new Set(list.map((v) => v.vin)).size === list.length, 'each VIN at most once'),
});

export const BulkRegistrationSchema = z.object({
  registered: z.array(RegistrationSchema).describe('new vehicles with their MQTT credentials (each password shown only here)'),
  existing: z.array(VinSchema).describe('VINs already registered: left alone'),
});

/**
 * ISO 8601 as Date.parse reads it (a date, or a date and time with an optional zone). Checked first because V8's
 * Date.parse also reads anything with a number in it: `' OR '1'='1` would be the year 2001.
 */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** ISO 8601 or ms since the epoch. */
export const TimeParam = z
  .string()
  .transform((value, ctx) => {
    const ms = /^-?\d+$/.test(value) ? Number(value) : ISO_8601.test(value) ? Date.parse(value) : Number.NaN;
    if (!Number.isFinite(ms)) {
      ctx.addIssue({ code: 'custom', message: 'expected ISO 8601 or ms since the epoch' });
      return z.NEVER;
    }
    return ms;
  })
  .describe('ISO 8601 or ms since the epoch');

const INTERVAL_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const IntervalParam = z
  .string()
  .transform((value, ctx) => {
    const match = /^(\d+)(ms|s|m|h|d)$/.exec(value);
    const ms = match ? Number(match[1]) * INTERVAL_UNITS[match[2]!]! : Number.NaN;
    if (!(ms >= 1000)) {
      ctx.addIssue({ code: 'custom', message: 'expected a duration of at least 1s like 10s, 1m, 1h, 1d' });
      return z.NEVER;
    }
    return ms;
  })
  .describe('bucket width, e.g. 10s, 1m, 1h');

export const SignalListParam = z
  .string()
  .transform((value, ctx) => {
    const paths = value.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = paths.find((p) => !SIGNALS.has(p));
    if (unknown) {
      ctx.addIssue({ code: 'custom', message: `unknown signal ${unknown.slice(0, 128)}` });
      return z.NEVER;
    }
    return paths;
  })
  .describe('comma-separated VSS paths');

export const VinParams = z.object({ vin: VinSchema });

export const TwinSchema = z.object({
  vin: VinSchema,
  brand: z.string(),
  model: z.string(),
  online: z.boolean().describe('seen in the last 60 s'),
  lastSeen: z.number().int().nullable().describe('ms since the epoch; null if never seen'),
  signals: z.record(z.string(), z.object({ value: SignalValueSchema, ts: z.number().int() })),
}).meta({ id: 'VehicleTwin' });

export const TelemetryQuerySchema = z.object({
  from: TimeParam.optional(),
  to: TimeParam.optional(),
  signals: SignalListParam.optional(),
  interval: IntervalParam.optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  cursor: z.string().max(64).optional(),
});

export const MAX_SAMPLE_REFS = 100_000;

export const SampleRefsQuerySchema = z.object({
  from: TimeParam,
  to: TimeParam,
  limit: z.coerce.number().int().min(1).max(MAX_SAMPLE_REFS).default(10_000),
});

export const SampleRefsAnswerSchema = z.object({
  from: z.number().int(),
  to: z.number().int(),
  samples: z.array(z.object({ vin: VinSchema, ts: z.number().int(), seq: z.number().int() })).describe('ts, then VIN ascending'),
  truncated: z.boolean().describe('the window holds more than limit samples: these are the earliest; ask for a narrower window'),
});

export const SampleAnswerSchema = z.object({ ts: z.number().int(), seq: z.number().int(), signals: z.record(z.string(), SignalValueSchema) });

export const TelemetryAnswerSchema = z.object({
  vin: VinSchema,
  from: z.number().int(),
  to: z.number().int(),
  interval: z.number().int().optional(),
  samples: z.array(SampleAnswerSchema).optional(),
  buckets: z.array(z.record(z.string(), z.unknown())).optional().describe('[{ t, samples, "<path>": { avg, min, max } }]'),
  nextCursor: z.string().nullable(),
}).meta({ id: 'TelemetryAnswer' });

export const VehicleListQuerySchema = z.object({
  brand: z.string().max(64).optional(),
  model: z.string().max(64).optional(),
  online: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(64).optional(),
});

export const VehicleListSchema = z.object({
  items: z.array(z.object({ vin: VinSchema, brand: z.string(), model: z.string(), online: z.boolean(), lastSeen: z.number().int().nullable() })),
  nextCursor: z.string().nullable(),
});

export const IngestAnswerSchema = z.object({
  vin: z.string().optional(),
  accepted: z.number().int(),
  rejected: z.number().int(),
  rejections: z.array(z.object({ index: z.number().int().optional(), reason: z.string(), detail: z.string() })),
});

export const DeadLetterQuerySchema = z.object({
  reason: z.enum(REJECT_REASONS).optional().describe('only letters with this reason'),
  vin: VinSchema.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const DeadLetterListSchema = z.object({
  items: z.array(
    z.object({ receivedAt: z.number().int(), reason: z.string(), detail: z.string(), topic: z.string(), vin: z.string().optional(), raw: z.string() }),
  ),
});

export const encodeCursor = (value: string | number): string => Buffer.from(String(value)).toString('base64url');
export const decodeCursor = (cursor: string): string => Buffer.from(cursor, 'base64url').toString('utf8');
