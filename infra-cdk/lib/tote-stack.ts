import { CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Alerts } from './alerts';
import { ToteConfig } from './config';
import { Monitoring } from './monitoring';
import { Pipeline } from './pipeline';
import { Schedule } from './schedule';
import { Secrets } from './secrets';
import { StageFunctions } from './stage-functions';
import { Stores } from './stores';

/** Properties of {@link ToteStack}. */
export interface ToteStackProps extends StackProps {
  /** The parsed configuration (CDK context, see docs/deploy.md). */
  readonly config: ToteConfig;
}

/**
 * The whole tote deployment: stores, secrets, the three stage Lambdas, the state machine, its
 * schedule, alerts, alarms and dashboard. One construct per concern; this class only wires them.
 */
export class ToteStack extends Stack {
  /** Landing and processed buckets (and their access-log bucket). */
  public readonly stores: Stores;
  /** Source and warehouse credentials. */
  public readonly secrets: Secrets;
  /** The ingest, transform and load Lambdas. */
  public readonly stageFunctions: StageFunctions;
  /** The alert topic, its key and the rule that alerts on unsuccessful executions. */
  public readonly alerts: Alerts;
  /** The state machine. */
  public readonly pipeline: Pipeline;
  /** The EventBridge Scheduler schedule that starts it. */
  public readonly schedule: Schedule;
  /** Alarms and dashboard. */
  public readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: ToteStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.stores = new Stores(this, 'Stores');
    this.secrets = new Secrets(this, 'Secrets', { source: config.sourceSecret, warehouse: config.warehouseSecret });
    this.stageFunctions = new StageFunctions(this, 'StageFunctions', {
      landing: this.stores.landing,
      processed: this.stores.processed,
      sourceSecret: this.secrets.source,
      warehouseSecret: this.secrets.warehouse,
      architecture: config.architecture,
      sizing: config.sizing,
      logRetentionDays: config.logRetentionDays,
      logLevel: config.logLevel,
      vpc: config.vpc,
      chunkRows: config.chunkRows,
    });
    this.pipeline = new Pipeline(this, 'Pipeline', {
      ingestFunction: this.stageFunctions.ingest,
      transformFunction: this.stageFunctions.transform,
      loadFunction: this.stageFunctions.load,
      ingestConcurrency: config.ingestConcurrency,
      loadConcurrency: config.loadConcurrency,
      chunkConcurrency: config.chunkConcurrency,
      executionTimeout: Duration.minutes(config.executionTimeoutMinutes),
      logRetentionDays: config.logRetentionDays,
    });
    // The failure alert is an EventBridge rule on the execution status, not a state (docs/redrive-and-alerts.md).
    this.alerts = new Alerts(this, 'Alerts', { stateMachine: this.pipeline.stateMachine, email: config.alertEmail });
    this.schedule = new Schedule(this, 'Schedule', {
      stateMachine: this.pipeline.stateMachine,
      rateMinutes: config.scheduleRateMinutes,
      enabled: config.scheduleEnabled,
    });
    this.monitoring = new Monitoring(this, 'Monitoring', {
      stateMachine: this.pipeline.stateMachine,
      functions: this.stageFunctions.all,
      alertTopic: this.alerts.topic,
      scheduleDeadLetterQueue: this.schedule.deadLetterQueue,
      scheduleRateMinutes: config.scheduleRateMinutes,
      freshnessSlaMinutes: config.freshnessSlaMinutes,
    });

    new CfnOutput(this, 'StateMachineArn', {
      description: 'Start, watch and redrive executions of this state machine',
      value: this.pipeline.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'LandingBucketName', { description: 'TOTE_LANDING bucket', value: this.stores.landing.bucketName });
    new CfnOutput(this, 'ProcessedBucketName', { description: 'TOTE_PROCESSED bucket', value: this.stores.processed.bucketName });
    new CfnOutput(this, 'AlertTopicArn', { description: 'Failure alerts and alarms', value: this.alerts.topic.topicArn });
    new CfnOutput(this, 'SourceSecretArn', { description: 'Set the ToteSys credentials here', value: this.secrets.source.secretArn });
    new CfnOutput(this, 'WarehouseSecretArn', { description: 'Set the warehouse credentials here', value: this.secrets.warehouse.secretArn });
    new CfnOutput(this, 'DashboardName', { description: 'CloudWatch dashboard', value: this.monitoring.dashboard.dashboardName });
  }
}
