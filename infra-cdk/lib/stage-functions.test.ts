import { readFileSync } from 'fs';
import * as path from 'path';
import { Match } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Stage, STAGES } from './config';
import { IMAGES_DIR, StageFunctions } from './stage-functions';
import { actionsOf, buildUnit, logicalId, PolicyStatementJson, statementsOfRole, testConfig, Unit } from './testing';

/** What each stage's role may do, besides writing its own logs and X-Ray segments. */
const EXPECTED_DATA_ACCESS: Record<
  Stage,
  Array<{ actions: string[]; on: 'landing' | 'processed' | 'source' | 'warehouse' | 'both secrets'; objects?: boolean }>
> = {
  ingest: [
    { actions: ['s3:ListBucket'], on: 'landing' },
    { actions: ['s3:GetObject'], on: 'landing', objects: true },
    { actions: ['s3:AbortMultipartUpload', 's3:PutObject'], on: 'landing', objects: true },
    { actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], on: 'source' },
  ],
  transform: [
    { actions: ['s3:ListBucket'], on: 'landing' },
    { actions: ['s3:GetObject'], on: 'landing', objects: true },
    { actions: ['s3:ListBucket'], on: 'processed' },
    { actions: ['s3:GetObject'], on: 'processed', objects: true },
    { actions: ['s3:AbortMultipartUpload', 's3:PutObject'], on: 'processed', objects: true },
  ],
  load: [
    { actions: ['s3:ListBucket'], on: 'processed' },
    { actions: ['s3:GetObject'], on: 'processed', objects: true },
    { actions: ['s3:ListBucket'], on: 'landing' },
    { actions: ['s3:GetObject'], on: 'landing', objects: true },
    // IAM merges the two secrets' identical statements into one.
    { actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], on: 'both secrets' },
  ],
};

/** What the stage functions are given: stand-in stores and secrets. */
interface Inputs {
  readonly landing: s3.Bucket;
  readonly processed: s3.Bucket;
  readonly source: secretsmanager.Secret;
  readonly warehouse: secretsmanager.Secret;
}

/** The stage functions and their inputs in a unit stack. */
type StageFunctionsUnit = Unit<Inputs & { fns: StageFunctions }>;

/** The stage functions configured from `context`, in a unit stack with stand-in buckets and secrets. */
function stageFunctionsFor(context: Record<string, unknown>): StageFunctionsUnit {
  return buildUnit((stack) => {
    const config = testConfig(context);
    const inputs: Inputs = {
      landing: new s3.Bucket(stack, 'LandingBucket'),
      processed: new s3.Bucket(stack, 'ProcessedBucket'),
      source: new secretsmanager.Secret(stack, 'SourceSecret'),
      warehouse: new secretsmanager.Secret(stack, 'WarehouseSecret'),
    };
    const fns = new StageFunctions(stack, 'StageFunctions', {
      landing: inputs.landing,
      processed: inputs.processed,
      sourceSecret: inputs.source,
      warehouseSecret: inputs.warehouse,
      architecture: config.architecture,
      sizing: config.sizing,
      logRetentionDays: config.logRetentionDays,
      logLevel: config.logLevel,
      vpc: config.vpc,
      chunkRows: config.chunkRows,
    });
    return { ...inputs, fns };
  });
}

