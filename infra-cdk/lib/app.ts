import { readFileSync } from 'fs';
import * as path from 'path';
import { App, AppProps, Environment, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext } from './config';
import { ToteStack } from './tote-stack';

/** Options of {@link buildApp}. */
export interface BuildAppOptions extends AppProps {
  /** Run cdk-nag AwsSolutionsChecks on synth (findings fail synth). @default true */
  readonly nag?: boolean;
  /** The stack environment. @default from context `account`/`region`, else the CLI's default account/region */
  readonly env?: Environment;
}

/**
 * The tote CDK app: one `ToteStack` (name from context `stackName`, default `Tote`), configured from
 * context, checked with cdk-nag. bin/tote.ts, the jest tests and scripts/export-asl all build it here,
 * so what is tested is what is deployed.
 */
export function buildApp(options: BuildAppOptions = {}): { app: App; stack: ToteStack } {
  const { nag = true, env, ...appProps } = options;
  // The feature flags and defaults of cdk.json, so that an app built in-process (jest,
  // scripts/export-asl) is the one `cdk synth` builds. Context from the CLI still wins.
  const app = new App({ ...appProps, context: { ...cdkJsonContext(), ...appProps.context } });
  const account = app.node.tryGetContext('account') ?? process.env.CDK_DEFAULT_ACCOUNT;
  const region = app.node.tryGetContext('region') ?? process.env.CDK_DEFAULT_REGION;
  const stack = new ToteStack(app, app.node.tryGetContext('stackName') ?? 'Tote', {
    env: env ?? { account, region },
    description: 'tote: ToteSys -> S3 landing -> star-schema Parquet -> Postgres warehouse (Step Functions, container Lambdas)',
    config: configFromContext(app),
    tags: { project: 'tote' },
  });
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

/** The `context` of infra-cdk/cdk.json. */
export function cdkJsonContext(): Record<string, unknown> {
  const file = path.join(__dirname, '..', 'cdk.json');
  return JSON.parse(readFileSync(file, 'utf8')).context ?? {};
}
