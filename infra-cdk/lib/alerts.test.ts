import { Match } from 'aws-cdk-lib/assertions';
import { synth, Synthesized } from './testing';

describe('Alerts', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  test('the topic is encrypted with a rotated customer managed key and TLS-only', () => {
    const keyId = s.logicalId(s.stack.alerts.key);
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    s.template.hasOutput('AlertTopicArn', { Value: { Ref: s.logicalId(s.stack.alerts.topic) } });
  });

  test('CloudWatch alarms may use the key (otherwise their notifications to an encrypted topic are dropped)', () => {
    s.template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          }),
        ]),
      },
    });
  });

  test('no e-mail subscription unless asked; one with context alertEmail', () => {
    s.template.resourceCountIs('AWS::SNS::Subscription', 0);
    const c = synth({ alertEmail: 'data-team@example.com' });
    c.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'data-team@example.com',
      TopicArn: { Ref: c.logicalId(c.stack.alerts.topic) },
    });
  });

  test('an invalid e-mail is refused', () => {
    expect(() => synth({ alertEmail: 'not-an-address' })).toThrow(/alertEmail/);
  });
});
