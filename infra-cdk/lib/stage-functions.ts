import * as path from 'path';
import { Annotations, Duration, Fn, Size, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { Stage, StageArchitecture, StageSizing, ToteConfig, VpcPlacement } from './config';
import { LANDING_PREFIX, PROCESSED_PREFIX } from './stores';

/** Directory holding one image build context per stage: `images/<stage>/{Dockerfile,bootstrap}`. */
export const IMAGES_DIR = path.join(__dirname, '..', 'images');

/** Construct id of each stage function; docs/stage-contract.md maps them to ASL placeholders. */
export const FUNCTION_IDS: Record<Stage, string> = {
  ingest: 'IngestFunction',
  transform: 'TransformFunction',
  load: 'LoadFunction',
};

/** Properties of {@link StageFunctions}. */
export interface StageFunctionsProps {
  /** Landing store: ingest reads and writes it, transform reads it. */
  readonly landing: s3.IBucket;
  /** Processed store: transform reads and writes it, load reads it. */
  readonly processed: s3.IBucket;
  /** ToteSys credentials: read by ingest only. */
  readonly sourceSecret: secretsmanager.ISecret;
  /** Warehouse credentials: read by load only. */
  readonly warehouseSecret: secretsmanager.ISecret;
  /** Architecture of all three functions (and of the images scripts/build-images builds). */
  readonly architecture: StageArchitecture;
  /** Memory and timeout per stage. */
  readonly sizing: Record<Stage, StageSizing>;
  /** Retention of each function's log group, in days. */
  readonly logRetentionDays: number;
  /** Application log level (the stages log JSON through `tracing`). */
  readonly logLevel: ToteConfig['logLevel'];
  /** Optional VPC placement, for databases reachable only from inside a VPC. */
  readonly vpc?: VpcPlacement;
  /** Rows per chunk of a whole-table read: the ingest's `TOTE_CHUNK_ROWS`. */
  readonly chunkRows: number;
}

/**
 * The three stage Lambdas (ingest, transform, load), each a container image that holds only its
 * own static binary (`images/<stage>/Dockerfile`, `FROM scratch`), each with its own role that can
 * touch nothing but what its stage needs (least privilege):
 *
 * | function  | landing bucket | processed bucket | source secret | warehouse secret |
 * |-----------|----------------|------------------|---------------|------------------|
 * | ingest    | read + write   | –                | read          | –                |
 * | transform | read           | read + write     | –             | –                |
 * | load      | –              | read             | –             | read             |
 *
 * Every permission is an explicit action (no `s3:*`, no `s3:Get*`) on the named bucket or secret.
 * "Write" is create-only: the stages never delete or overwrite (DESIGN.md: objects are immutable).
 */
export class StageFunctions extends Construct {
  /** Stage 1: plans a run and ingests one source table per invocation into the landing store. */
  public readonly ingest: lambda.DockerImageFunction;
  /** Stage 2: turns committed landing batches into star-schema Parquet in the processed store. */
  public readonly transform: lambda.DockerImageFunction;
  /** Stage 3: loads processed batches (dimensions, then facts) into the warehouse. */
  public readonly load: lambda.DockerImageFunction;

  private readonly props: StageFunctionsProps;
  private readonly vpcConfig?: { vpc: ec2.IVpc; subnets: ec2.ISubnet[]; securityGroup: ec2.ISecurityGroup };

  constructor(scope: Construct, id: string, props: StageFunctionsProps) {
    super(scope, id);
    this.props = props;

    if (props.vpc) {
      const subnets = props.vpc.subnetIds.map((subnetId, i) => {
        const subnet = ec2.Subnet.fromSubnetId(this, `Subnet${i}`, subnetId);
        Annotations.of(subnet).acknowledgeWarning('@aws-cdk/aws-ec2:noSubnetRouteTableId', 'Only the subnet id is used (Lambda VpcConfig).');
        return subnet;
      });
      // Attributes only, no lookup: synth needs no AWS credentials and writes no cdk.context.json.
      // The functions name their subnets explicitly, so the VPC's own AZ/subnet layout is unused.
      const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: props.vpc.vpcId, availabilityZones: Fn.getAzs() });
      Annotations.of(vpc).acknowledgeWarning(
        '@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones',
        'The functions are given explicit subnets; the imported VPC is never asked to select subnets.',
      );
      this.vpcConfig = {
        vpc,
        subnets,
        securityGroup: ec2.SecurityGroup.fromSecurityGroupId(this, 'SecurityGroup', props.vpc.securityGroupId, { mutable: false }),
      };
    }

    const landingUrl = `s3://${props.landing.bucketName}/${LANDING_PREFIX}`;
    const processedUrl = `s3://${props.processed.bucketName}/${PROCESSED_PREFIX}`;

    this.ingest = this.stageFunction('ingest', {
      TOTE_LANDING: landingUrl,
      TOTE_SOURCE_SECRET_ARN: secretId(props.sourceSecret),
      TOTE_CHUNK_ROWS: String(props.chunkRows),
    });
    this.grantReadWrite(this.ingest, props.landing, LANDING_PREFIX);
    this.grantSecretRead(this.ingest, props.sourceSecret);

    this.transform = this.stageFunction('transform', {
      TOTE_LANDING: landingUrl,
      TOTE_PROCESSED: processedUrl,
      // A quarter of the function's memory for the query engine's sorts; the rest spills to /tmp.
      TOTE_TRANSFORM_MEMORY_MB: String(Math.max(16, Math.floor(props.sizing.transform.memoryMb / 4))),
    });
    this.grantRead(this.transform, props.landing, LANDING_PREFIX);
    this.grantReadWrite(this.transform, props.processed, PROCESSED_PREFIX);

    // The load also measures freshness after each fact load: the landing zone's cursors and the
    // source's own clock and rows (read-only), besides the processed zone and the warehouse.
    this.load = this.stageFunction('load', {
      TOTE_PROCESSED: processedUrl,
      TOTE_WAREHOUSE_SECRET_ARN: secretId(props.warehouseSecret),
      TOTE_LANDING: landingUrl,
      TOTE_SOURCE_SECRET_ARN: secretId(props.sourceSecret),
    });
    this.grantRead(this.load, props.processed, PROCESSED_PREFIX);
    this.grantRead(this.load, props.landing, LANDING_PREFIX);
    this.grantSecretRead(this.load, props.warehouseSecret);
    this.grantSecretRead(this.load, props.sourceSecret);
  }

  /** All three functions, in pipeline order. */
  public get all(): Record<Stage, lambda.DockerImageFunction> {
    return { ingest: this.ingest, transform: this.transform, load: this.load };
  }

  private stageFunction(stage: Stage, environment: Record<string, string>): lambda.DockerImageFunction {
    const id = FUNCTION_IDS[stage];
    const sizing = this.props.sizing[stage];
    const arm = this.props.architecture === 'arm64';

    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: this.props.logRetentionDays as logs.RetentionDays,
    });

    // A role of its own with no managed policy: only its log group, its data and (in a VPC) its ENIs.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `tote ${stage} stage Lambda`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );

    const fn = new lambda.DockerImageFunction(this, id, {
      description: `tote ${stage} stage (container image, static binary)`,
      code: lambda.DockerImageCode.fromImageAsset(path.join(IMAGES_DIR, stage), {
        platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
      }),
      architecture: arm ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      memorySize: sizing.memoryMb,
      ephemeralStorageSize: Size.mebibytes(sizing.tmpMb),
      timeout: Duration.seconds(sizing.timeoutSeconds),
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel[this.props.logLevel],
      systemLogLevelV2: lambda.SystemLogLevel.INFO,
      tracing: lambda.Tracing.ACTIVE,
      environment: { ...environment, RUST_BACKTRACE: '1' },
      ...(this.vpcConfig
        ? {
            vpc: this.vpcConfig.vpc,
            vpcSubnets: { subnets: this.vpcConfig.subnets },
            securityGroups: [this.vpcConfig.securityGroup],
          }
        : {}),
    });

    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) and, with VPC placement, the ENI ' +
        'actions Lambda needs are on "*": X-Ray and ec2:Describe* do not support resource-level permissions.',
    });
    if (this.vpcConfig) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ManageVpcNetworkInterfaces',
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }
    return fn;
  }

  /** List the bucket (under `prefix`) and read its objects. */
  private grantRead(fn: lambda.IFunction, bucket: s3.IBucket, prefix: string): void {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: `List${this.bucketSid(bucket)}`,
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${prefix}/*`, prefix] } },
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: `Read${this.bucketSid(bucket)}`,
        actions: ['s3:GetObject'],
        resources: [bucket.arnForObjects(`${prefix}/*`)],
      }),
    );
    this.acknowledgeObjectWildcard(fn, bucket, prefix);
  }

  /** Read, plus create objects (single and multipart uploads; aborting a failed multipart upload). */
  private grantReadWrite(fn: lambda.IFunction, bucket: s3.IBucket, prefix: string): void {
    this.grantRead(fn, bucket, prefix);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: `Write${this.bucketSid(bucket)}`,
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [bucket.arnForObjects(`${prefix}/*`)],
      }),
    );
  }

  /** Read one secret's value (and its metadata, which the SDK asks for on errors). */
  private grantSecretRead(fn: lambda.IFunction, secret: secretsmanager.ISecret): void {
    // grantRead renders exactly GetSecretValue + DescribeSecret on this secret's ARN (or
    // `<name>-??????` for a secret imported by name) and adds kms:Decrypt only when the secret has a
    // customer managed key.
    secret.grantRead(fn);
  }

  private bucketSid(bucket: s3.IBucket): string {
    return bucket === this.props.landing ? 'Landing' : 'Processed';
  }

  private acknowledgeObjectWildcard(fn: lambda.IFunction, bucket: s3.IBucket, prefix: string): void {
    const stack = Stack.of(this);
    const bucketId = stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}/*]`,
      reason:
        `Object-level S3 actions on the ${prefix} store take object ARNs; batch keys are generated at run time, ` +
        `so the grant is scoped to the store's key prefix in its one bucket, never to other buckets.`,
    });
  }
}

/**
 * What the stages pass to Secrets Manager as `SecretId`: the complete ARN when it is known, else
 * the name (a secret imported by name has only a partial ARN, which AWS advises against using).
 */
function secretId(secret: secretsmanager.ISecret): string {
  return secret.secretFullArn ?? secret.secretName;
}
