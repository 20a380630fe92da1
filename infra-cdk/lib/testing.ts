import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { App, CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { DISABLE_ASSET_STAGING_CONTEXT } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { buildApp, cdkJsonContext } from './app';
import { parseConfig, Stage, STAGES, ToteConfig } from './config';
import { FUNCTION_IDS } from './stage-functions';
import type { ToteStack } from './tote-stack';

/** Region every test stack is synthesized in. */
export const TEST_REGION = 'eu-west-2';
/** Account every test stack is synthesized in. */
export const TEST_ACCOUNT = '111122223333';

/** Anything with a logical id: an L2 construct (through its default child) or an L1. */
export type WithLogicalId = { node: { defaultChild?: unknown } } | CfnElement;

/** Logical id of an L2 construct's default child, or of an L1, in the stack that holds it. */
export function logicalId(construct: WithLogicalId): string {
  const element = construct instanceof CfnElement ? construct : (construct.node.defaultChild as CfnElement);
  return Stack.of(element).getLogicalId(element);
}

/** A synthesized full app: the construct tree and its CloudFormation template. */
export interface Synthesized {
  /** The stack (construct tree) for logical id look-ups. */
  readonly stack: ToteStack;
  /** The template, for aws-cdk-lib/assertions. */
  readonly template: Template;
  /** Logical id of any L2 construct's default child, or of an L1 (see {@link logicalId}). */
  logicalId(construct: WithLogicalId): string;
}

/**
 * Builds the real app (lib/app.ts, cdk.json flags included) with `context` on top of the defaults,
 * without cdk-nag unless asked, in a throw-away output directory that is removed again.
 *
 * This stages the three Lambda images (~360 MB), so only tests of the whole app use it
 * (app.test.ts); a construct's own tests build it in a {@link unitStack}.
 */
export function synth(context: Record<string, unknown> = {}, nag = false): Synthesized {
  const outdir = mkdtempSync(path.join(tmpdir(), 'tote-cdk-test-'));
  try {
    const { stack } = buildApp({ nag, outdir, context, env: { account: TEST_ACCOUNT, region: TEST_REGION } });
    const template = Template.fromStack(stack);
    return { stack, template, logicalId };
  } finally {
    // The template is in memory; the assets copied into outdir (the Lambda images, ~360 MB)
    // would otherwise stay behind after every test, and after every synth that throws.
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Parent directory of every unit app's output directory in this test file; removed after the file. */
let unitOutdirs: string | undefined;
// A hook registered while a test file imports this module runs after that file's tests.
if (typeof afterAll === 'function') {
  afterAll(() => {
    if (unitOutdirs) rmSync(unitOutdirs, { recursive: true, force: true });
    unitOutdirs = undefined;
  });
}

/**
 * A new, empty stack for testing one construct: in an app of its own with cdk.json's feature flags
 * (so that the construct renders as it does in the real app), in account {@link TEST_ACCOUNT} and
 * region {@link TEST_REGION}, named like the app's default stack unless `stackName` is given.
 *
 * Two things the real app does on synth are left to it (app.test.ts, `cdk synth`), since a unit
 * test only reads the template:
 * - asset staging: an asset is fingerprinted (its hash, and so the template, is what it is in the
 *   real app) but not copied into the cloud assembly, so a stack with the stage functions does not
 *   copy their images;
 * - CDK's built-in CloudFormation schema validation, which only warns and takes seconds to load.
 *
 * The output directory is removed after the test file.
 */
export function unitStack(stackName = 'Tote'): Stack {
  unitOutdirs ??= mkdtempSync(path.join(tmpdir(), 'tote-cdk-unit-'));
  const app = new App({
    outdir: mkdtempSync(path.join(unitOutdirs, 'app-')),
    context: { ...cdkJsonContext(), [DISABLE_ASSET_STAGING_CONTEXT]: true },
    builtinCloudFormationValidation: false,
  });
  return new Stack(app, stackName, { env: { account: TEST_ACCOUNT, region: TEST_REGION } });
}

/** What {@link buildUnit} returns: the constructs built, their stack and its template. */
export type Unit<T> = T & {
  /** The unit stack, for logical id look-ups. */
  readonly stack: Stack;
  /** Its template, for aws-cdk-lib/assertions. */
  readonly template: Template;
};

/**
 * Builds constructs in a new {@link unitStack} (`build` adds them and returns what the test
 * inspects) and synthesizes it.
 */
export function buildUnit<T extends object>(build: (stack: Stack) => T, stackName?: string): Unit<T> {
  const stack = unitStack(stackName);
  const built = build(stack);
  return { ...built, stack, template: Template.fromStack(stack) };
}

/** The stack configuration for `context` (the keys of docs/deploy.md), parsed as the app parses it. */
export function testConfig(context: Record<string, unknown> = {}): ToteConfig {
  return parseConfig((key) => context[key]);
}

/** A stand-in Lambda: inline code, no image asset, for constructs that only invoke, watch or grant to it. */
export function functionStandIn(scope: Construct, id: string): lambda.Function {
  return new lambda.Function(scope, id, {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({});'),
  });
}

/** Stand-ins ({@link functionStandIn}) for the three stage functions, with the construct ids of the real ones. */
export function stageFunctionStandIns(scope: Construct): Record<Stage, lambda.Function> {
  const functions = {} as Record<Stage, lambda.Function>;
  for (const stage of STAGES) functions[stage] = functionStandIn(scope, FUNCTION_IDS[stage]);
  return functions;
}

/** A stand-in for the pipeline state machine: one Pass state, for constructs that start or watch it. */
export function stateMachineStandIn(scope: Construct, id = 'StateMachine'): sfn.StateMachine {
  return new sfn.StateMachine(scope, id, {
    definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(scope, `${id}Start`)),
  });
}

/** A statement of an IAM policy document as CloudFormation renders it. */
export interface PolicyStatementJson {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}

/** Every statement of every AWS::IAM::Policy attached to the role `roleLogicalId`. */
export function statementsOfRole(template: Template, roleLogicalId: string): PolicyStatementJson[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleLogicalId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as PolicyStatementJson[]);
}

/** The actions of a statement as a list. */
export function actionsOf(statement: PolicyStatementJson): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}
