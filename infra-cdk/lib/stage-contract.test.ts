import { readFileSync } from 'fs';
import * as path from 'path';
import { STAGES, Stage } from './config';
import { loadPhase, stageAction, stageSpec, STAGE_CONTRACT, TOTE_TRANSIENT_ERRORS } from './stage-contract';

/** Every Task of a definition, including those inside Map and Parallel. */
function tasks(states: Record<string, any>): Array<{ name: string; state: Record<string, any> }> {
  return Object.entries(states).flatMap(([name, state]) => [
    ...(state.Type === 'Task' ? [{ name, state }] : []),
    ...(state.ItemProcessor ? tasks(state.ItemProcessor.States) : []),
    ...(state.Iterator ? tasks(state.Iterator.States) : []),
    ...(state.Branches ? state.Branches.flatMap((b: Record<string, any>) => tasks(b.States)) : []),
  ]);
}

describe('stage contract (tasks/core/stages.json, shared with tote_core::event)', () => {
  const file = readFileSync(path.join(__dirname, '..', '..', 'state-machine', 'definition.asl.json'), 'utf8');
  const lambdaTasks = tasks(JSON.parse(file).States);

  test('every stage function is declared, with its default among its actions', () => {
    expect(STAGE_CONTRACT.stages.map((s) => s.stage).sort()).toEqual([...STAGES].sort());
    for (const s of STAGE_CONTRACT.stages) expect(s.actions).toContain(s.default);
  });

  test('every Task of the exported definition sends an action (and phase) its function declares', () => {
    expect(lambdaTasks.length).toBeGreaterThanOrEqual(7);
    for (const { name, state } of lambdaTasks) {
      const stage = /^\$\{Function:(\w+)\}$/.exec(state.Parameters.FunctionName)?.[1] as Stage;
      const payload = state.Parameters.Payload;
      expect({ name, declared: stageSpec(stage).actions.includes(payload.action) }).toEqual({ name, declared: true });
      if (payload.phase !== undefined) expect(stageSpec('load').phases).toContain(payload.phase);
    }
  });

  test('every Task retries exactly the declared retryable errors, and those are tote\'s own', () => {
    expect(TOTE_TRANSIENT_ERRORS.length).toBeGreaterThan(0);
    for (const e of TOTE_TRANSIENT_ERRORS) expect(e).toMatch(/^Tote\./);
    for (const { name, state } of lambdaTasks) {
      const tote = (state.Retry as Array<{ ErrorEquals: string[] }>).filter((r) => r.ErrorEquals.some((e) => e.startsWith('Tote.')));
      expect({ name, retried: tote.map((r) => r.ErrorEquals) }).toEqual({ name, retried: [TOTE_TRANSIENT_ERRORS] });
    }
  });

  test('an undeclared action or phase fails synth, naming it', () => {
    expect(() => stageAction('transform', 'plan')).toThrow(/takes no action plan/);
    expect(() => loadPhase('everything')).toThrow(/no phase everything/);
    expect(stageAction('ingest', 'commit_chunks')).toBe('commit_chunks');
  });
});
