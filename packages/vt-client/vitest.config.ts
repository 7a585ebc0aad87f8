import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The upload memory test collects garbage before each reading, so it measures what is kept, not GC timing.
    poolOptions: { forks: { execArgv: ["--expose-gc"] } }
  }
})
