import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The examples run as child processes; one file at a time keeps the shared machine responsive.
    fileParallelism: false,
    poolOptions: {
      // s3rver runs inside the tests; it signs ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only
      // offers through its legacy provider.
      forks: { execArgv: ["--openssl-legacy-provider"] }
    }
  }
})
