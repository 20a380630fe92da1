import { synth } from './testing';

describe('the app', () => {
  test('cdk-nag AwsSolutionsChecks: no unacknowledged finding (synth throws on any)', () => {
    expect(() => synth({}, true)).not.toThrow();
  });

  test('cdk-nag also passes with imported secrets, VPC placement and an alert e-mail', () => {
    expect(() =>
      synth(
        {
          sourceSecret: 'tote/source',
          warehouseSecret: 'tote/warehouse',
          vpcId: 'vpc-0a1b2c3d4e5f60718',
          subnetIds: 'subnet-0aaaaaaaaaaaaaaa1',
          securityGroupId: 'sg-0c0c0c0c0c0c0c0c0',
          alertEmail: 'ops@example.com',
        },
        true,
      ),
    ).not.toThrow();
  });
});
