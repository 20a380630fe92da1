import { Construct } from 'constructs';

/** The three pipeline stages, each its own container-image Lambda. */
export const STAGES = ['ingest', 'transform', 'load'] as const;

/** One pipeline stage: `ingest`, `transform` or `load`. */
export type Stage = (typeof STAGES)[number];

/** CPU architecture of the stage Lambdas; the images must be built for the same one. */
export type StageArchitecture = 'arm64' | 'x86_64';

/** Memory, local disk and timeout of one stage Lambda. */
export interface StageSizing {
  /** Memory in MiB (128..10240). */
  readonly memoryMb: number;
  /**
   * Ephemeral `/tmp` storage in MiB (512..10240). The transform spills a run's new versions and
   * its large sorts there, so it gets more by default.
   */
  readonly tmpMb: number;
  /** Timeout in seconds (1..900). */
  readonly timeoutSeconds: number;
}

/** Where the stage Lambdas sit in a VPC, when the databases are only reachable from one. */
export interface VpcPlacement {
  /** The VPC id, e.g. `vpc-0abc…`. */
  readonly vpcId: string;
  /** Private subnets (with a route to the databases, S3 and Secrets Manager). */
  readonly subnetIds: string[];
  /** The security group the functions use; it must be allowed into both databases. */
  readonly securityGroupId: string;
}

/**
 * A database secret: imported by name or ARN, or (when absent) created as a placeholder
 * whose value is set after deploy with `aws secretsmanager put-secret-value`.
 */
export interface SecretReference {
  /** A secret name (`tote/source`) or a full secret ARN. */
  readonly nameOrArn?: string;
}

/**
 * Everything the stack takes from CDK context (`-c key=value` or cdk.json), parsed and checked once.
 * The context keys are documented in docs/deploy.md; every one has a default.
 */
export interface ToteConfig {
  /** Architecture of every stage Lambda (context `architecture`, default `arm64`). */
  readonly architecture: StageArchitecture;
  /** Memory, `/tmp` and timeout per stage (context `memoryMb`/`tmpMb`/`timeoutSeconds`, or `<stage>MemoryMb`/`<stage>TmpMb`/`<stage>TimeoutSeconds`). */
  readonly sizing: Record<Stage, StageSizing>;
  /** Retention of every log group in days (context `logRetentionDays`, default 30). */
  readonly logRetentionDays: number;
  /** Application log level of the stage Lambdas (context `logLevel`, default `INFO`). */
  readonly logLevel: 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';
  /** Optional VPC placement (context `vpcId`, `subnetIds` comma separated, `securityGroupId`). */
  readonly vpc?: VpcPlacement;
  /** The ToteSys source database secret (context `sourceSecret`). */
  readonly sourceSecret: SecretReference;
  /** The warehouse database secret (context `warehouseSecret`). */
  readonly warehouseSecret: SecretReference;
  /** How many tables are ingested at once (context `ingestConcurrency`, default 4). */
  readonly ingestConcurrency: number;
  /** How many fact models are loaded at once (context `loadConcurrency`, default 3: the three facts). */
  readonly loadConcurrency: number;
  /** How many chunks of a chunked table read run at once (context `chunkConcurrency`, default 4): the IngestChunks Distributed Map's MaxConcurrency, each chunk one source connection. */
  readonly chunkConcurrency: number;
  /** Rows per chunk of a whole-table read (context `chunkRows`, default 5000000; 0 never chunks): the ingest's `TOTE_CHUNK_ROWS`. */
  readonly chunkRows: number;
  /** Minutes between scheduled runs (context `scheduleRateMinutes`, default 15). */
  readonly scheduleRateMinutes: number;
  /** Whether the schedule starts executions (context `scheduleEnabled`, default true). */
  readonly scheduleEnabled: boolean;
  /** Whole-execution timeout in minutes (context `executionTimeoutMinutes`, default 60). */
  readonly executionTimeoutMinutes: number;
  /** Optional e-mail address subscribed to the alert topic (context `alertEmail`). */
  readonly alertEmail?: string;
  /**
   * The freshness promise in minutes (context `freshnessSlaMinutes`, default 30): alarms fire when a
   * source change older than this is not in the warehouse, or no execution succeeded for this long.
   */
  readonly freshnessSlaMinutes: number;
}

