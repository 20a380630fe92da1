import { readFileSync } from 'fs';
import * as path from 'path';
import { Stage } from './config';

/** One stage function's actions, as tasks/core/stages.json declares them. */
export interface StageSpec {
  readonly stage: Stage;
  /** The action an event without one is taken to name. */
  readonly default: string;
  /** Every action the stage's Lambda takes (the `action` of its event). */
  readonly actions: string[];
  /** The load phases, where the stage has them. */
  readonly phases?: string[];
}

/** One stable error name (the Lambda `errorType`), as tasks/core/stages.json declares it. */
export interface ErrorSpec {
  readonly name: string;
  /** Whether every stage Task retries it (with full jitter). */
  readonly retryable: boolean;
  /** What recovers an execution that failed with it. */
  readonly recovery: string;
  readonly meaning: string;
}

/** The stage contract's names, shared with the Rust stages (tasks/core/stages.json, read by tote_core::event). */
export interface StageContract {
  readonly stages: StageSpec[];
  readonly errors: ErrorSpec[];
}

/** Where the contract lives, relative to this file. */
export const STAGE_CONTRACT_FILE = path.join(__dirname, '..', '..', 'tasks', 'core', 'stages.json');

/** The stage contract: one declaration of every action and error name. */
export const STAGE_CONTRACT: StageContract = JSON.parse(readFileSync(STAGE_CONTRACT_FILE, 'utf8'));

/**
 * The stages' own transient errors (Lambda `errorType`), retried with full jitter: a database
 * that is down, or (`Tote.Busy`) another execution doing the same stage's work at the same time.
 */
export const TOTE_TRANSIENT_ERRORS: string[] = STAGE_CONTRACT.errors.filter((e) => e.retryable).map((e) => e.name);

/** The declared stage `stage`. */
export function stageSpec(stage: Stage): StageSpec {
  const spec = STAGE_CONTRACT.stages.find((s) => s.stage === stage);
  if (!spec) throw new Error(`stage ${stage} is not declared in ${STAGE_CONTRACT_FILE}`);
  return spec;
}

/** `action`, checked against the actions the `stage` function declares; synth fails on any other. */
export function stageAction(stage: Stage, action: string): string {
  if (!stageSpec(stage).actions.includes(action)) {
    throw new Error(`the ${stage} function takes no action ${action} (${STAGE_CONTRACT_FILE})`);
  }
  return action;
}

/** `phase`, checked against the load phases the contract declares. */
export function loadPhase(phase: string): string {
  if (!(stageSpec('load').phases ?? []).includes(phase)) {
    throw new Error(`the load function has no phase ${phase} (${STAGE_CONTRACT_FILE})`);
  }
  return phase;
}
