import { Match } from 'aws-cdk-lib/assertions';
import { Stores } from './stores';
import { buildUnit, logicalId, Unit } from './testing';

describe('Stores', () => {
  let s: Unit<{ stores: Stores }>;
  beforeAll(() => {
    s = buildUnit((stack) => ({ stores: new Stores(stack, 'Stores') }));
  });

  test('three buckets: landing, processed and their access logs', () => {
    s.template.resourceCountIs('AWS::S3::Bucket', 3);
  });

  test.each(['landing', 'processed'] as const)('%s store: private, encrypted, versioned, logged, retained', (name) => {
    const bucket = name === 'landing' ? s.stores.landing : s.stores.processed;
    const id = logicalId(bucket);
    const resource = s.template.toJSON().Resources[id];
    expect(resource.DeletionPolicy).toBe('Retain');
    expect(resource.UpdateReplacePolicy).toBe('Retain');
    expect(resource.Properties).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: logicalId(s.stores.accessLogs) },
        LogFilePrefix: `${name}/`,
      },
    });
  });

  test('access log bucket: private, encrypted, versioned, retained', () => {
    const resource = s.template.toJSON().Resources[logicalId(s.stores.accessLogs)];
    expect(resource.DeletionPolicy).toBe('Retain');
    expect(resource.Properties.PublicAccessBlockConfiguration.BlockPublicPolicy).toBe(true);
    expect(resource.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(resource.Properties.BucketEncryption).toBeDefined();
  });

  test.each(['landing', 'processed', 'accessLogs'] as const)('%s bucket policy denies requests without TLS', (name) => {
    const id = logicalId(s.stores[name]);
    s.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: id },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});