/** Defaults for every context key, so `cdk synth` works with none set. */
export const DEFAULTS = {
  architecture: 'arm64' as StageArchitecture,
  memoryMb: { ingest: 1024, transform: 2048, load: 1024 } as Record<Stage, number>,
  tmpMb: { ingest: 512, transform: 4096, load: 512 } as Record<Stage, number>,
  timeoutSeconds: 900,
  logRetentionDays: 30,
  logLevel: 'INFO' as const,
  ingestConcurrency: 4,
  loadConcurrency: 3,
  chunkConcurrency: 4,
  chunkRows: 5_000_000,
  scheduleRateMinutes: 15,
  freshnessSlaMinutes: 30,
  executionTimeoutMinutes: 60,
};

/** CloudWatch Logs accepts only these retention periods (days). */
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** An EC2 resource id: the prefix and 8 or 17 hex digits. */
const AWS_ID = (prefix: string) => new RegExp(`^${prefix}-([0-9a-f]{8}|[0-9a-f]{17})$`);

/** A context value that is not valid; the message names the key and what it accepts. */
export class ConfigError extends Error {
  constructor(key: string, value: unknown, expected: string) {
    super(`context '${key}' = ${JSON.stringify(value)} is not valid: expected ${expected}`);
    this.name = 'ConfigError';
  }
}

/** Reads one context value; `-c key=value` gives strings, cdk.json may give any JSON type. */
type ContextReader = (key: string) => unknown;

function text(read: ContextReader, key: string): string | undefined {
  const value = read(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new ConfigError(key, value, 'a string');
  return value.trim();
}

function integer(read: ContextReader, key: string, fallback: number, min: number, max: number): number {
  const value = read(key);
  if (value === undefined || value === null || value === '') return fallback;
  const parsed = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new ConfigError(key, value, `an integer from ${min} to ${max}`);
  }
  return parsed;
}

function boolean(read: ContextReader, key: string, fallback: boolean): boolean {
  const value = read(key);
  if (value === undefined || value === null || value === '') return fallback;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new ConfigError(key, value, 'true or false');
}

