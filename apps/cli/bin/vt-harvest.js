#!/usr/bin/env node
// The CLI ships as an esbuild bundle (see build.mjs): its entry answers `--help` and `--version` by itself and loads
// the program (one file instead of hundreds of modules, with the code V8 compiled of it at build time) for
// everything else. This file and the entry are CommonJS (bin/package.json): an ES module costs Node its module
// loader, 4–5 ms of every start.
"use strict"
const { enableCompileCache } = require("node:module")

// On a Node other than the build's, the build's compiled code is of no use: from Node 22.1, V8 then keeps the
// program's compiled code between runs (in the OS temporary directory), so that every start after the first skips
// most of parsing and compiling it; on Node 20 the function does not exist: no-op.
enableCompileCache?.()
require("../dist/vt-harvest.cjs")
