#!/usr/bin/env node
import { exitOnClosedPipe } from './io';
import { runCli } from './program';

for (const stream of [process.stdout, process.stderr]) exitOnClosedPipe(stream, (code) => process.exit(code));
const io = { env: process.env, stdout: process.stdout, stderr: process.stderr, signals: process };
void runCli(process.argv, io).then((code) => (process.exitCode = code));
