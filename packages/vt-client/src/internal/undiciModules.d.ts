// undici's agent, imported from its own module (internal/undici.ts, `loadAgents`): the module exports the class as
// `module.exports`. The type is the package root's, which re-exports the same class.
declare module "undici/lib/dispatcher/agent.js" {
  import type { Agent as UndiciAgent } from "undici"
  const Agent: typeof UndiciAgent
  export = Agent
}