function list(read: ContextReader, key: string): string[] | undefined {
  const value = read(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.map((v) => v.trim());
  if (typeof value === 'string') return value.split(',').map((v) => v.trim()).filter((v) => v.length > 0);
  throw new ConfigError(key, value, 'a comma-separated list of ids');
}

/**
 * Parses and validates the stack configuration from a context reader.
 * Invalid values fail synth with a message naming the context key.
 */
export function parseConfig(read: ContextReader): ToteConfig {
  const architecture = text(read, 'architecture') ?? DEFAULTS.architecture;
  if (architecture !== 'arm64' && architecture !== 'x86_64') {
    throw new ConfigError('architecture', architecture, "'arm64' or 'x86_64'");
  }

  const memoryMb = integer(read, 'memoryMb', -1, 128, 10240);
  const tmpMb = integer(read, 'tmpMb', -1, 512, 10240);
  const timeoutSeconds = integer(read, 'timeoutSeconds', DEFAULTS.timeoutSeconds, 1, 900);
  const sizing = {} as Record<Stage, StageSizing>;
  for (const stage of STAGES) {
    sizing[stage] = {
      memoryMb: integer(read, `${stage}MemoryMb`, memoryMb > 0 ? memoryMb : DEFAULTS.memoryMb[stage], 128, 10240),
      tmpMb: integer(read, `${stage}TmpMb`, tmpMb > 0 ? tmpMb : DEFAULTS.tmpMb[stage], 512, 10240),
      timeoutSeconds: integer(read, `${stage}TimeoutSeconds`, timeoutSeconds, 1, 900),
    };
  }

  const logRetentionDays = integer(read, 'logRetentionDays', DEFAULTS.logRetentionDays, 1, 3653);
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays)) {
    throw new ConfigError('logRetentionDays', logRetentionDays, `one of ${LOG_RETENTION_DAYS.join(', ')}`);
  }

  const logLevel = (text(read, 'logLevel') ?? DEFAULTS.logLevel).toUpperCase();
  if (!['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].includes(logLevel)) {
    throw new ConfigError('logLevel', logLevel, 'TRACE, DEBUG, INFO, WARN, ERROR or FATAL');
  }

  const vpcId = text(read, 'vpcId');
  const subnetIds = list(read, 'subnetIds');
  const securityGroupId = text(read, 'securityGroupId');
  let vpc: VpcPlacement | undefined;
  if (vpcId || subnetIds || securityGroupId) {
    if (!vpcId || !AWS_ID('vpc').test(vpcId)) throw new ConfigError('vpcId', vpcId, 'a VPC id (vpc-…) when placing the functions in a VPC');
    if (!subnetIds || subnetIds.length === 0 || !subnetIds.every((s) => AWS_ID('subnet').test(s))) {
      throw new ConfigError('subnetIds', subnetIds, 'comma-separated subnet ids (subnet-…) when vpcId is set');
    }
    if (!securityGroupId || !AWS_ID('sg').test(securityGroupId)) {
      throw new ConfigError('securityGroupId', securityGroupId, 'a security group id (sg-…) when vpcId is set');
    }
    vpc = { vpcId, subnetIds, securityGroupId };
  }

  const scheduleRateMinutes = integer(read, 'scheduleRateMinutes', DEFAULTS.scheduleRateMinutes, 1, 1440);
  const freshnessSlaMinutes = integer(read, 'freshnessSlaMinutes', DEFAULTS.freshnessSlaMinutes, 5, 1440);
  if (freshnessSlaMinutes <= scheduleRateMinutes) {
    // A promise no longer than the schedule's interval is broken between two runs by design.
    throw new ConfigError('freshnessSlaMinutes', freshnessSlaMinutes, `more minutes than scheduleRateMinutes (${scheduleRateMinutes})`);
  }

  const alertEmail = text(read, 'alertEmail');
  if (alertEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alertEmail)) {
    throw new ConfigError('alertEmail', alertEmail, 'an e-mail address');
  }

  return {
    architecture,
    sizing,
    logRetentionDays,
    logLevel: logLevel as ToteConfig['logLevel'],
    vpc,
    sourceSecret: { nameOrArn: text(read, 'sourceSecret') },
    warehouseSecret: { nameOrArn: text(read, 'warehouseSecret') },
    ingestConcurrency: integer(read, 'ingestConcurrency', DEFAULTS.ingestConcurrency, 1, 40),
    loadConcurrency: integer(read, 'loadConcurrency', DEFAULTS.loadConcurrency, 1, 40),
    chunkConcurrency: integer(read, 'chunkConcurrency', DEFAULTS.chunkConcurrency, 1, 1000),
    chunkRows: integer(read, 'chunkRows', DEFAULTS.chunkRows, 0, 1_000_000_000),
    scheduleRateMinutes,
    scheduleEnabled: boolean(read, 'scheduleEnabled', true),
    executionTimeoutMinutes: integer(read, 'executionTimeoutMinutes', DEFAULTS.executionTimeoutMinutes, 5, 1440),
    alertEmail,
    freshnessSlaMinutes,
  };
}

/** The configuration of a construct tree, read from its CDK context. */
export function configFromContext(scope: Construct): ToteConfig {
  return parseConfig((key) => scope.node.tryGetContext(key));
}
