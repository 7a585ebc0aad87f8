// Scaffolds a workspace package: node scripts/new-package.mjs <dir> <name> "<description>"
import * as fs from "node:fs"
import * as path from "node:path"

const [dir, name, description] = process.argv.slice(2)
if (!dir || !name) throw new Error("usage: new-package.mjs <dir> <name> <description>")
fs.mkdirSync(path.join(dir, "src"), { recursive: true })
fs.mkdirSync(path.join(dir, "test"), { recursive: true })
const write = (file, text) => {
  const target = path.join(dir, file)
  if (!fs.existsSync(target)) fs.writeFileSync(target, text)
}
write(
  "package.json",
  JSON.stringify(
    {
      name,
      version: "0.1.0",
      description,
      type: "module",
      license: "MIT",
      sideEffects: [],
      exports: {
        ".": { types: "./dist/index.d.ts", default: "./dist/index.js" },
        "./*": { types: "./dist/*.d.ts", default: "./dist/*.js" },
        "./internal/*": null
      },
      files: ["dist", "src", "README.md", "CHANGELOG.md"],
      scripts: {
        build: "tsc -b",
        test: "vitest run",
        typecheck: "tsc -p tsconfig.test.json"
      },
      peerDependencies: { effect: "^3.22.4" },
      devDependencies: { effect: "^3.22.4" }
    },
    null,
    2
  ) + "\n"
)
write(
  "tsconfig.json",
  JSON.stringify({ extends: "../../tsconfig.base.json", include: ["src"], references: [] }, null, 2) + "\n"
)
write("tsconfig.test.json", JSON.stringify({ extends: "../../tsconfig.test.base.json" }, null, 2) + "\n")
write(
  "vitest.config.ts",
  `import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
`
)
