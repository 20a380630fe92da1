import { CfnElement, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Stage } from './config';

/** A CloudFormation intrinsic inside the state machine's `DefinitionString` `Fn::Join`. */
type Intrinsic = { Ref: string } | { 'Fn::GetAtt': [string, string] };

/** The ASL placeholder of each stage function (docs/stage-contract.md). */
export function functionPlaceholder(stage: Stage): string {
  return `\${Function:${stage}}`;
}

/** What {@link definitionText} reads: a state machine and the stage functions its tasks invoke. */
export interface DefinitionSource {
  /** The state machine (the `Pipeline`'s, in the app). */
  readonly stateMachine: sfn.StateMachine;
  /** The functions behind the `${Function:<stage>}` placeholders, by stage. */
  readonly functions: Record<Stage, lambda.IFunction>;
}

/**
 * The definition of `source.stateMachine`, read from `template` (the synthesized template of its
 * stack), as ASL JSON text, with every template reference replaced by its stable placeholder:
 *
 * | template reference                 | placeholder             |
 * |------------------------------------|-------------------------|
 * | `Fn::GetAtt` IngestFunction.Arn    | `${Function:ingest}`    |
 * | `Fn::GetAtt` TransformFunction.Arn | `${Function:transform}` |
 * | `Fn::GetAtt` LoadFunction.Arn      | `${Function:load}`      |
 * | `Ref` AWS::Partition               | `aws`                   |
 *
 * Any other reference throws, so a new one cannot slip unmapped into the local executor's copy.
 * The definition publishes nothing to the alert topic (an EventBridge rule on the execution's
 * status sends the failure alert, docs/redrive-and-alerts.md), so a reference to it throws too.
 */
export function definitionText(source: DefinitionSource, template: { [key: string]: any }): string {
  const logicalId = (element: unknown): string => Stack.of(element as CfnElement).getLogicalId(element as CfnElement);
  const placeholders = new Map<string, string>();
  const fns = source.functions;
  for (const stage of Object.keys(fns) as Stage[]) {
    placeholders.set(`GetAtt:${logicalId(fns[stage].node.defaultChild)}.Arn`, functionPlaceholder(stage));
  }
  placeholders.set('Ref:AWS::Partition', 'aws');

  const stateMachine = template.Resources[logicalId(source.stateMachine.node.defaultChild)];
  const definitionString = stateMachine.Properties.DefinitionString;
  const parts: Array<string | Intrinsic> =
    typeof definitionString === 'string' ? [definitionString] : definitionString['Fn::Join'][1];

  return parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const key = 'Ref' in part ? `Ref:${part.Ref}` : `GetAtt:${part['Fn::GetAtt'][0]}.${part['Fn::GetAtt'][1]}`;
      const placeholder = placeholders.get(key);
      if (placeholder === undefined) {
        throw new Error(
          `the state machine definition references ${JSON.stringify(part)}, which has no placeholder; ` +
            'add one in lib/asl.ts and docs/stage-contract.md',
        );
      }
      return placeholder;
    })
    .join('');
}

/** {@link definitionText} as the file scripts/export-asl writes: 2-space JSON, CDK's key order, final newline. */
export function formatDefinition(text: string): string {
  return `${JSON.stringify(JSON.parse(text), null, 2)}\n`;
}
