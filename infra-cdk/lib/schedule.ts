import { Duration, Validations } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Properties of {@link Schedule}. */
export interface ScheduleProps {
  /** The pipeline state machine the schedule starts. */
  readonly stateMachine: sfn.IStateMachine;
  /** Minutes between runs. */
  readonly rateMinutes: number;
  /** Whether the schedule is enabled (disable it to run only from the console or `tote aws start`). */
  readonly enabled: boolean;
}

/**
 * Starts the pipeline every `rateMinutes` with the input `{}` (plan every table, incremental) on an
 * EventBridge Scheduler schedule. A start that EventBridge Scheduler cannot deliver (throttled,
 * state machine missing, permissions) is retried for up to an hour, then parked in an encrypted
 * SQS dead-letter queue (alarmed on by {@link Monitoring}) instead of being lost silently.
 *
 * Overlapping runs are harmless (every stage is idempotent and commits with create-if-absent), so
 * the schedule does not try to serialise executions.
 */
export class Schedule extends Construct {
  /** The schedule. */
  public readonly schedule: scheduler.Schedule;
  /** Start requests that could not be delivered after every retry. */
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: ScheduleProps) {
    super(scope, id);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue is the schedule target's dead-letter queue (EventBridge Scheduler DeadLetterConfig, which cdk-nag " +
        'does not recognise as a DLQ); a dead-letter queue of a dead-letter queue would have nothing to catch.',
    });

    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: `tote: start the pipeline every ${props.rateMinutes} minutes`,
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(props.rateMinutes)),
      enabled: props.enabled,
      target: new targets.StepFunctionsStartExecution(props.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject({}),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 10,
        maxEventAge: Duration.hours(1),
      }),
    });
  }
}
