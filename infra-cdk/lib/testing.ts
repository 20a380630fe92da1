import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildApp } from './app';
import { ToteStack } from './tote-stack';

/** Region every test stack is synthesized in. */
export const TEST_REGION = 'eu-west-2';
/** Account every test stack is synthesized in. */
export const TEST_ACCOUNT = '111122223333';

/** A synthesized test stack: the construct tree and its CloudFormation template. */
export interface Synthesized {
  /** The stack (construct tree) for logical id look-ups. */
  readonly stack: ToteStack;
  /** The template, for aws-cdk-lib/assertions. */
  readonly template: Template;
  /** Logical id of any L2 construct's default child, or of an L1. */
  logicalId(construct: { node: { defaultChild?: unknown } } | CfnElement): string;
}

/**
 * Builds the real app (lib/app.ts, cdk.json flags included) with `context` on top of the defaults,
 * without cdk-nag unless asked, in a throw-away output directory that is removed again.
 */
export function synth(context: Record<string, unknown> = {}, nag = false): Synthesized {
  const outdir = mkdtempSync(path.join(tmpdir(), 'tote-cdk-test-'));
  try {
    const { stack } = buildApp({ nag, outdir, context, env: { account: TEST_ACCOUNT, region: TEST_REGION } });
    const template = Template.fromStack(stack);
    return {
      stack,
      template,
      logicalId: (construct) => {
        const element = construct instanceof CfnElement ? construct : (construct.node.defaultChild as CfnElement);
        return stack.getLogicalId(element);
      },
    };
  } finally {
    // The template is in memory; the assets copied into outdir (the Lambda images, ~360 MB)
    // would otherwise stay behind after every test, and after every synth that throws.
    rmSync(outdir, { recursive: true, force: true });
  }
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
