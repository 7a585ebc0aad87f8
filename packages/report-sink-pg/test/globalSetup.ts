/**
 * One PostgreSQL server for every test file of the package (each test works in a schema of its own), started before
 * them and stopped after.
 */
import type { TestProject } from "vitest/node"
import { start } from "./postgres.js"

declare module "vitest" {
  export interface ProvidedContext {
    readonly postgresUrl: string
    readonly postgresPort: number
  }
}

export default async function setup(project: TestProject) {
  const began = performance.now()
  const server = await start()
  console.log(
    `PostgreSQL on 127.0.0.1:${server.port}: initdb ${server.timings.initdb} ms, start ${server.timings.start} ms, ` +
      `ready after ${Math.round(performance.now() - began)} ms`
  )
  project.provide("postgresUrl", server.url)
  project.provide("postgresPort", server.port)
  return () => server.stop()
}
