import { readFileSync } from 'fs';
import * as path from 'path';
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { Stage } from './config';

/** One metric the stages emit, as tasks/core/metrics.json declares it. */
export interface MetricSpec {
  readonly name: string;
  readonly unit: string;
  readonly dimensions: string[];
  readonly stages: string[];
  readonly description: string;
}

/** The metric contract shared with the Rust stages (tasks/core/metrics.json, read by tote_core::metrics). */
export interface MetricContract {
  readonly namespace: string;
  readonly metrics: MetricSpec[];
}

/** Where the contract lives, relative to this file. */
export const METRIC_CONTRACT_FILE = path.join(__dirname, '..', '..', 'tasks', 'core', 'metrics.json');

/** The metric contract: one definition of every metric name, unit and dimension. */
export const METRICS: MetricContract = JSON.parse(readFileSync(METRIC_CONTRACT_FILE, 'utf8'));

/** The declared metric `name`; synth fails on a name the stages do not emit. */
export function metricSpec(name: string): MetricSpec {
  const spec = METRICS.metrics.find((m) => m.name === name);
  if (!spec) throw new Error(`metric ${name} is not declared in ${METRIC_CONTRACT_FILE}`);
  return spec;
}

/** A SEARCH over every dimension value of a declared metric (new tables appear by themselves). */
function search(name: string, statistic: string, period: Duration): cloudwatch.MathExpression {
  const spec = metricSpec(name);
  const schema = [METRICS.namespace, ...spec.dimensions].join(',');
  return new cloudwatch.MathExpression({
    expression: `SEARCH('{${schema}} MetricName="${spec.name}"', '${statistic}', ${period.toSeconds()})`,
    label: '',
    period,
  });
}

/** Properties of {@link Monitoring}. */
export interface MonitoringProps {
  /** The pipeline state machine. */
  readonly stateMachine: sfn.IStateMachine;
  /** The stage functions, by stage. */
  readonly functions: Record<Stage, lambda.IFunction>;
  /** Where alarms notify (the same topic as the failure alert of lib/alerts.ts). */
  readonly alertTopic: sns.ITopic;
  /** The schedule's dead-letter queue: any message in it is a run that never started. */
  readonly scheduleDeadLetterQueue: sqs.IQueue;
  /** Minutes between scheduled runs; sets the dashboard's rows-per-run period. */
  readonly scheduleRateMinutes: number;
  /** The freshness promise in minutes (context `freshnessSlaMinutes`). */
  readonly freshnessSlaMinutes: number;
}

/**
 * Alarms (to the alert topic) and the operations dashboard.
 *
 * Alarms: failed executions, timed-out executions, errors of each stage Lambda (an error the state
 * machine retried away still means a database or the service was unhealthy) and undeliverable
 * scheduled starts, where missing data is "not breaching" (no executions is not a failure); and the
 * freshness promise, where missing data **breaches**, because a pipeline that stopped is exactly
 * what they are for: the pipeline's freshness (`Tote/PipelineFreshness`, measured after each load)
 * above `freshnessSlaMinutes`, and no execution succeeded within `freshnessSlaMinutes`.
 *
 * Dashboard: executions by outcome, execution time, duration per stage, freshness per table and of
 * the pipeline against the promise, rows per table and stage (the stages' EMF metrics, found with a
 * metric SEARCH so new tables appear by themselves), and failures.
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
  /** Alarm: a source change older than the promise is not in the warehouse (or nothing measured it). */
  public readonly freshnessBreached: cloudwatch.Alarm;
  /** Alarm: no execution succeeded within the promise (or none ran). */
  public readonly noSuccessfulExecution: cloudwatch.Alarm;
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

    const sla = Duration.minutes(props.freshnessSlaMinutes);
    // Both freshness alarms look at one period as long as the promise: a healthy pipeline measures
    // freshness at least once in it (the promise is longer than the schedule's interval, which the
    // configuration checks), so an empty period means the pipeline stopped, and breaches.
    const freshness = new cloudwatch.Metric({
      namespace: METRICS.namespace,
      metricName: metricSpec('PipelineFreshness').name,
      statistic: 'Maximum',
      period: sla,
    });
    this.freshnessBreached = new cloudwatch.Alarm(this, 'FreshnessAlarm', {
      metric: freshness,
      threshold: sla.toSeconds(),
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription: `A ToteSys change older than ${props.freshnessSlaMinutes} minutes is not in the warehouse, or no load has measured freshness lately. Run \`tote status\` for the table and the batches waiting.`,
    });
    this.freshnessBreached.addAlarmAction(notify);
    this.noSuccessfulExecution = new cloudwatch.Alarm(this, 'NoSuccessfulExecutionAlarm', {
      metric: stateMachine.metricSucceeded({ period: sla, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription: `No tote execution has succeeded for ${props.freshnessSlaMinutes} minutes: the schedule may be disabled, or every run fails or hangs.`,
    });
    this.noSuccessfulExecution.addAlarmAction(notify);

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
            title: 'Freshness per table',
            width: 12,
            left: [search('Freshness', 'Maximum', period)],
            leftYAxis: { label: 's', showUnits: false },
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Pipeline freshness against the promise',
            width: 12,
            left: [freshness.with({ label: 'pipeline freshness' })],
            leftAnnotations: [{ value: sla.toSeconds(), label: `${props.freshnessSlaMinutes} min promise`, color: '#d62728' }],
            leftYAxis: { label: 's', showUnits: false },
          }),
          new cloudwatch.GraphWidget({
            title: 'Rows per table and stage',
            width: 12,
            stacked: true,
            left: [search('Rows', 'Sum', rowsPeriod)],
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Bytes written, batches and deletions per table and stage',
            width: 12,
            left: [search('Bytes', 'Sum', rowsPeriod)],
            right: [search('Batches', 'Sum', rowsPeriod), search('Deletions', 'Sum', rowsPeriod)],
          }),
          new cloudwatch.GraphWidget({
            title: 'Stage time per table (p90)',
            width: 12,
            left: [search('Duration', 'p90', period)],
            leftYAxis: { label: 'ms', showUnits: false },
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
            alarms: [
              this.freshnessBreached,
              this.noSuccessfulExecution,
              this.executionsFailed,
              this.executionsTimedOut,
              ...Object.values(this.functionErrors),
              this.scheduleUndelivered,
            ],
          }),
        ],
      ],
    });
  }
}
