import { Match } from 'aws-cdk-lib/assertions';
import { definitionText, functionPlaceholder } from './asl';
import { STAGES } from './config';
import { actionsOf, statementsOfRole, synth, Synthesized, WithLogicalId } from './testing';

// The whole app, as bin/tote.ts builds it: cdk-nag over every construct, and the wiring between
// them (each construct's own behaviour is tested in its own file, in a stack of its own). The app
// stages the three Lambda images, so it is synthesized twice in all, here: with the defaults, and
// with NON_DEFAULT_CONTEXT.

const IMPORTED_ARN = 'arn:aws:secretsmanager:eu-west-2:111122223333:secret:tote/warehouse-AbC123';

/**
 * Context (docs/deploy.md) with imported secrets, VPC placement, an alert e-mail, another stack
 * name, and a non-default value for each setting the stack hands on to a construct.
 */
const NON_DEFAULT_CONTEXT = {
  stackName: 'ToteStaging',
  sourceSecret: 'tote/source',
  warehouseSecret: IMPORTED_ARN,
  vpcId: 'vpc-0a1b2c3d4e5f60718',
  subnetIds: 'subnet-0aaaaaaaaaaaaaaa1',
  securityGroupId: 'sg-0c0c0c0c0c0c0c0c0',
  alertEmail: 'ops@example.com',
  architecture: 'x86_64',
  memoryMb: '512',
  logLevel: 'debug',
  logRetentionDays: '90',
  ingestConcurrency: '8',
  executionTimeoutMinutes: '30',
  scheduleRateMinutes: '5',
  scheduleEnabled: 'false',
  freshnessSlaMinutes: '20',
};

/**
 * The app for `context`, synthesized with cdk-nag, and what cdk-nag threw if it found anything
 * (the app is then synthesized again without it, so that the wiring tests still run).
 */
function synthWithNag(context: Record<string, unknown>): { app: Synthesized; nagFailure?: unknown } {
  try {
    return { app: synth(context, true) };
  } catch (nagFailure) {
    return { app: synth(context), nagFailure };
  }
}

/** The state machine definition of a synthesized app, parsed. */
function definitionOf(s: Synthesized) {
  const { stack } = s;
  return JSON.parse(
    definitionText({ stateMachine: stack.pipeline.stateMachine, functions: stack.stageFunctions.all }, s.template.toJSON()),
  );
}

