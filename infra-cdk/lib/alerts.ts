import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** The execution statuses that raise an alert: every way a Standard execution can end unsuccessfully. */
export const ALERT_STATUSES = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;

/** Properties of {@link Alerts}. */
export interface AlertsProps {
  /** The state machine whose unsuccessful executions (and redrive attempts) raise an alert. */
  readonly stateMachine: sfn.IStateMachine;
  /** An address to e-mail every alert to (it must confirm the subscription). */
  readonly email?: string;
}

/**
 * Where the pipeline tells a person that something is wrong: one SNS topic (construct id
 * `AlertTopic`) that receives the failure alert of every unsuccessful execution and every
 * CloudWatch alarm, encrypted with a customer managed key (rotated yearly) so that the services that
 * publish to it can be allowed to use it (the AWS managed SNS key cannot be shared with them).
 *
 * The failure alert comes from an EventBridge rule, not from the state machine: the definition has
 * no Catch, so that a redrive re-runs the failed state (docs/redrive-and-alerts.md). The rule
 * matches the "Step Functions Execution Status Change" event of this state machine with status
 * FAILED, TIMED_OUT or ABORTED. Step Functions emits that event once each time an execution (or a
 * redrive of it) ends, so there is one alert per failed execution and per failed redrive attempt.
 * Its input transformer turns the event into the alert, a JSON object:
 *
 * | field           | from the event                                           |
 * |-----------------|----------------------------------------------------------|
 * | `execution`     | `detail.name`                                            |
 * | `status`        | `detail.status` (FAILED, TIMED_OUT or ABORTED)           |
 * | `error`         | `detail.error`                                           |
 * | `cause`         | `detail.cause`                                           |
 * | `console_url`   | built from `region` and `detail.executionArn`            |
 * | `execution_arn` | `detail.executionArn`                                    |
 * | `redrive_count` | `detail.redriveCount` (0 for the first run)              |
 *
 * The event does not name the failed state; the console URL leads to it.
 */
export class Alerts extends Construct {
  /** The alert topic. */
  public readonly topic: sns.Topic;
  /** The key that encrypts the topic. */
  public readonly key: kms.Key;
  /** The rule that turns an unsuccessful execution into an alert on {@link topic}. */
  public readonly executionAlertRule: events.Rule;

  constructor(scope: Construct, id: string, props: AlertsProps) {
    super(scope, id);
    const stack = Stack.of(this);

    this.key = new kms.Key(this, 'AlertKey', {
      description: 'tote: encrypts the alert topic',
      enableKeyRotation: true,
      rotationPeriod: Duration.days(365),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to an encrypted topic only if they may use its key.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublish',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );

    this.topic = new sns.Topic(this, 'AlertTopic', {
      displayName: 'tote pipeline alerts',
      masterKey: this.key,
      enforceSSL: true,
    });

    if (props.email) {
      this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    }

    // ---- the failure alert: EventBridge rule on the execution status --------------------------
    // The rule has a fixed name so that its ARN is known without a reference to the rule: the key
    // policy (inline in the key, which the topic and so the rule's target depend on) could not
    // reference the rule's Arn attribute without a dependency cycle.
    const ruleName = `${stack.stackName}-execution-alerts`.slice(0, 64);
    const ruleArn = stack.formatArn({ service: 'events', resource: 'rule', resourceName: ruleName });

    this.executionAlertRule = new events.Rule(this, 'ExecutionAlertRule', {
      ruleName,
      description: 'tote: one alert per failed, timed-out or aborted pipeline execution (and per failed redrive)',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [props.stateMachine.stateMachineArn],
          status: [...ALERT_STATUSES],
        },
      },
    });

    const executionArn = events.EventField.fromPath('$.detail.executionArn');
    const region = events.EventField.region;
    const message = events.RuleTargetInput.fromObject({
      execution: events.EventField.fromPath('$.detail.name'),
      status: events.EventField.fromPath('$.detail.status'),
      error: events.EventField.fromPath('$.detail.error'),
      cause: events.EventField.fromPath('$.detail.cause'),
      console_url: `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`,
      execution_arn: executionArn,
      redrive_count: events.EventField.fromPath('$.detail.redriveCount'),
    });

    // The topic as target, without aws-events-targets' SnsTopic: its bind() grants sns:Publish to
    // events.amazonaws.com on the topic, and kms:Decrypt + kms:GenerateDataKey* on the key, with no
    // condition, i.e. to every rule of every account. The two statements below grant the same
    // service only what it needs, and only for this rule. (EventBridge authorises SNS targets by the
    // topic's resource policy; its guide advises against a target role for SNS, above all for a
    // KMS-encrypted topic.)
    const topic = this.topic;
    this.executionAlertRule.addTarget({
      bind: (): events.RuleTargetConfig => ({ arn: topic.topicArn, input: message, targetResource: topic }),
    });

    const eventBridge = new iam.ServicePrincipal('events.amazonaws.com');
    const fromThisRule = { ArnEquals: { 'aws:SourceArn': ruleArn } };
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowExecutionAlertRuleToPublish',
        principals: [eventBridge],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: fromThisRule,
      }),
    );
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowExecutionAlertRuleToPublish',
        principals: [eventBridge],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: fromThisRule,
      }),
    );
  }
}
