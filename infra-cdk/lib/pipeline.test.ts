import { readFileSync } from 'fs';
import * as path from 'path';
import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { definitionText, functionPlaceholder } from './asl';
import { Stage } from './config';
import { LAMBDA_SERVICE_ERRORS, Pipeline, STATE, TOTE_TRANSIENT_ERRORS } from './pipeline';
import { buildUnit, logicalId, stageFunctionStandIns, testConfig, Unit } from './testing';

/** An ASL state, loosely typed. */
type AslState = Record<string, any>;

/** Every state of a definition, including those inside Map/Parallel, with the states map holding it. */
function allStates(states: Record<string, AslState>, nested = false): Array<{ name: string; state: AslState; nested: boolean }> {
  return Object.entries(states).flatMap(([name, state]) => [
    { name, state, nested },
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States, true) : []),
    ...(state.Iterator ? allStates(state.Iterator.States, true) : []),
    ...(state.Branches ? state.Branches.flatMap((b: AslState) => allStates(b.States, true)) : []),
  ]);
}

/** A pipeline in a unit stack, and the stand-in stage functions it invokes. */
type PipelineUnit = Unit<{ pipeline: Pipeline; functions: Record<Stage, lambda.Function> }>;

/** The pipeline configured from `context`, in a unit stack with stand-in stage functions. */
function pipelineFor(context: Record<string, unknown>): PipelineUnit {
  return buildUnit((stack) => {
    const config = testConfig(context);
    const functions = stageFunctionStandIns(stack);
    const pipeline = new Pipeline(stack, 'Pipeline', {
      ingestFunction: functions.ingest,
      transformFunction: functions.transform,
      loadFunction: functions.load,
      ingestConcurrency: config.ingestConcurrency,
      loadConcurrency: config.loadConcurrency,
      chunkConcurrency: config.chunkConcurrency,
      executionTimeout: Duration.minutes(config.executionTimeoutMinutes),
      logRetentionDays: config.logRetentionDays,
    });
    return { pipeline, functions };
  });
}

/** The definition of a unit's state machine, parsed. */
function definitionOf(u: PipelineUnit) {
  return JSON.parse(definitionText({ stateMachine: u.pipeline.stateMachine, functions: u.functions }, u.template.toJSON()));
}