describe('the app', () => {
  let defaults: { app: Synthesized; nagFailure?: unknown };
  let custom: { app: Synthesized; nagFailure?: unknown };
  beforeAll(() => {
    defaults = synthWithNag({});
    custom = synthWithNag(NON_DEFAULT_CONTEXT);
  });

  test('cdk-nag AwsSolutionsChecks: no unacknowledged finding (synth throws on any)', () => {
    expect(defaults.nagFailure).toBeUndefined();
  });

  test('cdk-nag also passes with imported secrets, VPC placement, an alert e-mail and the other settings changed', () => {
    expect(custom.nagFailure).toBeUndefined();
  });

  describe('wiring, with the defaults', () => {
    let s: Synthesized;
    beforeAll(() => {
      s = defaults.app;
    });

    test('outputs name both stores', () => {
      s.template.hasOutput('LandingBucketName', { Value: { Ref: s.logicalId(s.stack.stores.landing) } });
      s.template.hasOutput('ProcessedBucketName', { Value: { Ref: s.logicalId(s.stack.stores.processed) } });
    });

    test('outputs name the state machine, the alert topic, both secrets and the dashboard', () => {
      s.template.hasOutput('StateMachineArn', { Value: { Ref: s.logicalId(s.stack.pipeline.stateMachine) } });
      s.template.hasOutput('AlertTopicArn', { Value: { Ref: s.logicalId(s.stack.alerts.topic) } });
      s.template.hasOutput('SourceSecretArn', { Value: { Ref: s.logicalId(s.stack.secrets.source) } });
      s.template.hasOutput('WarehouseSecretArn', { Value: { Ref: s.logicalId(s.stack.secrets.warehouse) } });
      s.template.hasOutput('DashboardName', { Value: { Ref: s.logicalId(s.stack.monitoring.dashboard) } });
    });

    test("the stage functions are given the stack's stores and secrets", () => {
      const variables = (fn: WithLogicalId) => s.template.toJSON().Resources[s.logicalId(fn)].Properties.Environment.Variables;
      const url = (bucket: WithLogicalId, prefix: string) => ({
        'Fn::Join': ['', ['s3://', { Ref: s.logicalId(bucket) }, `/${prefix}`]],
      });
      const { stores, secrets, stageFunctions } = s.stack;
      expect(variables(stageFunctions.ingest)).toMatchObject({
        TOTE_LANDING: url(stores.landing, 'landing'),
        TOTE_SOURCE_SECRET_ARN: { Ref: s.logicalId(secrets.source) },
      });
      expect(variables(stageFunctions.transform)).toMatchObject({
        TOTE_LANDING: url(stores.landing, 'landing'),
        TOTE_PROCESSED: url(stores.processed, 'processed'),
      });
      expect(variables(stageFunctions.load)).toMatchObject({
        TOTE_PROCESSED: url(stores.processed, 'processed'),
        TOTE_WAREHOUSE_SECRET_ARN: { Ref: s.logicalId(secrets.warehouse) },
        TOTE_LANDING: url(stores.landing, 'landing'),
        TOTE_SOURCE_SECRET_ARN: { Ref: s.logicalId(secrets.source) },
      });
    });

    test("the state machine invokes the stack's three stage functions", () => {
      // definitionText throws on any reference it has no placeholder for, i.e. on any other function.
      const states = definitionOf(s).States;
      expect(states.Plan.Parameters.FunctionName).toBe(functionPlaceholder('ingest'));
      expect(states.IngestTables.ItemProcessor.States.IngestTable.Parameters.FunctionName).toBe(functionPlaceholder('ingest'));
      expect(states.Transform.Parameters.FunctionName).toBe(functionPlaceholder('transform'));
      expect(states.LoadDimensions.Parameters.FunctionName).toBe(functionPlaceholder('load'));
      expect(states.LoadFacts.ItemProcessor.States.LoadFact.Parameters.FunctionName).toBe(functionPlaceholder('load'));
      expect(states.MeasureFreshness.Parameters.FunctionName).toBe(functionPlaceholder('load'));
      const invoke = statementsOfRole(s.template, s.logicalId(s.stack.pipeline.stateMachine.role)).find((st) =>
        actionsOf(st).includes('lambda:InvokeFunction'),
      )!;
      for (const stage of STAGES) expect(JSON.stringify(invoke.Resource)).toContain(s.logicalId(s.stack.stageFunctions[stage]));
    });

    test("the state machine's role names neither the alert topic nor its key", () => {
      const statements = statementsOfRole(s.template, s.logicalId(s.stack.pipeline.stateMachine.role));
      expect(statements.length).toBeGreaterThan(0);
      expect(JSON.stringify(statements)).not.toContain(s.logicalId(s.stack.alerts.topic));
      expect(JSON.stringify(statements)).not.toContain(s.logicalId(s.stack.alerts.key));
    });

    test("the schedule starts, and the failure alert watches, the stack's state machine; the alert's is the only events rule", () => {
      const stateMachine = { Ref: s.logicalId(s.stack.pipeline.stateMachine) };
      s.template.hasResourceProperties('AWS::Scheduler::Schedule', { Target: Match.objectLike({ Arn: stateMachine }) });
      const rules = s.template.findResources('AWS::Events::Rule');
      expect(Object.keys(rules)).toEqual([s.logicalId(s.stack.alerts.executionAlertRule)]);
      expect(Object.values(rules)[0].Properties.EventPattern.detail.stateMachineArn).toEqual([stateMachine]);
      expect(Object.values(rules)[0].Properties.Targets).toEqual([
        expect.objectContaining({ Arn: { Ref: s.logicalId(s.stack.alerts.topic) } }),
      ]);
    });

    test("the alarms watch the stack's state machine, stage functions and schedule DLQ, and notify its alert topic", () => {
      const alarms = Object.values(s.template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
      expect(alarms).toHaveLength(8);
      for (const alarm of alarms) expect(alarm.AlarmActions).toEqual([{ Ref: s.logicalId(s.stack.alerts.topic) }]);
      const dimensions = alarms.flatMap((a) => a.Dimensions ?? []);
      expect(dimensions).toContainEqual({ Name: 'StateMachineArn', Value: { Ref: s.logicalId(s.stack.pipeline.stateMachine) } });
      for (const stage of STAGES) {
        expect(dimensions).toContainEqual({ Name: 'FunctionName', Value: { Ref: s.logicalId(s.stack.stageFunctions[stage]) } });
      }
      expect(dimensions).toContainEqual({
        Name: 'QueueName',
        Value: { 'Fn::GetAtt': [s.logicalId(s.stack.schedule.deadLetterQueue), 'QueueName'] },
      });
    });
  });

  describe('wiring, with NON_DEFAULT_CONTEXT', () => {
    let c: Synthesized;
    beforeAll(() => {
      c = custom.app;
    });

    test('imported secrets: nothing created, the stages get the imported name and ARN, and IAM on exactly those', () => {
      c.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
      c.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: {
            // Imported by name: the stage passes the name as SecretId (a partial ARN is discouraged).
            TOTE_SOURCE_SECRET_ARN: 'tote/source',
          },
        },
      });
      c.template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: { TOTE_WAREHOUSE_SECRET_ARN: IMPORTED_ARN } },
      });
      // IAM on a secret imported by name matches the name plus Secrets Manager's random suffix only.
      const ingestRole = c.logicalId(c.stack.stageFunctions.ingest.role!);
      const secretStatements = statementsOfRole(c.template, ingestRole).filter((st) =>
        actionsOf(st).some((a) => a.startsWith('secretsmanager:')),
      );
      expect(secretStatements).toHaveLength(1);
      expect(JSON.stringify(secretStatements[0].Resource)).toContain(':secret:tote/source-??????');
      const loadRole = c.logicalId(c.stack.stageFunctions.load.role!);
      const loadSecret = statementsOfRole(c.template, loadRole).filter((st) => actionsOf(st).some((a) => a.startsWith('secretsmanager:')));
      // The load reads both: the warehouse it loads, and the source for freshness.
      expect(loadSecret).toHaveLength(1);
      expect(JSON.stringify(loadSecret[0].Resource)).toContain(IMPORTED_ARN);
      expect(JSON.stringify(loadSecret[0].Resource)).toContain(':secret:tote/source-??????');
    });

    test('context reaches every construct: stack name, functions, VPC, logs, state machine, schedule, alarms, e-mail', () => {
      expect(c.stack.stackName).toBe('ToteStaging');
      c.template.hasResourceProperties('AWS::Events::Rule', { Name: 'ToteStaging-execution-alerts' });
      c.template.allResourcesProperties('AWS::Lambda::Function', {
        Architectures: ['x86_64'],
        MemorySize: 512,
        LoggingConfig: Match.objectLike({ ApplicationLogLevel: 'DEBUG' }),
        VpcConfig: { SubnetIds: ['subnet-0aaaaaaaaaaaaaaa1'], SecurityGroupIds: ['sg-0c0c0c0c0c0c0c0c0'] },
      });
      c.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 90 });
      const definition = definitionOf(c);
      expect(definition.States.IngestTables.MaxConcurrency).toBe(8);
      expect(definition.TimeoutSeconds).toBe(1800);
      c.template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(5 minutes)', State: 'DISABLED' });
      c.template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'PipelineFreshness', Threshold: 1200 });
      c.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    });
  });
});
