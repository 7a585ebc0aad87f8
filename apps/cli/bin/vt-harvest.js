#!/usr/bin/env node
// The CLI ships as one esbuild bundle (see build.mjs): its entry answers `--help` and `--version` by itself and loads
// the program (one file and its shared chunks, instead of hundreds of modules) for everything else.
import * as module from "node:module"

// From Node 22.1, V8 keeps the bundle's compiled code between runs (in the OS temporary directory), so that every
// start after the first skips most of parsing and compiling it; on Node 20 the function does not exist: no-op.
module.enableCompileCache?.()
await import("../dist/vt-harvest.mjs")
