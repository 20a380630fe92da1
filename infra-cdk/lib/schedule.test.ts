import { synth, Synthesized } from './testing';

describe('Schedule', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  test('EventBridge Scheduler starts the state machine every 15 minutes with {} and a retry policy and DLQ', () => {
    s.template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    // Not an EventBridge scheduled rule: the only events rule is the failure alert's (lib/alerts.ts).
    const rules = Object.values(s.template.findResources('AWS::Events::Rule'));
    expect(rules.map((r) => r.Properties.ScheduleExpression)).toEqual([undefined]);
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { Ref: s.logicalId(s.stack.pipeline.stateMachine) },
        Input: '{}',
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [s.logicalId(s.stack.schedule.deadLetterQueue), 'Arn'] } },
      },
    });
  });

  test('its role may only start this state machine and write to the DLQ', () => {
    const schedule = Object.values(s.template.findResources('AWS::Scheduler::Schedule'))[0];
    const roleId = schedule.Properties.Target.RoleArn['Fn::GetAtt'][0];
    const policy = Object.values(s.template.findResources('AWS::IAM::Policy')).find((p) =>
      p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId),
    )!;
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: s.logicalId(s.stack.pipeline.stateMachine) } },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [s.logicalId(s.stack.schedule.deadLetterQueue), 'Arn'] } },
    ]);
  });

  test('the DLQ is encrypted and TLS-only', () => {
    s.template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: [
          {
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Resource: { 'Fn::GetAtt': [s.logicalId(s.stack.schedule.deadLetterQueue), 'Arn'] },
          },
        ],
      },
    });
  });

  test('context sets the rate and can disable the schedule', () => {
    const c = synth({ scheduleRateMinutes: '5', scheduleEnabled: 'false' });
    c.template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(5 minutes)', State: 'DISABLED' });
  });
});
