import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Stage, STAGES } from './config';
import { METRICS, Monitoring } from './monitoring';
import { buildUnit, logicalId, stageFunctionStandIns, stateMachineStandIn, testConfig, Unit } from './testing';

/** What the alarms watch and notify: stand-ins for the state machine, functions, alert topic and DLQ. */
interface Watched {
  readonly stateMachine: sfn.StateMachine;
  readonly functions: Record<Stage, lambda.Function>;
  readonly topic: sns.Topic;
  readonly deadLetterQueue: sqs.Queue;
}

/** The monitoring in a unit stack, and the stand-ins it watches. */
type MonitoringUnit = Unit<Watched & { monitoring: Monitoring }>;

/** The monitoring configured from `context`, in a unit stack with stand-ins for what it watches. */
function monitoringFor(context: Record<string, unknown>): MonitoringUnit {
  return buildUnit((stack) => {
    const config = testConfig(context);
    const watched: Watched = {
      stateMachine: stateMachineStandIn(stack),
      functions: stageFunctionStandIns(stack),
      topic: new sns.Topic(stack, 'AlertTopic'),
      deadLetterQueue: new sqs.Queue(stack, 'DeadLetterQueue'),
    };
    const monitoring = new Monitoring(stack, 'Monitoring', {
      stateMachine: watched.stateMachine,
      functions: watched.functions,
      alertTopic: watched.topic,
      scheduleDeadLetterQueue: watched.deadLetterQueue,
      scheduleRateMinutes: config.scheduleRateMinutes,
      freshnessSlaMinutes: config.freshnessSlaMinutes,
    });
    return { ...watched, monitoring };
  });
}

describe('Monitoring', () => {
  let s: MonitoringUnit;
  beforeAll(() => {
    s = monitoringFor({});
  });

  const alarmActions = () => [{ Ref: logicalId(s.topic) }];

  test.each([
    ['ExecutionsFailed'],
    ['ExecutionsTimedOut'],
  ])('alarm on %s of the state machine notifies the alert topic', (metric) => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: metric,
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: logicalId(s.stateMachine) } }],
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
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(s.functions[stage]) } }],
      AlarmActions: alarmActions(),
    });
  });

  test('alarm on undelivered scheduled starts', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      AlarmActions: alarmActions(),
    });
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 8);
  });

  test('freshness alarm: the pipeline freshness above the 30-minute promise, and missing data breaches', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Tote',
      MetricName: 'PipelineFreshness',
      Statistic: 'Maximum',
      Period: 1800,
      EvaluationPeriods: 1,
      Threshold: 1800,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: alarmActions(),
    });
  });

  test('no-success alarm: fewer than one succeeded execution in 30 minutes, and missing data breaches', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsSucceeded',
      Statistic: 'Sum',
      Period: 1800,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      AlarmActions: alarmActions(),
    });
  });

  test('freshnessSlaMinutes sets both freshness alarms, and must exceed the schedule interval', () => {
    const custom = monitoringFor({ freshnessSlaMinutes: '20', scheduleRateMinutes: '5' });
    custom.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'PipelineFreshness', Threshold: 1200, Period: 1200 });
    custom.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ExecutionsSucceeded', Period: 1200 });
    expect(() => testConfig({ freshnessSlaMinutes: '15' })).toThrow(/freshnessSlaMinutes.*more minutes than scheduleRateMinutes \(15\)/);
  });

  test('metric contract: the dashboard and alarms name exactly the metrics the stages emit (tasks/core/metrics.json)', () => {
    const dashboard = Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'))[0];
    // The body is JSON inside a JSON string inside the template: drop the escapes to read it.
    const body = JSON.stringify(dashboard.Properties.DashboardBody).replace(/\\/g, '');
    const referenced = new Set<string>();
    for (const m of body.matchAll(/SEARCH\('\{Tote[A-Za-z,]*\} MetricName="([A-Za-z]+)"/g)) referenced.add(m[1]);
    for (const m of body.matchAll(/\["Tote","([A-Za-z]+)"/g)) referenced.add(m[1]);
    for (const alarm of Object.values(s.template.findResources('AWS::CloudWatch::Alarm'))) {
      if (alarm.Properties.Namespace === METRICS.namespace) referenced.add(alarm.Properties.MetricName);
    }
    const declared = new Set(METRICS.metrics.map((m) => m.name));
    expect([...referenced].sort()).toEqual([...declared].sort());
    // Each SEARCH names the declared dimensions of its metric.
    for (const spec of METRICS.metrics.filter((m) => m.dimensions.length > 0)) {
      const schema = [METRICS.namespace, ...spec.dimensions].join(',');
      expect(body).toContain(`SEARCH('{${schema}} MetricName="${spec.name}"'`);
    }
  });

  test('dashboard: executions, durations, freshness, rows per table and stage, failures, alarms', () => {
    const dashboard = Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'))[0];
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const title of [
      'Executions',
      'Execution time',
      'Duration per stage (p90)',
      'Freshness per table',
      'Pipeline freshness against the promise',
      'Rows per table and stage',
      'Bytes written, batches and deletions per table and stage',
      'Stage time per table (p90)',
      'Failures',
      'Alarms',
    ]) {
      expect(body).toContain(`\\"title\\":\\"${title}\\"`);
    }
    expect(body).toContain(`SEARCH('{Tote,Stage,Table} MetricName=\\\\\\"Rows\\\\\\"', 'Sum', 900)`);
    expect(body).toContain(`SEARCH('{Tote,Table} MetricName=\\\\\\"Freshness\\\\\\"', 'Maximum', 300)`);
  });
});
