import { STAGES } from './config';
import { synth, Synthesized } from './testing';

describe('Monitoring', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth();
  });

  const alarmActions = () => [{ Ref: s.logicalId(s.stack.alerts.topic) }];

  test.each([
    ['ExecutionsFailed'],
    ['ExecutionsTimedOut'],
  ])('alarm on %s of the state machine notifies the alert topic', (metric) => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: metric,
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: s.logicalId(s.stack.pipeline.stateMachine) } }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: alarmActions(),
    });
  });

  test.each(STAGES)('alarm on Errors of the %s function notifies the alert topic', (stage) => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: s.logicalId(s.stack.stageFunctions[stage]) } }],
      AlarmActions: alarmActions(),
    });
  });

  test('alarm on undelivered scheduled starts', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      AlarmActions: alarmActions(),
    });
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 6);
  });

  test('dashboard: executions, durations per stage, rows per table (Tote/Rows by Table), failures', () => {
    const dashboard = Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'))[0];
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const title of ['Executions', 'Execution time', 'Duration per stage (p90)', 'Rows per table', 'Failures', 'Alarms']) {
      expect(body).toContain(`\\"title\\":\\"${title}\\"`);
    }
    expect(body).toContain(`SEARCH('{Tote,Table} MetricName=\\\\\\"Rows\\\\\\"', 'Sum', 900)`);
    s.template.hasOutput('DashboardName', {});
  });
});
