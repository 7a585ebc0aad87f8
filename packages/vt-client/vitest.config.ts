import { defineConfig } from "vitest/config"

const shared = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
  // The upload memory test collects garbage before each reading, so it measures what is kept, not GC timing.
  poolOptions: { forks: { execArgv: ["--expose-gc"] } }
}

// The suites against the emulator run once per transport (test/emulator.ts reads VT_TEST_TRANSPORT): the client
// on HttpClient (`layer`) and on undici directly (`layerUndici`) must behave the same on every endpoint.
const emulatorSuites = [
  "test/Collections.test.ts",
  "test/Errors.test.ts",
  "test/Files.test.ts",
  "test/Legacy.test.ts",
  "test/Objects.test.ts",
  "test/Premium.test.ts",
  "test/Quota.test.ts"
]

export default defineConfig({
  test: {
    projects: [
      { test: { ...shared, name: "HttpClient", include: ["test/**/*.test.ts"] } },
      { test: { ...shared, name: "undici", include: emulatorSuites, env: { VT_TEST_TRANSPORT: "undici" } } }
    ]
  }
})
