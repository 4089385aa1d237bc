#!/usr/bin/env node
import { runCli } from './program';

const io = { env: process.env, stdout: process.stdout, stderr: process.stderr, signals: process };
void runCli(process.argv, io).then((code) => (process.exitCode = code));