describe('StageFunctions', () => {
  // The functions are built from the image directories, so each configuration is built once, here.
  /** With the defaults. */
  let s: StageFunctionsUnit;
  /** With architecture, sizing, logs and VPC placement set from context. */
  let c: StageFunctionsUnit;
  beforeAll(() => {
    s = stageFunctionsFor({});
    c = stageFunctionsFor({
      architecture: 'x86_64',
      memoryMb: '512',
      loadMemoryMb: '3008',
      transformTmpMb: '10240',
      timeoutSeconds: '600',
      ingestTimeoutSeconds: '300',
      logRetentionDays: '90',
      logLevel: 'debug',
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      subnetIds: 'subnet-0aaaaaaaaaaaaaaa1, subnet-0bbbbbbbbbbbbbbb2',
      securityGroupId: 'sg-0c0c0c0c0c0c0c0c0',
    });
  });

  const fnResource = (stage: Stage) => s.template.toJSON().Resources[logicalId(s.fns[stage])];
  const roleId = (stage: Stage) => logicalId(s.fns[stage].role!);
  const prefix = (on: 'landing' | 'processed') => on;

  test('three container-image functions, arm64 by default, with JSON logs, tracing and their own log group', () => {
    s.template.resourceCountIs('AWS::Lambda::Function', 3);
    for (const stage of STAGES) {
      const props = fnResource(stage).Properties;
      expect(props.PackageType).toBe('Image');
      expect(props.Architectures).toEqual(['arm64']);
      expect(props.LoggingConfig).toEqual({
        LogFormat: 'JSON',
        ApplicationLogLevel: 'INFO',
        SystemLogLevel: 'INFO',
        LogGroup: { Ref: expect.stringMatching(/Logs/) },
      });
      expect(props.TracingConfig).toEqual({ Mode: 'Active' });
      const logGroupId = props.LoggingConfig.LogGroup.Ref;
      expect(s.template.toJSON().Resources[logGroupId].Properties.RetentionInDays).toBe(30);
    }
  });

  test('default sizing: transform gets more memory, every stage the 15-minute maximum timeout', () => {
    expect(fnResource('ingest').Properties).toMatchObject({ MemorySize: 1024, Timeout: 900 });
    expect(fnResource('transform').Properties).toMatchObject({
      MemorySize: 2048,
      Timeout: 900,
      EphemeralStorage: { Size: 4096 },
    });
    expect(fnResource('load').Properties).toMatchObject({ MemorySize: 1024, Timeout: 900, EphemeralStorage: { Size: 512 } });
  });

  test('environment: store URLs with prefixes, and only the secrets each stage needs (the load reads the source for freshness)', () => {
    const landing = { 'Fn::Join': ['', ['s3://', { Ref: logicalId(s.landing) }, '/landing']] };
    const processed = { 'Fn::Join': ['', ['s3://', { Ref: logicalId(s.processed) }, '/processed']] };
    const source = { Ref: logicalId(s.source) };
    const warehouse = { Ref: logicalId(s.warehouse) };
    expect(fnResource('ingest').Properties.Environment.Variables).toEqual({
      TOTE_LANDING: landing,
      TOTE_SOURCE_SECRET_ARN: source,
      TOTE_CHUNK_ROWS: '5000000',
      RUST_BACKTRACE: '1',
    });
    expect(fnResource('transform').Properties.Environment.Variables).toEqual({
      TOTE_LANDING: landing,
      TOTE_PROCESSED: processed,
      TOTE_TRANSFORM_MEMORY_MB: '512',
      RUST_BACKTRACE: '1',
    });
    expect(fnResource('load').Properties.Environment.Variables).toEqual({
      TOTE_PROCESSED: processed,
      TOTE_WAREHOUSE_SECRET_ARN: warehouse,
      TOTE_LANDING: landing,
      TOTE_SOURCE_SECRET_ARN: source,
      RUST_BACKTRACE: '1',
    });
  });

  test('roles: one per function, no managed policies', () => {
    for (const stage of STAGES) {
      const role = s.template.toJSON().Resources[roleId(stage)];
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
      expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
        { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
      ]);
    }
  });

  test.each(STAGES)('%s: no wildcard action anywhere in its policies', (stage) => {
    for (const statement of statementsOfRole(s.template, roleId(stage))) {
      expect(statement.Effect).toBe('Allow');
      for (const action of actionsOf(statement)) expect(action).not.toMatch(/\*/);
    }
  });

  test.each(STAGES)('%s: exactly its own data access, scoped to the named bucket prefix or secret', (stage) => {
    const arnOf = (on: string): unknown => {
      switch (on) {
        case 'both secrets':
          return [arnOf('source'), arnOf('warehouse')];
        case 'landing':
          return { 'Fn::GetAtt': [logicalId(s.landing), 'Arn'] };
        case 'processed':
          return { 'Fn::GetAtt': [logicalId(s.processed), 'Arn'] };
        case 'source':
          return { Ref: logicalId(s.source) };
        default:
          return { Ref: logicalId(s.warehouse) };
      }
    };
    const dataStatements = statementsOfRole(s.template, roleId(stage)).filter((st) =>
      actionsOf(st).some((a) => a.startsWith('s3:') || a.startsWith('secretsmanager:')),
    );
    const expected = EXPECTED_DATA_ACCESS[stage].map((e) => ({
      actions: e.actions,
      resource: e.objects
        ? { 'Fn::Join': ['', [arnOf(e.on), `/${prefix(e.on as 'landing' | 'processed')}/*`]] }
        : arnOf(e.on),
    }));
    const actual = dataStatements.map((st: PolicyStatementJson) => ({ actions: actionsOf(st).sort(), resource: st.Resource }));
    expect(actual).toEqual(expect.arrayContaining(expected));
    expect(actual).toHaveLength(expected.length);
  });

  test.each(STAGES)('%s: logs only to its own log group; "*" only for X-Ray', (stage) => {
    const statements = statementsOfRole(s.template, roleId(stage));
    const logs = statements.filter((st) => actionsOf(st).some((a) => a.startsWith('logs:')));
    const logGroupId = fnResource(stage).Properties.LoggingConfig.LogGroup.Ref;
    expect(logs).toEqual([
      expect.objectContaining({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } }),
    ]);
    const onAnything = statements.filter((st) => st.Resource === '*');
    expect(onAnything.flatMap(actionsOf).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });

  test('ListBucket is limited to the store prefix', () => {
    const list = statementsOfRole(s.template, roleId('ingest')).find((st) => actionsOf(st).includes('s3:ListBucket'));
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': ['landing/*', 'landing'] } });
  });

  test.each(STAGES)('%s image: FROM scratch with only the bootstrap binary', (stage) => {
    const dockerfile = readFileSync(path.join(IMAGES_DIR, stage, 'Dockerfile'), 'utf8');
    const instructions = dockerfile.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    expect(instructions).toEqual(['FROM scratch', 'COPY bootstrap /bootstrap', 'ENTRYPOINT ["/bootstrap"]']);
  });

  test('context sets architecture, sizing, log retention and level', () => {
    const props = (stage: Stage) => c.template.toJSON().Resources[logicalId(c.fns[stage])].Properties;
    for (const stage of STAGES) {
      expect(props(stage).Architectures).toEqual(['x86_64']);
      expect(props(stage).LoggingConfig.ApplicationLogLevel).toBe('DEBUG');
    }
    expect(props('ingest')).toMatchObject({ MemorySize: 512, Timeout: 300 });
    expect(props('transform')).toMatchObject({ MemorySize: 512, Timeout: 600, EphemeralStorage: { Size: 10240 } });
    expect(props('transform').Environment.Variables.TOTE_TRANSFORM_MEMORY_MB).toBe('128');
    expect(props('load')).toMatchObject({ MemorySize: 3008, Timeout: 600 });
    c.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
  });

  test('VPC placement from context: subnets, security group and ENI permissions', () => {
    c.template.allResourcesProperties('AWS::Lambda::Function', {
      VpcConfig: { SubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0bbbbbbbbbbbbbbb2'], SecurityGroupIds: ['sg-0c0c0c0c0c0c0c0c0'] },
    });
    c.template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
    const statements = statementsOfRole(c.template, logicalId(c.fns.ingest.role!));
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Sid: 'ManageVpcNetworkInterfaces', Action: expect.arrayContaining(['ec2:CreateNetworkInterface']) }),
      ]),
    );
  });

  test('no VPC by default', () => {
    s.template.allResourcesProperties('AWS::Lambda::Function', { VpcConfig: Match.absent() });
  });

  test('incomplete VPC context is refused with a message naming the key', () => {
    expect(() => testConfig({ vpcId: 'vpc-0a1b2c3d4e5f60718' })).toThrow(/subnetIds/);
    expect(() => testConfig({ vpcId: 'vpc-0abc', subnetIds: 'subnet-0aaaaaaaaaaaaaaa1', securityGroupId: 'sg-0c0c0c0c0c0c0c0c0' })).toThrow(/vpcId/);
  });
});
