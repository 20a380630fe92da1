import { Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { loadPhase, stageAction, TOTE_TRANSIENT_ERRORS } from './stage-contract';

/**
 * Lambda service errors (docs/stage-contract.md), retried 2 s, backoff 2, 6 attempts.
 * They mean the invoke itself failed, never the stage, so a retry cannot double work.
 */
export const LAMBDA_SERVICE_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

/** The stages' own transient errors, as tasks/core/stages.json declares them (lib/stage-contract.ts). */
export { TOTE_TRANSIENT_ERRORS };

/** Retry of {@link TOTE_TRANSIENT_ERRORS}: 5 s, ×2, 6 attempts, each wait capped at 2 minutes, full jitter. */
export const TOTE_TRANSIENT_RETRY = {
  interval: Duration.seconds(5),
  backoffRate: 2,
  maxAttempts: 6,
  maxDelay: Duration.minutes(2),
};

/** State names, as they appear in the console, the execution history and `definition.asl.json`. */
export const STATE = {
  readRequest: 'ReadRequest',
  tablesNamed: 'TablesNamed',
  useNamedTables: 'UseNamedTables',
  fullRefreshAsked: 'FullRefreshAsked',
  useFullRefresh: 'UseFullRefresh',
  plan: 'Plan',
  ingestTables: 'IngestTables',
  ingestTable: 'IngestTable',
  ingestChunks: 'IngestChunks',
  ingestChunk: 'IngestChunk',
  commitChunks: 'CommitChunks',
  commitChunk: 'CommitChunk',
  transform: 'Transform',
  loadDimensions: 'LoadDimensions',
  loadFacts: 'LoadFacts',
  loadFact: 'LoadFact',
  measureFreshness: 'MeasureFreshness',
  done: 'Done',
} as const;

/** Properties of {@link Pipeline}. */
export interface PipelineProps {
  /** Plans the run and ingests one table per Map iteration. */
  readonly ingestFunction: lambda.IFunction;
  /** Builds the star schema from every committed landing batch not yet transformed. */
  readonly transformFunction: lambda.IFunction;
  /** Loads processed batches into the warehouse, dimensions first, then facts. */
  readonly loadFunction: lambda.IFunction;
  /** How many tables are ingested at once (the Map's MaxConcurrency). */
  readonly ingestConcurrency: number;
  /** How many chunks of a chunked read run at once (the IngestChunks Distributed Map's MaxConcurrency). */
  readonly chunkConcurrency: number;
  /** How many fact models are loaded at once (the LoadFacts Map's MaxConcurrency). */
  readonly loadConcurrency: number;
  /** Whole-execution timeout; a timed-out execution raises the ExecutionsTimedOut alarm. */
  readonly executionTimeout: Duration;
  /** Retention of the execution log group, in days. */
  readonly logRetentionDays: number;
}

/**
 * The tote state machine (Standard workflow), as DESIGN.md "Orchestration" describes it:
 *
 * ```
 * ReadRequest → (defaults for tables / full_refresh) → Plan → IngestTables (Map: IngestTable)
 *   → IngestChunks (Distributed Map: IngestChunk) → CommitChunks (Map: CommitChunk)
 *   → Transform → LoadDimensions → LoadFacts (Map: LoadFact) → MeasureFreshness → Done (Succeed)
 * ```
 *
 * A table the plan reads whole (a first read, a full refresh) with more rows than `chunkRows` is
 * not in `$.plan.tables` but split into key-range chunks (tasks/ingest/src/chunks.rs): the
 * IngestChunks Distributed Map runs each chunk as a child execution, `chunkConcurrency` at a time,
 * each one ingest invocation that records its part; CommitChunks then commits each chunked table's
 * parts as one batch. With nothing chunked (every incremental run) both Maps have no items.
 * No failure is tolerated: a missing part would stop the commit anyway, and a redrive re-runs
 * only the failed child executions.
 *
 * The facts do not depend on each other, only on the dimensions, so LoadFacts loads each fact
 * model the plan lists in its own iteration, at once. Each load takes its model's lock only
 * (tasks/load), so exactly-once holds per model as before. Freshness is measured once, after
 * every fact is in: an iteration that measured it would count the other facts' batches still in
 * flight as pending and emit a figure that is too high.
 *
 * Transform and load run even when no table ingested anything new. They consume every committed
 * batch their checkpoint or ledger has not seen, so an execution that failed after its ingest (or
 * its transform) is caught up by the next plain execution, not only by a redrive; with nothing
 * new each is a no-op that reads only its logs. (An earlier "nothing changed → Succeed" Choice on
 * the ingest results skipped exactly that catch-up: the fault-matrix test found it.)
 *
 * No state has a Catch (docs/redrive-and-alerts.md). After its retries a failure fails the
 * execution *at the state that failed*, so a redrive re-runs exactly that state (and only the failed
 * iterations of IngestTables). A Catch would make the failure "handled": a redrive would restart at
 * the catch's end state and re-run nothing. The alert is therefore sent from outside the definition,
 * by the EventBridge rule of `Alerts` (lib/alerts.ts) on the execution's FAILED, TIMED_OUT or
 * ABORTED status.
 *
 * The definition is plain JSONPath ASL (no JSONata, no variables, no intrinsics), so that the
 * local executor in `state-machine/` runs the exported copy unchanged (scripts/export-asl).
 *
 * Logging is level ALL with execution data: payloads carry names, keys and counts only, never rows
 * or credentials (docs/stage-contract.md), and at 96 executions a day of ~30 events each the cost is
 * negligible, while a failed run can be read state by state without re-running it. (ERROR would
 * log only the failing event, not the inputs that led to it; cdk-nag AwsSolutions-SF1 also asks
 * for ALL.) X-Ray tracing is on and the stage Lambdas trace actively, so one trace spans the run.
 */
export class Pipeline extends Construct {
  /** The state machine. */
  public readonly stateMachine: sfn.StateMachine;
  /** Its execution log group. */
  public readonly logGroup: logs.LogGroup;

  private readonly props: PipelineProps;

  constructor(scope: Construct, id: string, props: PipelineProps) {
    super(scope, id);
    this.props = props;

    // ---- the request: execution input {"tables"?: [...], "full_refresh"?: bool} ------------------
    // Payload paths that match nothing fail the state (States.Runtime), so absent optional fields
    // are first defaulted to null in $.request; the scheduler sends {}.
    const readRequest = new sfn.Pass(this, STATE.readRequest, {
      comment: 'Defaults for the optional execution input fields.',
      result: sfn.Result.fromObject({ tables: null, full_refresh: null }),
      resultPath: '$.request',
    });
    const useNamedTables = new sfn.Pass(this, STATE.useNamedTables, {
      inputPath: '$.tables',
      resultPath: '$.request.tables',
    });
    const useFullRefresh = new sfn.Pass(this, STATE.useFullRefresh, {
      inputPath: '$.full_refresh',
      resultPath: '$.request.full_refresh',
    });

    // ---- the stages --------------------------------------------------------------------------
    const plan = this.stageTask(STATE.plan, props.ingestFunction, {
      action: stageAction('ingest', 'plan'),
      execution: sfn.JsonPath.executionName,
      tables: sfn.JsonPath.listAt('$.request.tables'),
      full_refresh: sfn.JsonPath.stringAt('$.request.full_refresh'),
    }, {
      tables: sfn.JsonPath.listAt('$.Payload.tables'),
      full_refresh: sfn.JsonPath.stringAt('$.Payload.full_refresh'),
      facts: sfn.JsonPath.listAt('$.Payload.facts'),
      chunks: sfn.JsonPath.listAt('$.Payload.chunks'),
      chunked: sfn.JsonPath.listAt('$.Payload.chunked'),
    }, '$.plan');

    const ingestTable = this.stageTask(STATE.ingestTable, props.ingestFunction, {
      action: stageAction('ingest', 'ingest'),
      table: sfn.JsonPath.stringAt('$.table'),
      execution: sfn.JsonPath.executionName,
      full_refresh: sfn.JsonPath.stringAt('$.full_refresh'),
    }, {
      // The written keys stay in the ingest commit log; state data carries counts only.
      table: sfn.JsonPath.stringAt('$.Payload.table'),
      changed: sfn.JsonPath.stringAt('$.Payload.changed'),
      batch_id: sfn.JsonPath.stringAt('$.Payload.batch_id'),
      rows: sfn.JsonPath.numberAt('$.Payload.rows'),
    });
    const ingestTables = new sfn.Map(this, STATE.ingestTables, {
      comment: 'One ingest per planned table; a failed iteration (after its retries) fails the Map.',
      itemsPath: '$.plan.tables',
      itemSelector: {
        table: sfn.JsonPath.stringAt('$$.Map.Item.Value'),
        full_refresh: sfn.JsonPath.stringAt('$.plan.full_refresh'),
      },
      maxConcurrency: props.ingestConcurrency,
      resultPath: '$.ingest',
    });
    // The Lambda task inside the Map retries like every other; a failed iteration fails the Map and
    // so the execution, and a redrive re-runs only the failed (and not started) iterations.
    ingestTables.itemProcessor(ingestTable);

    const ingestChunk = this.stageTask(STATE.ingestChunk, props.ingestFunction, {
      action: stageAction('ingest', 'ingest'),
      table: sfn.JsonPath.stringAt('$.chunk.table'),
      chunk: sfn.JsonPath.objectAt('$.chunk'),
      execution: sfn.JsonPath.stringAt('$.execution'),
      full_refresh: true,
    }, {
      table: sfn.JsonPath.stringAt('$.Payload.table'),
      batch_id: sfn.JsonPath.stringAt('$.Payload.batch_id'),
      rows: sfn.JsonPath.numberAt('$.Payload.rows'),
    });
    const ingestChunks = new sfn.DistributedMap(this, STATE.ingestChunks, {
      comment: 'One child execution per chunk of a table read in chunks; a failed chunk (after its retries) fails the Map Run.',
      itemsPath: '$.plan.chunks',
      // Evaluated in this execution: a child execution's own name is not the pipeline run's.
      itemSelector: {
        chunk: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
        execution: sfn.JsonPath.executionName,
      },
      maxConcurrency: props.chunkConcurrency,
      mapExecutionType: sfn.StateMachineType.STANDARD,
      label: STATE.ingestChunks,
      toleratedFailurePercentage: 0,
      resultPath: sfn.JsonPath.DISCARD,
    });
    ingestChunks.itemProcessor(ingestChunk);
    const commitChunk = this.stageTask(STATE.commitChunk, props.ingestFunction, {
      action: stageAction('ingest', 'commit_chunks'),
      table: sfn.JsonPath.stringAt('$.table'),
      group: sfn.JsonPath.stringAt('$.group'),
      chunks: sfn.JsonPath.numberAt('$.chunks'),
      until: sfn.JsonPath.stringAt('$.until'),
      execution: sfn.JsonPath.executionName,
    }, {
      table: sfn.JsonPath.stringAt('$.Payload.table'),
      changed: sfn.JsonPath.stringAt('$.Payload.changed'),
      batch_id: sfn.JsonPath.stringAt('$.Payload.batch_id'),
      rows: sfn.JsonPath.numberAt('$.Payload.rows'),
    });
    const commitChunks = new sfn.Map(this, STATE.commitChunks, {
      comment: 'One commit per table read in chunks, once all its chunks have recorded their parts.',
      itemsPath: '$.plan.chunked',
      maxConcurrency: props.ingestConcurrency,
      resultPath: '$.chunked',
    });
    commitChunks.itemProcessor(commitChunk);

    const transform = this.stageTask(STATE.transform, props.transformFunction, {
      action: stageAction('transform', 'transform'),
      execution: sfn.JsonPath.executionName,
    }, {
      changed: sfn.JsonPath.stringAt('$.Payload.changed'),
      batches: sfn.JsonPath.listAt('$.Payload.batches'),
      rows: sfn.JsonPath.objectAt('$.Payload.rows'),
    }, '$.transform');
    const loadDimensions = this.loadTask(STATE.loadDimensions, {
      action: stageAction('load', 'load'),
      phase: loadPhase('dimensions'),
      execution: sfn.JsonPath.executionName,
    }, '$.load_dimensions');
    const loadFact = this.loadTask(STATE.loadFact, {
      action: stageAction('load', 'load'),
      phase: loadPhase('facts'),
      model: sfn.JsonPath.stringAt('$.model'),
      execution: sfn.JsonPath.executionName,
    });
    const loadFacts = new sfn.Map(this, STATE.loadFacts, {
      comment: 'One load per fact model of the plan, at once; a failed iteration (after its retries) fails the Map.',
      itemsPath: '$.plan.facts',
      itemSelector: { model: sfn.JsonPath.stringAt('$$.Map.Item.Value') },
      maxConcurrency: props.loadConcurrency,
      resultPath: '$.load_facts',
    });
    loadFacts.itemProcessor(loadFact);
    const measureFreshness = this.stageTask(STATE.measureFreshness, props.loadFunction, {
      action: stageAction('load', 'freshness'),
      execution: sfn.JsonPath.executionName,
    }, {
      freshness_millis: sfn.JsonPath.numberAt('$.Payload.freshness_millis'),
      table_freshness_millis: sfn.JsonPath.objectAt('$.Payload.table_freshness_millis'),
    }, '$.freshness');

    const fullRefreshAsked = new sfn.Choice(this, STATE.fullRefreshAsked)
      .when(sfn.Condition.isPresent('$.full_refresh'), useFullRefresh.next(plan))
      .otherwise(plan);
    const tablesNamed = new sfn.Choice(this, STATE.tablesNamed)
      .when(sfn.Condition.isPresent('$.tables'), useNamedTables.next(fullRefreshAsked))
      .otherwise(fullRefreshAsked);
    readRequest.next(tablesNamed);

    plan
      .next(ingestTables)
      .next(ingestChunks)
      .next(commitChunks)
      .next(transform)
      .next(loadDimensions)
      .next(loadFacts)
      .next(measureFreshness)
      .next(new sfn.Succeed(this, STATE.done));

    this.logGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      retention: props.logRetentionDays as logs.RetentionDays,
    });

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'tote: ingest ToteSys, transform to the star schema, load the warehouse',
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromChainable(readRequest),
      timeout: props.executionTimeout,
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });

    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray (PutTraceSegments, PutTelemetryRecords, GetSampling*) and CloudWatch Logs delivery ' +
        '(logs:CreateLogDelivery and friends) do not support resource-level permissions; CDK adds exactly these.',
    });
    // CDK's policy for the Distributed Map: start, describe and stop this state machine's own
    // child executions, whose ARNs are known only at run time. cdk-nag names each resource as it
    // renders it: the stack's region and account (or their pseudo-parameters) and the state
    // machine's name taken from its ARN.
    const stack = Stack.of(this);
    const known = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<${pseudo}>` : value);
    const region = known(stack.region, 'AWS::Region');
    const partition = Token.isUnresolved(stack.region) ? '<AWS::Partition>' : (RegionInfo.get(stack.region).partition ?? 'aws');
    const machineId = stack.getLogicalId(this.stateMachine.node.defaultChild as sfn.CfnStateMachine);
    const machineName = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${machineId}"}]}]}`;
    const executions = `arn:${partition}:states:${region}:${known(stack.account, 'AWS::AccountId')}:execution:${machineName}`;
    for (const resource of [`${executions}:*`, `${executions}/${STATE.ingestChunks}:*`]) {
      Validations.of(this.stateMachine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${resource}]`,
        reason:
          "The IngestChunks Distributed Map's child executions: CDK grants StartExecution, DescribeExecution and " +
          'StopExecution on executions of this state machine only, whose names are chosen at run time.',
      });
    }
    for (const fn of [props.ingestFunction, props.transformFunction, props.loadFunction]) {
      const fnId = Stack.of(this).getLogicalId(fn.node.defaultChild as lambda.CfnFunction);
      Validations.of(this.stateMachine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${fnId}.Arn>:*]`,
        reason: 'lambda:InvokeFunction on the stage function and its versions/aliases (ARN:qualifier); CDK grants both.',
      });
    }
  }

  /** A load Task: the dimensions, or one fact model (inside the LoadFacts Map). */
  private loadTask(name: string, payload: Record<string, unknown>, resultPath?: string): tasks.LambdaInvoke {
    return this.stageTask(name, this.props.loadFunction, payload, {
      batches: sfn.JsonPath.numberAt('$.Payload.batches'),
      rows: sfn.JsonPath.objectAt('$.Payload.rows'),
    }, resultPath);
  }

  /**
   * A Lambda task per docs/stage-contract.md: the optimised `lambda:invoke` integration, the
   * request as `Payload`, the response fields picked out of `$.Payload` and both retries. No Catch:
   * see the class comment.
   */
  private stageTask(
    name: string,
    fn: lambda.IFunction,
    payload: Record<string, unknown>,
    resultSelector: Record<string, unknown>,
    resultPath?: string,
  ): tasks.LambdaInvoke {
    const task = new tasks.LambdaInvoke(this, name, {
      lambdaFunction: fn,
      payload: sfn.TaskInput.fromObject(payload),
      resultSelector,
      // Replace the iteration input with the result inside the Map; elsewhere keep the state data.
      resultPath: resultPath ?? '$',
      // The contract's retry below replaces CDK's default one.
      retryOnServiceExceptions: false,
    });
    task.addRetry({ errors: LAMBDA_SERVICE_ERRORS, interval: Duration.seconds(2), backoffRate: 2, maxAttempts: 6 });
    task.addRetry({ errors: TOTE_TRANSIENT_ERRORS, ...TOTE_TRANSIENT_RETRY, jitterStrategy: sfn.JitterType.FULL });
    return task;
  }
}
