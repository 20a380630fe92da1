import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Stage } from './config';

/** Custom metric namespace the stages write with CloudWatch embedded metric format (EMF). */
export const METRIC_NAMESPACE = 'Tote';
/** Rows written per table and run (EMF metric in {@link METRIC_NAMESPACE}, dimension {@link METRIC_TABLE_DIMENSION}). */
export const ROWS_METRIC = 'Rows';
/** The dimension of {@link ROWS_METRIC}: the source table or star-schema model name. */
export const METRIC_TABLE_DIMENSION = 'Table';

/** Properties of {@link Monitoring}. */
export interface MonitoringProps {
  /** The pipeline state machine. */
  readonly stateMachine: sfn.StateMachine;
  /** The stage functions, by stage. */
  readonly functions: Record<Stage, lambda.IFunction>;
  /** Where alarms notify (the same topic as the failure alert of lib/alerts.ts). */
  readonly alertTopic: sns.ITopic;
  /** The schedule's dead-letter queue: any message in it is a run that never started. */
  readonly scheduleDeadLetterQueue: sqs.IQueue;
  /** Minutes between scheduled runs; sets the dashboard's rows-per-run period. */
  readonly scheduleRateMinutes: number;
}

/**
 * Alarms (to the alert topic) and the operations dashboard.
 *
 * Alarms: failed executions, timed-out executions, errors of each stage Lambda (an error the state
 * machine retried away still means a database or the service was unhealthy) and undeliverable
 * scheduled starts. Missing data is "not breaching": no executions is not a failure.
 *
 * Dashboard: executions by outcome, execution time, duration per stage, rows per table (the stages'
 * EMF metric `Tote/Rows` by `Table`, found with a metric SEARCH so new tables appear by themselves)
 * and failures (failed/timed-out executions, stage errors, throttles).
 */
export class Monitoring extends Construct {
  /** Alarm: at least one execution failed. */
  public readonly executionsFailed: cloudwatch.Alarm;
  /** Alarm: at least one execution timed out. */
  public readonly executionsTimedOut: cloudwatch.Alarm;
  /** Alarm per stage function: at least one invocation error. */
  public readonly functionErrors: Record<Stage, cloudwatch.Alarm>;
  /** Alarm: a scheduled start landed in the dead-letter queue. */
  public readonly scheduleUndelivered: cloudwatch.Alarm;
  /** The operations dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const notify = new actions.SnsAction(props.alertTopic);
    const period = Duration.minutes(5);
    const { stateMachine, functions } = props;

    const atLeastOne = (alarmId: string, metric: cloudwatch.IMetric, description: string): cloudwatch.Alarm => {
      const alarm = new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      alarm.addAlarmAction(notify);
      return alarm;
    };

    this.executionsFailed = atLeastOne(
      'ExecutionsFailedAlarm',
      stateMachine.metricFailed({ period, statistic: 'Sum' }),
      'A tote pipeline execution failed. The alert e-mail has its error, cause and console link; fix, then redrive (docs/deploy.md).',
    );
    this.executionsTimedOut = atLeastOne(
      'ExecutionsTimedOutAlarm',
      stateMachine.metricTimedOut({ period, statistic: 'Sum' }),
      'A tote pipeline execution timed out (executionTimeoutMinutes). Look for a stuck stage in the execution history.',
    );
    this.functionErrors = {} as Record<Stage, cloudwatch.Alarm>;
    for (const [stage, fn] of Object.entries(functions) as [Stage, lambda.IFunction][]) {
      const name = stage.charAt(0).toUpperCase() + stage.slice(1);
      this.functionErrors[stage] = atLeastOne(
        `${name}ErrorsAlarm`,
        fn.metricErrors({ period, statistic: 'Sum' }),
        `The tote ${stage} Lambda returned errors (retried or not). Its log group has the JSON error records.`,
      );
    }
    this.scheduleUndelivered = atLeastOne(
      'ScheduleUndeliveredAlarm',
      props.scheduleDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
      'EventBridge Scheduler could not start the tote pipeline; the undelivered start is in the schedule dead-letter queue.',
    );

    const stages = Object.entries(functions) as [Stage, lambda.IFunction][];
    const rowsPeriod = Duration.minutes(props.scheduleRateMinutes);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.days(1),
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Executions',
            width: 12,
            left: [
              stateMachine.metricStarted({ period, statistic: 'Sum', label: 'started' }),
              stateMachine.metricSucceeded({ period, statistic: 'Sum', label: 'succeeded' }),
              stateMachine.metricFailed({ period, statistic: 'Sum', label: 'failed' }),
              stateMachine.metricTimedOut({ period, statistic: 'Sum', label: 'timed out' }),
              stateMachine.metricAborted({ period, statistic: 'Sum', label: 'aborted' }),
            ],
          }),
          new cloudwatch.GraphWidget({
            title: 'Execution time',
            width: 12,
            left: [
              stateMachine.metricTime({ period, statistic: 'Average', label: 'average' }),
              stateMachine.metricTime({ period, statistic: 'Maximum', label: 'maximum' }),
            ],
            leftYAxis: { label: 'ms', showUnits: false },
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Duration per stage (p90)',
            width: 12,
            left: stages.map(([stage, fn]) => fn.metricDuration({ period, statistic: 'p90', label: stage })),
            leftYAxis: { label: 'ms', showUnits: false },
          }),
          new cloudwatch.GraphWidget({
            title: 'Rows per table',
            width: 12,
            stacked: true,
            left: [
              new cloudwatch.MathExpression({
                expression: `SEARCH('{${METRIC_NAMESPACE},${METRIC_TABLE_DIMENSION}} MetricName="${ROWS_METRIC}"', 'Sum', ${rowsPeriod.toSeconds()})`,
                label: '',
                period: rowsPeriod,
              }),
            ],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Failures',
            width: 12,
            left: [
              stateMachine.metricFailed({ period, statistic: 'Sum', label: 'executions failed' }),
              stateMachine.metricTimedOut({ period, statistic: 'Sum', label: 'executions timed out' }),
              ...stages.map(([stage, fn]) => fn.metricErrors({ period, statistic: 'Sum', label: `${stage} errors` })),
              ...stages.map(([stage, fn]) => fn.metricThrottles({ period, statistic: 'Sum', label: `${stage} throttles` })),
            ],
          }),
          new cloudwatch.AlarmStatusWidget({
            title: 'Alarms',
            width: 12,
            alarms: [this.executionsFailed, this.executionsTimedOut, ...Object.values(this.functionErrors), this.scheduleUndelivered],
          }),
        ],
      ],
    });
  }
}