describe('Pipeline', () => {
  let s: PipelineUnit;
  let definition: { StartAt: string; States: Record<string, AslState>; TimeoutSeconds: number };
  let states: Record<string, AslState>;
  let lambdaTasks: Array<{ name: string; state: AslState; nested: boolean }>;

  beforeAll(() => {
    s = pipelineFor({});
    definition = definitionOf(s);
    states = definition.States;
    lambdaTasks = allStates(states).filter((x) => x.state.Type === 'Task' && x.state.Resource === 'arn:aws:states:::lambda:invoke');
  });

  test('a Standard state machine with logging ALL (execution data included) and X-Ray tracing', () => {
    s.template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: true,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logicalId(s.pipeline.logGroup), 'Arn'] } } }],
      },
    });
    expect(definition.TimeoutSeconds).toBe(3600);
  });

  test('the happy path: defaults → Plan → IngestTables → IngestChunks → CommitChunks → Transform → LoadDimensions → LoadFacts → MeasureFreshness → Done', () => {
    expect(definition.StartAt).toBe(STATE.readRequest);
    const path: string[] = [];
    let name: string | undefined = definition.StartAt;
    // Follow Next, taking the "nothing named" branch of the input Choices.
    while (name) {
      path.push(name);
      const state: AslState = states[name];
      name = state.Type === 'Choice' ? state.Default : state.Next;
    }
    expect(path).toEqual([
      'ReadRequest', 'TablesNamed', 'FullRefreshAsked', 'Plan', 'IngestTables', 'IngestChunks', 'CommitChunks',
      'Transform', 'LoadDimensions', 'LoadFacts', 'MeasureFreshness', 'Done',
    ]);
    expect(states.Done.Type).toBe('Succeed');
  });

  test('execution input: absent tables / full_refresh default to null, present ones are used', () => {
    expect(states.ReadRequest).toMatchObject({ Type: 'Pass', Result: { tables: null, full_refresh: null }, ResultPath: '$.request' });
    expect(states.TablesNamed.Choices).toEqual([{ Variable: '$.tables', IsPresent: true, Next: 'UseNamedTables' }]);
    expect(states.UseNamedTables).toMatchObject({ InputPath: '$.tables', ResultPath: '$.request.tables', Next: 'FullRefreshAsked' });
    expect(states.FullRefreshAsked.Choices).toEqual([{ Variable: '$.full_refresh', IsPresent: true, Next: 'UseFullRefresh' }]);
    expect(states.UseFullRefresh).toMatchObject({ InputPath: '$.full_refresh', ResultPath: '$.request.full_refresh', Next: 'Plan' });
  });

  test('payloads follow docs/stage-contract.md', () => {
    const params = (name: string) => states[name].Parameters;
    expect(params('Plan')).toEqual({
      FunctionName: functionPlaceholder('ingest'),
      Payload: { action: 'plan', 'execution.$': '$$.Execution.Name', 'tables.$': '$.request.tables', 'full_refresh.$': '$.request.full_refresh' },
    });
    expect(states.Plan.ResultSelector).toEqual({
      'tables.$': '$.Payload.tables',
      'full_refresh.$': '$.Payload.full_refresh',
      'facts.$': '$.Payload.facts',
      'chunks.$': '$.Payload.chunks',
      'chunked.$': '$.Payload.chunked',
    });
    expect(states.IngestChunks.ItemProcessor.States.IngestChunk.Parameters).toEqual({
      FunctionName: functionPlaceholder('ingest'),
      Payload: { action: 'ingest', 'table.$': '$.chunk.table', 'chunk.$': '$.chunk', 'execution.$': '$.execution', full_refresh: true },
    });
    expect(states.CommitChunks.ItemProcessor.States.CommitChunk.Parameters).toEqual({
      FunctionName: functionPlaceholder('ingest'),
      Payload: {
        action: 'commit_chunks',
        'table.$': '$.table',
        'group.$': '$.group',
        'chunks.$': '$.chunks',
        'until.$': '$.until',
        'execution.$': '$$.Execution.Name',
      },
    });
    expect(states.IngestTables.ItemProcessor.States.IngestTable.Parameters).toEqual({
      FunctionName: functionPlaceholder('ingest'),
      Payload: { action: 'ingest', 'table.$': '$.table', 'execution.$': '$$.Execution.Name', 'full_refresh.$': '$.full_refresh' },
    });
    expect(params('Transform')).toEqual({
      FunctionName: functionPlaceholder('transform'),
      Payload: { action: 'transform', 'execution.$': '$$.Execution.Name' },
    });
    expect(params('LoadDimensions')).toEqual({
      FunctionName: functionPlaceholder('load'),
      Payload: { action: 'load', phase: 'dimensions', 'execution.$': '$$.Execution.Name' },
    });
    expect(states.LoadFacts.ItemProcessor.States.LoadFact.Parameters).toEqual({
      FunctionName: functionPlaceholder('load'),
      Payload: { action: 'load', phase: 'facts', 'model.$': '$.model', 'execution.$': '$$.Execution.Name' },
    });
    expect(params('MeasureFreshness')).toEqual({
      FunctionName: functionPlaceholder('load'),
      Payload: { action: 'freshness', 'execution.$': '$$.Execution.Name' },
    });
    expect(states.MeasureFreshness.ResultSelector).toEqual({
      'freshness_millis.$': '$.Payload.freshness_millis',
      'table_freshness_millis.$': '$.Payload.table_freshness_millis',
    });
  });

  test('results are selected from $.Payload and carry counts, not rows', () => {
    for (const { state } of lambdaTasks) {
      const selectors = Object.entries(state.ResultSelector as Record<string, string>);
      expect(selectors.length).toBeGreaterThan(0);
      for (const [key, value] of selectors) {
        expect(key.endsWith('.$')).toBe(true);
        expect(value).toMatch(/^\$\.Payload\./);
      }
    }
    expect(states.IngestTables.ItemProcessor.States.IngestTable.ResultSelector).toEqual({
      'table.$': '$.Payload.table',
      'changed.$': '$.Payload.changed',
      'batch_id.$': '$.Payload.batch_id',
      'rows.$': '$.Payload.rows',
    });
  });

  test('IngestTables maps over the planned tables with MaxConcurrency 4 by default', () => {
    expect(states.IngestTables).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.tables',
      ItemSelector: { 'table.$': '$$.Map.Item.Value', 'full_refresh.$': '$.plan.full_refresh' },
      MaxConcurrency: 4,
      ResultPath: '$.ingest',
    });
  });

  test('IngestChunks runs each planned chunk as a child execution of a Distributed Map (MaxConcurrency 4 by default), then CommitChunks commits each chunked table', () => {
    expect(states.IngestTables.Next).toBe('IngestChunks');
    expect(states.IngestChunks).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.chunks',
      // The pipeline run's name, taken in the parent: a child execution has a name of its own.
      ItemSelector: { 'chunk.$': '$$.Map.Item.Value', 'execution.$': '$$.Execution.Name' },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' }, StartAt: 'IngestChunk' },
      MaxConcurrency: 4,
      Label: 'IngestChunks',
      ResultPath: null,
      Next: 'CommitChunks',
    });
    // No failure is tolerated: the commit needs every part.
    expect(states.IngestChunks.ToleratedFailurePercentage ?? 0).toBe(0);
    expect(states.IngestChunks.ToleratedFailureCount ?? 0).toBe(0);
    expect(states.CommitChunks).toMatchObject({ Type: 'Map', ItemsPath: '$.plan.chunked', ResultPath: '$.chunked', Next: 'Transform' });
    expect(states.CommitChunks.ItemProcessor.ProcessorConfig?.Mode ?? 'INLINE').toBe('INLINE');
  });

  test('the state machine may start, watch and stop its own child executions (the Distributed Map), and nothing else', () => {
    const roleId = logicalId(s.pipeline.stateMachine.role);
    const statements = Object.values(s.template.findResources('AWS::IAM::Policy'))
      .filter((p) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<Record<string, any>>);
    const states_ = statements.flatMap((st) => [st.Action].flat() as string[]).filter((a) => a.startsWith('states:'));
    expect(states_.sort()).toEqual(expect.arrayContaining(['states:StartExecution']));
    for (const a of states_) expect(['states:StartExecution', 'states:DescribeExecution', 'states:StopExecution', 'states:RedriveExecution']).toContain(a);
  });

  test('LoadFacts loads every fact model the plan lists, at once (MaxConcurrency 3 by default), then freshness is measured once', () => {
    expect(states.LoadDimensions.Next).toBe('LoadFacts');
    expect(states.LoadFacts).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.facts',
      ItemSelector: { 'model.$': '$$.Map.Item.Value' },
      MaxConcurrency: 3,
      ResultPath: '$.load_facts',
      Next: 'MeasureFreshness',
    });
    expect(states.LoadFacts.ItemProcessor.StartAt).toBe('LoadFact');
    expect(states.LoadFacts.ItemProcessor.States.LoadFact.End).toBe(true);
    expect(states.MeasureFreshness).toMatchObject({ ResultPath: '$.freshness', Next: 'Done' });
  });

  test('transform and load run after every ingest, so a plain execution catches up what a failed one left', () => {
    expect(states.CommitChunks.Next).toBe('Transform');
    expect(allStates(states).map((x) => x.name)).not.toContain('NothingChanged');
    expect(JSON.stringify(definition)).not.toMatch(/States\.ArrayContains/);
  });

  test('there are exactly eight Lambda tasks: Plan, IngestTable, IngestChunk, CommitChunk and LoadFact (in the Maps), Transform, LoadDimensions, MeasureFreshness', () => {
    expect(lambdaTasks.map((t) => t.name).sort()).toEqual([
      'CommitChunk', 'IngestChunk', 'IngestTable', 'LoadDimensions', 'LoadFact', 'MeasureFreshness', 'Plan', 'Transform',
    ]);
  });

  test('every Lambda task retries Lambda service errors 2 s, ×2, 6 attempts, then Tote.* transients with full jitter', () => {
    for (const { name, state } of lambdaTasks) {
      expect({ name, retry: state.Retry }).toEqual({
        name,
        retry: [
          { ErrorEquals: LAMBDA_SERVICE_ERRORS, IntervalSeconds: 2, BackoffRate: 2, MaxAttempts: 6 },
          {
            ErrorEquals: TOTE_TRANSIENT_ERRORS,
            IntervalSeconds: 5,
            BackoffRate: 2,
            MaxAttempts: 6,
            MaxDelaySeconds: 120,
            JitterStrategy: 'FULL',
          },
        ],
      });
    }
  });

  test('no state has a Catch, so a failure fails the execution at the failed state and a redrive re-runs it', () => {
    // A Catch makes the failure "handled": a redrive would restart at the catch's end, re-running nothing.
    const all = allStates(states);
    for (const { name, state } of all) expect({ name, catch: state.Catch }).toEqual({ name, catch: undefined });
    expect(JSON.stringify(definition)).not.toContain('"Catch"');
    // Nothing left of the old failure path: no Fail state, no alert Pass, no SNS task, no topic placeholder.
    expect(all.filter((x) => x.state.Type === 'Fail')).toEqual([]);
    expect(all.map((x) => x.name).filter((n) => /Failed$|^PublishAlert$/.test(n))).toEqual([]);
    expect(all.filter((x) => x.state.Type === 'Task').map((x) => x.state.Resource)).toEqual(
      Array(8).fill('arn:aws:states:::lambda:invoke'),
    );
    expect(JSON.stringify(definition)).not.toMatch(/sns:publish|\$\{Topic:/);
    // The states that can fail after their retries are exactly the eight Lambda tasks and the Maps.
    const failable = all.filter((x) => ['Task', 'Map', 'Parallel'].includes(x.state.Type)).map((x) => x.name).sort();
    expect(failable).toEqual([
      'CommitChunk', 'CommitChunks', 'IngestChunk', 'IngestChunks', 'IngestTable', 'IngestTables',
      'LoadDimensions', 'LoadFact', 'LoadFacts', 'MeasureFreshness', 'Plan', 'Transform',
    ]);
    // The end states: Done, and the Map iterations' ends.
    const ends = all.filter((x) => x.state.End || ['Succeed', 'Fail'].includes(x.state.Type)).map((x) => x.name).sort();
    expect(ends).toEqual(['CommitChunk', 'Done', 'IngestChunk', 'IngestTable', 'LoadFact']);
  });

  test('the exported definition (state-machine/definition.asl.json) has no Catch and no alert topic', () => {
    const file = readFileSync(path.join(__dirname, '..', '..', 'state-machine', 'definition.asl.json'), 'utf8');
    expect(file).not.toContain('"Catch"');
    expect(file).not.toContain('${Topic:alerts}');
    expect(file).not.toContain('PublishAlert');
  });

  test('only standard JSONPath ASL and the allowed intrinsics', () => {
    const text = JSON.stringify(definition);
    expect(text).not.toMatch(/JSONata|"QueryLanguage"|"Assign"|\{%/);
    const used = new Set(text.match(/States\.[A-Z][A-Za-z]+(?=\()/g));
    const allowed = ['States.Format', 'States.ArrayContains', 'States.JsonToString', 'States.StringToJson', 'States.Array',
      'States.ArrayLength', 'States.MathAdd', 'States.UUID'];
    for (const fn of used) expect(allowed).toContain(fn);
  });

  test('context sets MaxConcurrency and the execution timeout', () => {
    const d = definitionOf(pipelineFor({ ingestConcurrency: '8', loadConcurrency: '2', chunkConcurrency: '16', executionTimeoutMinutes: '30' }));
    expect(d.States.IngestTables.MaxConcurrency).toBe(8);
    expect(d.States.IngestChunks.MaxConcurrency).toBe(16);
    expect(d.States.LoadFacts.MaxConcurrency).toBe(2);
    expect(d.TimeoutSeconds).toBe(1800);
  });

  // That its role names neither the alert topic nor its key is tested on the app (app.test.ts).
  test('the state machine may invoke exactly the three stage functions, and neither publishes to nor uses the alert key', () => {
    const roleId = logicalId(s.pipeline.stateMachine.role);
    const policy = Object.values(s.template.findResources('AWS::IAM::Policy')).find((p) =>
      p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId),
    )!;
    const statements = policy.Properties.PolicyDocument.Statement as Array<Record<string, any>>;
    const invoke = statements.find((st) => st.Action === 'lambda:InvokeFunction')!;
    const fnIds = Object.values(s.functions).map((fn) => logicalId(fn));
    expect(JSON.stringify(invoke.Resource)).toEqual(expect.stringContaining(fnIds[0]));
    for (const id of fnIds) expect(JSON.stringify(invoke.Resource)).toContain(id);
    const actions = statements.flatMap((st) => [st.Action].flat() as string[]);
    expect(actions.filter((a) => /^(sns|kms):/.test(a))).toEqual([]);
    for (const a of actions) expect(a).not.toMatch(/^(lambda|sns|kms|s3):.*\*/);
  });
});
