#!/usr/bin/env node
// The CDK app entry (cdk.json "app"). Everything is built in lib/app.ts.
import { buildApp } from '../lib/app';

buildApp();
