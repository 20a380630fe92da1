import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Schedule } from './schedule';
import { buildUnit, logicalId, stateMachineStandIn, testConfig, Unit } from './testing';

/** The schedule in a unit stack, and the stand-in state machine it starts. */
type ScheduleUnit = Unit<{ schedule: Schedule; stateMachine: sfn.StateMachine }>;

/** The schedule configured from `context`, in a unit stack with a stand-in state machine. */
function scheduleFor(context: Record<string, unknown>): ScheduleUnit {
  return buildUnit((stack) => {
    const config = testConfig(context);
    const stateMachine = stateMachineStandIn(stack);
    const schedule = new Schedule(stack, 'Schedule', {
      stateMachine,
      rateMinutes: config.scheduleRateMinutes,
      enabled: config.scheduleEnabled,
    });
    return { schedule, stateMachine };
  });
}

describe('Schedule', () => {
  let s: ScheduleUnit;
  beforeAll(() => {
    s = scheduleFor({});
  });

  test('EventBridge Scheduler starts the state machine every 15 minutes with {} and a retry policy and DLQ', () => {
    s.template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    // Not an EventBridge scheduled rule (on the app, the only events rule is the failure alert's: app.test.ts).
    s.template.resourceCountIs('AWS::Events::Rule', 0);
    s.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(15 minutes)',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { Ref: logicalId(s.stateMachine) },
        Input: '{}',
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(s.schedule.deadLetterQueue), 'Arn'] } },
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
      { Effect: 'Allow', Action: 'states:StartExecution', Resource: { Ref: logicalId(s.stateMachine) } },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [logicalId(s.schedule.deadLetterQueue), 'Arn'] } },
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
            Resource: { 'Fn::GetAtt': [logicalId(s.schedule.deadLetterQueue), 'Arn'] },
          },
        ],
      },
    });
  });

  test('context sets the rate and can disable the schedule', () => {
    const c = scheduleFor({ scheduleRateMinutes: '5', scheduleEnabled: 'false' });
    c.template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(5 minutes)', State: 'DISABLED' });
  });
});
