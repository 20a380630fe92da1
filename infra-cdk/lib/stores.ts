import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Key prefix of the landing store inside its bucket (`TOTE_LANDING=s3://<bucket>/landing`). */
export const LANDING_PREFIX = 'landing';
/** Key prefix of the processed store inside its bucket (`TOTE_PROCESSED=s3://<bucket>/processed`). */
export const PROCESSED_PREFIX = 'processed';

/** Properties of {@link Stores}. */
export interface StoresProps {
  /**
   * What happens to the buckets when the stack is deleted. The stores hold the only copy of
   * ingested history, so the default keeps them.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The two object stores of the data path (DESIGN.md "Data path and storage contract"):
 * `landing` (ingested source batches) and `processed` (star-schema Parquet), plus the bucket
 * that receives their S3 server access logs.
 *
 * Every bucket blocks public access, refuses plain HTTP, encrypts at rest with S3-managed keys
 * (SSE-S3: no KMS grants to thread through every stage, no per-request KMS cost) and is
 * versioned, so an overwritten or deleted object can be recovered even though the pipeline
 * itself only ever creates keys.
 */
export class Stores extends Construct {
  /** Ingested batches and the ingest commit log. */
  public readonly landing: s3.Bucket;
  /** Star-schema Parquet batches and the transform commit log. */
  public readonly processed: s3.Bucket;
  /** Server access logs of the two stores. */
  public readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: StoresProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.accessLogs = new s3.Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      // S3 log delivery writes with the bucket-owner-enforced object ownership CDK sets up here.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
      removalPolicy,
    });

    this.landing = this.store('LandingBucket', 'landing/', removalPolicy);
    this.processed = this.store('ProcessedBucket', 'processed/', removalPolicy);
  }

  /** The `TOTE_LANDING` URL the stages use: `s3://<landing bucket>/landing`. */
  public get landingUrl(): string {
    return `s3://${this.landing.bucketName}/${LANDING_PREFIX}`;
  }

  /** The `TOTE_PROCESSED` URL the stages use: `s3://<processed bucket>/processed`. */
  public get processedUrl(): string {
    return `s3://${this.processed.bucketName}/${PROCESSED_PREFIX}`;
  }

  private store(id: string, logPrefix: string, removalPolicy: RemovalPolicy): s3.Bucket {
    return new s3.Bucket(this, id, {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: logPrefix,
      // Batches are immutable, so old versions only appear after a manual overwrite or delete.
      // Aborted multipart uploads (a stage that crashed mid-write) are invisible garbage: clear them.
      lifecycleRules: [
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(90) },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy,
    });
  }
}
