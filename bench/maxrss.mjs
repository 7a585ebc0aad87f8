// Preloaded with `node --import` when /usr/bin/time is missing: writes the process's peak RSS (KiB, from
// process.resourceUsage().maxRSS) to the file named by VT_BENCH_MAXRSS_FILE when the process exits.
import * as fs from "node:fs"

const file = process.env.VT_BENCH_MAXRSS_FILE
if (file !== undefined && file !== "") {
  process.on("exit", () => fs.writeFileSync(file, String(process.resourceUsage().maxRSS)))
}
