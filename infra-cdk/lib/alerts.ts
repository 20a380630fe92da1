import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** Properties of {@link Alerts}. */
export interface AlertsProps {
  /** An address to e-mail every alert to (it must confirm the subscription). */
  readonly email?: string;
}

/**
 * Where the pipeline tells a person that something is wrong: one SNS topic (construct id
 * `AlertTopic`, ASL placeholder `${Topic:alerts}`) that receives the state machine's failure alert
 * and every CloudWatch alarm, encrypted with a customer managed key (rotated yearly) so CloudWatch
 * can be allowed to use it (the AWS managed SNS key cannot be shared with CloudWatch alarms).
 */
export class Alerts extends Construct {
  /** The alert topic. */
  public readonly topic: sns.Topic;
  /** The key that encrypts the topic. */
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: AlertsProps = {}) {
    super(scope, id);

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
  }

  /**
   * Lets `grantee` encrypt messages for the topic: the two KMS actions SNS needs on its key, named
   * exactly (CDK's `topic.grantPublish` would add `kms:GenerateDataKey*`). The state machine's
   * SnsPublish task grants `sns:Publish` on the topic itself.
   */
  public grantEncrypt(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptAlerts',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [this.key.keyArn],
      }),
    );
  }
}
