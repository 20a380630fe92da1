/**
 * Writes the state machine definition exactly as CDK synthesizes it, with the stable placeholders
 * of docs/stage-contract.md in place of deployment-specific references (lib/asl.ts), to the file
 * named on the command line. scripts/export-asl wraps it (and adds `--check` and validation).
 *
 * The app is built with cdk.json's context only and the region {@link EXPORT_REGION} (the definition
 * does not contain it today, but a fixed region keeps any future region-dependent text stable), so
 * the output depends on the code alone, not on the caller's environment or cdk.context.json.
 *
 * Usage (from infra-cdk/): `ts-node --transpile-only tools/export-asl.ts <output file>`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { buildApp } from '../lib/app';
import { definitionText, formatDefinition } from '../lib/asl';

/** Region the exported definition is rendered for. */
export const EXPORT_REGION = 'eu-west-2';

/** Renders the definition file content. */
export function renderDefinitionFile(): string {
  const outdir = mkdtempSync(path.join(tmpdir(), 'tote-asl-'));
  try {
    const { app, stack } = buildApp({ nag: false, outdir, env: { region: EXPORT_REGION } });
    const template = app.synth().getStackArtifact(stack.artifactId).template;
    return formatDefinition(
      definitionText({ stateMachine: stack.pipeline.stateMachine, functions: stack.stageFunctions.all }, template),
    );
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [output] = process.argv.slice(2);
  if (!output) {
    process.stderr.write('usage: export-asl.ts <output file>\n');
    process.exit(2);
  }
  writeFileSync(output, renderDefinitionFile());
}
