import { DEFAULTS, parseConfig } from './config';

const from = (context: Record<string, unknown>) => parseConfig((key) => context[key]);

describe('parseConfig', () => {
  test('defaults with no context', () => {
    const c = from({});
    expect(c).toMatchObject({
      architecture: 'arm64',
      logRetentionDays: 30,
      logLevel: 'INFO',
      ingestConcurrency: 4,
      loadConcurrency: 3,
      chunkConcurrency: 4,
      chunkRows: 5_000_000,
      scheduleRateMinutes: 15,
      scheduleEnabled: true,
      executionTimeoutMinutes: 60,
      vpc: undefined,
      alertEmail: undefined,
    });
    expect(c.sizing.transform).toEqual({ memoryMb: DEFAULTS.memoryMb.transform, tmpMb: 4096, timeoutSeconds: 900 });
    expect(c.sizing.load.tmpMb).toBe(512);
  });

  test('cdk.json may give numbers and lists where -c gives strings', () => {
    const c = from({ ingestConcurrency: 10, subnetIds: ['subnet-01234567'], vpcId: 'vpc-01234567', securityGroupId: 'sg-01234567' });
    expect(c.ingestConcurrency).toBe(10);
    expect(c.vpc).toEqual({ vpcId: 'vpc-01234567', subnetIds: ['subnet-01234567'], securityGroupId: 'sg-01234567' });
  });

  test.each([
    ['architecture', 'arm'],
    ['memoryMb', '64'],
    ['transformTmpMb', '256'],
    ['ingestTimeoutSeconds', '901'],
    ['logRetentionDays', '2'],
    ['logLevel', 'LOUD'],
    ['ingestConcurrency', 'many'],
    ['loadConcurrency', '0'],
    ['chunkConcurrency', '0'],
    ['chunkRows', '-1'],
    ['scheduleRateMinutes', '0'],
    ['scheduleEnabled', 'yes'],
    ['securityGroupId', 'sg-01234567'],
  ])('invalid %s=%s fails naming the key', (key, value) => {
    expect(() => from({ [key]: value })).toThrow(new RegExp(`context '${key === 'securityGroupId' ? 'vpcId' : key}'`));
  });
});
