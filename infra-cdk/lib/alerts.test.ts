import { Match } from 'aws-cdk-lib/assertions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Alerts, ALERT_STATUSES } from './alerts';
import { buildUnit, logicalId, stateMachineStandIn, TEST_ACCOUNT, TEST_REGION, testConfig, Unit } from './testing';

/** The alerts in a unit stack, and the stand-in state machine they watch. */
type AlertsUnit = Unit<{ alerts: Alerts; stateMachine: sfn.StateMachine }>;

/**
 * The alerts configured from `context`, for a stand-in state machine, in a unit stack named
 * `stackName` (the app's default stack name unless given).
 */
function alertsFor(context: Record<string, unknown>, stackName?: string): AlertsUnit {
  return buildUnit((stack) => {
    const stateMachine = stateMachineStandIn(stack);
    return { alerts: new Alerts(stack, 'Alerts', { stateMachine, email: testConfig(context).alertEmail }), stateMachine };
  }, stackName);
}

describe('Alerts', () => {
  let s: AlertsUnit;
  beforeAll(() => {
    s = alertsFor({});
  });

  test('the topic is encrypted with a rotated customer managed key and TLS-only', () => {
    const keyId = logicalId(s.alerts.key);
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  test('CloudWatch alarms may use the key (otherwise their notifications to an encrypted topic are dropped)', () => {
    s.template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          }),
        ]),
      },
    });
  });

  describe('the failure alert: an EventBridge rule on the execution status', () => {
    const ruleArn = `arn:aws:events:${TEST_REGION}:${TEST_ACCOUNT}:rule/Tote-execution-alerts`;
    let rule: Record<string, any>;
    let target: Record<string, any>;
    beforeAll(() => {
      const rules = s.template.findResources('AWS::Events::Rule');
      expect(Object.keys(rules)).toEqual([logicalId(s.alerts.executionAlertRule)]);
      rule = Object.values(rules)[0].Properties;
      expect(rule.Targets).toHaveLength(1);
      target = rule.Targets[0];
    });

    test('matches Step Functions Execution Status Change of this state machine with status FAILED, TIMED_OUT or ABORTED', () => {
      expect(ALERT_STATUSES).toEqual(['FAILED', 'TIMED_OUT', 'ABORTED']);
      expect(rule.EventPattern).toEqual({
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: {
          stateMachineArn: [{ Ref: logicalId(s.stateMachine) }],
          status: ['FAILED', 'TIMED_OUT', 'ABORTED'],
        },
      });
      expect(rule.State).toBe('ENABLED');
      expect(rule.ScheduleExpression).toBeUndefined();
      expect(rule.EventBusName).toBeUndefined(); // the default bus, where AWS service events arrive
      // The name the policies' aws:SourceArn conditions are built from.
      expect(rule.Name).toBe('Tote-execution-alerts');
    });

    test('targets the alert topic, with no role (SNS targets are authorised by the topic policy)', () => {
      expect(target.Arn).toEqual({ Ref: logicalId(s.alerts.topic) });
      expect(target.RoleArn).toBeUndefined();
      expect(target.Input).toBeUndefined();
      expect(target.InputPath).toBeUndefined();
    });

    test('the input transformer builds the alert: execution, status, error, cause, console URL, execution ARN, redrive count', () => {
      const { InputPathsMap: paths, InputTemplate: template } = target.InputTransformer;
      expect(paths).toEqual({
        'detail-name': '$.detail.name',
        'detail-status': '$.detail.status',
        'detail-error': '$.detail.error',
        'detail-cause': '$.detail.cause',
        region: '$.region',
        'detail-executionArn': '$.detail.executionArn',
        'detail-redriveCount': '$.detail.redriveCount',
      });
      // Render the template for a sample event as EventBridge does: a placeholder standing alone as a
      // JSON value takes the event's JSON value (string, null or number), one inside a string its text.
      const event = {
        region: 'eu-west-2',
        detail: {
          name: 'run-2026-12-01T10-00',
          status: 'FAILED',
          error: 'Tote.MissingDimension',
          cause: '{"errorType":"Tote.MissingDimension","errorMessage":"dim_staff 7 \\"absent\\""}',
          executionArn: 'arn:aws:states:eu-west-2:111122223333:execution:Pipeline:run-2026-12-01T10-00',
          redriveCount: 1,
        },
      };
      const render = (ev: Record<string, any>): unknown => {
        const value = (jsonPath: string): unknown =>
          jsonPath.replace(/^\$\./, '').split('.').reduce<any>((o, k) => (o == null ? undefined : o[k]), ev);
        let rendered = '';
        let inString = false;
        for (let i = 0; i < template.length; i++) {
          const ch: string = template[i];
          const placeholder = ch === '<' ? /^<([\w-]+)>/.exec(template.slice(i)) : null;
          if (placeholder) {
            const v = value(paths[placeholder[1]]);
            rendered += inString ? JSON.stringify(String(v)).slice(1, -1) : JSON.stringify(v ?? null);
            i += placeholder[0].length - 1;
            continue;
          }
          if (ch === '\\' && inString) {
            rendered += ch + template[++i];
            continue;
          }
          if (ch === '"') inString = !inString;
          rendered += ch;
        }
        return JSON.parse(rendered);
      };
      expect(render(event)).toEqual({
        execution: 'run-2026-12-01T10-00',
        status: 'FAILED',
        error: 'Tote.MissingDimension',
        cause: event.detail.cause,
        console_url:
          'https://eu-west-2.console.aws.amazon.com/states/home?region=eu-west-2#/v2/executions/details/' +
          'arn:aws:states:eu-west-2:111122223333:execution:Pipeline:run-2026-12-01T10-00',
        execution_arn: event.detail.executionArn,
        redrive_count: 1,
      });
      // An aborted execution has no error or cause: the alert stays valid JSON, with nulls.
      const aborted = { ...event, detail: { ...event.detail, status: 'ABORTED', error: null, cause: null, redriveCount: 0 } };
      expect(render(aborted)).toMatchObject({ status: 'ABORTED', error: null, cause: null, redrive_count: 0 });
    });

    test('the topic policy lets EventBridge publish for this rule only, and nothing else', () => {
      const policies = Object.values(s.template.findResources('AWS::SNS::TopicPolicy'));
      expect(policies).toHaveLength(1);
      expect(policies[0].Properties.Topics).toEqual([{ Ref: logicalId(s.alerts.topic) }]);
      const statements = policies[0].Properties.PolicyDocument.Statement as Array<Record<string, any>>;
      const allows = statements.filter((st) => st.Effect === 'Allow');
      expect(allows).toEqual([
        {
          Sid: 'AllowExecutionAlertRuleToPublish',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: { Ref: logicalId(s.alerts.topic) },
          Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
        },
      ]);
    });

    test('the key policy lets EventBridge use the key for this rule only: Decrypt and GenerateDataKey, no wildcard', () => {
      const key = Object.values(s.template.findResources('AWS::KMS::Key'))[0];
      const statements = key.Properties.KeyPolicy.Statement as Array<Record<string, any>>;
      const forEvents = statements.filter((st) => JSON.stringify(st.Principal).includes('events.amazonaws.com'));
      expect(forEvents).toEqual([
        {
          Sid: 'AllowExecutionAlertRuleToPublish',
          Effect: 'Allow',
          Principal: { Service: 'events.amazonaws.com' },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: '*',
          Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
        },
      ]);
      // Besides the account root (CDK's default) only CloudWatch alarms and this rule may use the key.
      const services = statements.map((st) => st.Principal.Service).filter(Boolean).sort();
      expect(services).toEqual(['cloudwatch.amazonaws.com', 'events.amazonaws.com']);
      for (const st of statements.filter((x) => x.Principal.Service)) {
        expect(st.Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      }
    });

    test('the rule name, and so the SourceArn conditions, follow the stack name', () => {
      const c = alertsFor({}, 'ToteStaging');
      const arn = `arn:aws:events:${TEST_REGION}:${TEST_ACCOUNT}:rule/ToteStaging-execution-alerts`;
      c.template.hasResourceProperties('AWS::Events::Rule', { Name: 'ToteStaging-execution-alerts' });
      c.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Condition: { ArnEquals: { 'aws:SourceArn': arn } } })]) },
      });
      c.template.hasResourceProperties('AWS::KMS::Key', {
        KeyPolicy: { Statement: Match.arrayWith([Match.objectLike({ Condition: { ArnEquals: { 'aws:SourceArn': arn } } })]) },
      });
    });
  });

  test('no e-mail subscription unless asked; one with context alertEmail', () => {
    s.template.resourceCountIs('AWS::SNS::Subscription', 0);
    const c = alertsFor({ alertEmail: 'data-team@example.com' });
    c.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'data-team@example.com',
      TopicArn: { Ref: logicalId(c.alerts.topic) },
    });
  });

  test('an invalid e-mail is refused', () => {
    expect(() => testConfig({ alertEmail: 'not-an-address' })).toThrow(/alertEmail/);
  });
});
