import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    poolOptions: {
      // s3rver runs inside the tests; it signs ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only
      // offers through its legacy provider.
      forks: { execArgv: ["--openssl-legacy-provider"] }
    }
  }
})
