#!/usr/bin/env node
import { runCli } from './program';

void runCli(process.argv, { env: process.env, stdout: process.stdout, stderr: process.stderr, signals: process }).then(
  (code) => {
    process.exitCode = code;
  },
);
