/**
 * Sandbox behaviour of files: the summary and MITRE trees (one document per report variant), the per-sandbox
 * `file_behaviour` objects (one template per variant and sandbox), and the sandbox artefacts (HTML report, EVTX,
 * memory dump, PCAP) as bytes.
 */
import { createHash } from "node:crypto"
import { type VariantInfo, variantInfo } from "./document.js"
import { hexString, intBetween, mulberry32, pick } from "./prng.js"
import * as T from "./template.js"

const sandboxes: ReadonlyArray<
  { readonly name: string; readonly html: boolean; readonly pcap: boolean; readonly evtx: boolean; memdump: boolean }
> = [
  { name: "Zenbox", html: true, pcap: true, evtx: true, memdump: false },
  { name: "CAPE Sandbox", html: true, pcap: true, evtx: false, memdump: true },
  { name: "VirusTotal Jujubox", html: true, pcap: false, evtx: false, memdump: false },
  { name: "C2AE", html: false, pcap: true, evtx: false, memdump: false },
  { name: "Microsoft Sysinternals", html: true, pcap: false, evtx: true, memdump: false },
  { name: "VMRay", html: true, pcap: true, evtx: false, memdump: true }
]

const techniques: ReadonlyArray<readonly [id: string, name: string, tactic: string, tacticName: string]> = [
  ["T1055", "Process Injection", "TA0004", "Privilege Escalation"],
  ["T1547.001", "Registry Run Keys / Startup Folder", "TA0003", "Persistence"],
  ["T1082", "System Information Discovery", "TA0007", "Discovery"],
  ["T1497", "Virtualization/Sandbox Evasion", "TA0005", "Defense Evasion"],
  ["T1071", "Application Layer Protocol", "TA0011", "Command and Control"],
  ["T1056.001", "Keylogging", "TA0009", "Collection"],
  ["T1555.003", "Credentials from Web Browsers", "TA0006", "Credential Access"],
  ["T1486", "Data Encrypted for Impact", "TA0040", "Impact"]
]

const sha256 = (s: string): Buffer => createHash("sha256").update(s).digest()

/** The sandboxes that ran a file: three to five of them, chosen by its SHA-256. */
export const sandboxesOf = (fileSha256: string): ReadonlyArray<(typeof sandboxes)[number]> => {
  const digest = sha256(`sandboxes/${fileSha256}`)
  const count = 3 + (digest[0] % 3)
  const start = digest[1] % sandboxes.length
  return Array.from({ length: count }, (_, i) => sandboxes[(start + i) % sandboxes.length])
}

const processTree = (info: VariantInfo) => {
  const image = info.kind === "elf" ? `/tmp/${info.meaningfulName}` : `C:\\Users\\user\\Desktop\\${info.meaningfulName}`
  return [{
    process_id: "2148",
    name: image,
    time_offset: 0,
    children: [
      { process_id: "3112", name: "C:\\Windows\\System32\\cmd.exe /c schtasks /create /tn Updater", time_offset: 4 },
      { process_id: "4420", name: "C:\\Windows\\System32\\conhost.exe", time_offset: 4 }
    ]
  }]
}

const summaryOf = (info: VariantInfo) => {
  const rng = mulberry32(0xbe4a_0000 + info.index)
  const used = techniques.slice(0, info.malicious ? 6 : 2)
  return {
    data: {
      tags: info.malicious ? ["DETECT_DEBUG_ENVIRONMENT", "LONG_SLEEPS", "PERSISTENCE"] : ["SIGNED"],
      verdicts: info.malicious ? ["MALWARE", info.familyCategory.toUpperCase()] : ["CLEAN"],
      calls_highlighted: ["GetTickCount", "IsDebuggerPresent", "VirtualAlloc", "CreateRemoteThread"],
      processes_tree: processTree(info),
      processes_created: [`"C:\\Users\\user\\Desktop\\${info.meaningfulName}"`, "C:\\Windows\\System32\\cmd.exe"],
      processes_terminated: ["C:\\Windows\\System32\\cmd.exe"],
      processes_injected: info.malicious ? ["C:\\Windows\\explorer.exe"] : [],
      command_executions: ["schtasks /create /tn Updater /tr %APPDATA%\\updater.exe /sc minute"],
      files_opened: ["C:\\Windows\\System32\\kernel32.dll", "C:\\Users\\user\\AppData\\Local\\Temp"],
      files_written: Array.from(
        { length: 6 },
        (_, i) => `C:\\Users\\user\\AppData\\Roaming\\tmp${hexString(rng, 6)}.${i}`
      ),
      files_deleted: [`C:\\Users\\user\\AppData\\Local\\Temp\\${hexString(rng, 8)}.tmp`],
      files_dropped: Array.from({ length: 3 }, () => ({
        path: `C:\\Users\\user\\AppData\\Roaming\\${hexString(rng, 8)}.exe`,
        sha256: hexString(rng, 64),
        type: "PE32 executable"
      })),
      registry_keys_opened: ["HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"],
      registry_keys_set: [{
        key: "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater",
        value: "%APPDATA%\\updater.exe"
      }],
      mutexes_created: [`Global\\${hexString(rng, 16)}`],
      modules_loaded: ["ADVAPI32.dll", "WININET.dll", "WS2_32.dll"],
      dns_lookups: Array.from({ length: 3 }, (_, i) => ({
        hostname: `c${i}.${hexString(rng, 8)}.example`,
        resolved_ips: [
          `${intBetween(rng, 1, 223)}.${intBetween(rng, 0, 255)}.${intBetween(rng, 0, 255)}.${intBetween(rng, 1, 254)}`
        ]
      })),
      ip_traffic: Array.from({ length: 3 }, () => ({
        destination_ip: `${intBetween(rng, 1, 223)}.${intBetween(rng, 0, 255)}.${intBetween(rng, 0, 255)}.${
          intBetween(rng, 1, 254)
        }`,
        destination_port: pick(rng, [80, 443, 587, 8080]),
        transport_layer_protocol: "TCP"
      })),
      http_conversations: [{ url: "http://api.ipify.org/", request_method: "GET", response_status_code: 200 }],
      mitre_attack_techniques: used.map(([id, name]) => ({
        id,
        signature_description: name,
        severity: info.malicious ? "IMPACT_SEVERITY_HIGH" : "IMPACT_SEVERITY_INFO",
        refs: [{ ref: "#signature_matches", value: hexString(rng, 8) }]
      })),
      signature_matches: used.map(([id, name]) => ({
        id: hexString(rng, 8),
        name,
        description: `Matches ${id}`,
        format: "SIG_FORMAT_YARA",
        authors: ["vt-emulator"],
        rule_src: "rule x { condition: true }"
      })),
      attack_techniques: Object.fromEntries(
        used.map(([id, name]) => [id, [{ description: name, severity: info.malicious ? "HIGH" : "INFO" }]])
      )
    }
  }
}

const mitreOf = (info: VariantInfo) => {
  const used = techniques.slice(0, info.malicious ? 6 : 2)
  const tactics = [...new Set(used.map(([, , tactic]) => tactic))].map((tactic) => {
    const inTactic = used.filter(([, , t]) => t === tactic)
    return {
      id: tactic,
      name: inTactic[0][3],
      description: `The adversary is trying to ${inTactic[0][3].toLowerCase()}.`,
      link: `https://attack.mitre.org/tactics/${tactic}/`,
      techniques: inTactic.map(([id, name]) => ({
        id,
        name,
        description: `${name} (MITRE ATT&CK ${id}).`,
        link: `https://attack.mitre.org/techniques/${id.replace(".", "/")}/`,
        signatures: [{ severity: info.malicious ? "HIGH" : "INFO", description: `Behaviour matching ${name}` }]
      }))
    }
  })
  return {
    data: {
      "Zenbox": { tactics },
      "CAPE Sandbox": { tactics: tactics.slice(0, Math.max(1, tactics.length - 1)) }
    }
  }
}

const summaries = T.memo((variant: number) => T.compile(summaryOf(variantInfo(variant))))
const mitres = T.memo((variant: number) => T.compile(mitreOf(variantInfo(variant))))

/** `GET /files/{id}/behaviour_summary` of a report variant. */
export const summary = (variant: number): T.Body => T.render(summaries(variant), {})

/** `GET /files/{id}/behaviour_mitre_trees` of a report variant. */
export const mitreTrees = (variant: number): T.Body => T.render(mitres(variant), {})

/** `{"data": file_behaviour}` of one variant and sandbox; the file and the date are slots. */
const behaviourTemplate = (variant: number, sandboxName: string): T.Template => {
  const sandbox = sandboxes.find((s) => s.name === sandboxName)
  const info = variantInfo(variant)
  return T.compile({
    data: {
      type: "file_behaviour",
      id: `${T.text("SHA256")}_${sandboxName}`,
      links: {
        // The SHA-256 is hex, which encodeURIComponent leaves as it is.
        self: `https://www.virustotal.com/api/v3/file_behaviours/${T.text("SHA256")}_${encodeURIComponent(sandboxName)}`
      },
      attributes: {
        sandbox_name: sandboxName,
        analysis_date: T.value("DATE"),
        behash: T.text("BEHASH"),
        has_html_report: sandbox?.html ?? false,
        has_pcap: sandbox?.pcap ?? false,
        has_evtx: sandbox?.evtx ?? false,
        has_memdump: sandbox?.memdump ?? false,
        last_modification_date: T.value("DATE"),
        tags: info.malicious ? ["DETECT_DEBUG_ENVIRONMENT", "PERSISTENCE"] : [],
        verdicts: info.malicious ? ["MALWARE"] : ["CLEAN"],
        processes_tree: processTree(info),
        command_executions: ["schtasks /create /tn Updater /tr %APPDATA%\\updater.exe /sc minute"],
        dns_lookups: [{ hostname: "api.ipify.org", resolved_ips: ["104.26.12.205"] }]
      }
    }
  })
}

const behaviourTemplates = T.cache<T.Template>()

/** `GET /file_behaviours/{sha256}_{sandbox}`: the `file_behaviour` object as a `{"data":…}` document. */
export const behaviourDocument = (
  fileSha256: string,
  sandboxName: string,
  variant: number,
  analysisDate: number
): T.Body =>
  T.render(behaviourTemplates(`${variant}/${sandboxName}`, () => behaviourTemplate(variant, sandboxName)), {
    SHA256: fileSha256,
    DATE: String(analysisDate),
    BEHASH: createHash("md5").update(`${fileSha256}_${sandboxName}`).digest("hex")
  })

/** Splits `{sha256}_{sandbox}`; undefined when it is not such an id or the sandbox did not run the file. */
export const parseBehaviourId = (raw: string): { readonly sha256: string; readonly sandbox: string } | undefined => {
  const match = /^([0-9a-fA-F]{64})_(.+)$/.exec(raw)
  if (match === null) return undefined
  const sha = match[1].toLowerCase()
  return sandboxesOf(sha).some((s) => s.name === match[2]) ? { sha256: sha, sandbox: match[2] } : undefined
}

export type Artefact = "html" | "evtx" | "memdump" | "pcap"

const available = (sandbox: string, artefact: Artefact): boolean => {
  const s = sandboxes.find((x) => x.name === sandbox)
  if (s === undefined) return false
  return artefact === "html" ? s.html : artefact === "evtx" ? s.evtx : artefact === "memdump" ? s.memdump : s.pcap
}

const pcap = (seed: Buffer): Buffer => {
  const header = Buffer.alloc(24)
  header.writeUInt32LE(0xa1b2c3d4, 0)
  header.writeUInt16LE(2, 4)
  header.writeUInt16LE(4, 6)
  header.writeUInt32LE(65_535, 16)
  header.writeUInt32LE(1, 20) // Ethernet
  const packets = Array.from({ length: 8 }, (_, i) => {
    const data = Buffer.alloc(60 + i * 10, seed[i % seed.length])
    const record = Buffer.alloc(16)
    record.writeUInt32LE(1_715_040_000 + i, 0)
    record.writeUInt32LE(data.length, 8)
    record.writeUInt32LE(data.length, 12)
    return Buffer.concat([record, data])
  })
  return Buffer.concat([header, ...packets])
}

/** The artefact's bytes and content type, or undefined when that sandbox does not produce it. */
export const artefact = (
  id: { readonly sha256: string; readonly sandbox: string },
  kind: Artefact
): { readonly body: Buffer; readonly contentType: string } | undefined => {
  if (!available(id.sandbox, kind)) return undefined
  const seed = sha256(`${id.sha256}_${id.sandbox}/${kind}`)
  switch (kind) {
    case "html":
      return {
        contentType: "text/html; charset=utf-8",
        body: Buffer.from(
          `<!DOCTYPE html><html><head><title>${id.sandbox} report</title></head><body><h1>${id.sandbox}</h1>` +
            `<p>Behaviour report of ${id.sha256}</p></body></html>`,
          "utf8"
        )
      }
    case "evtx":
      return {
        contentType: "application/octet-stream",
        body: Buffer.concat([Buffer.from("ElfFile\u0000", "latin1"), Buffer.alloc(4088, seed[0])])
      }
    case "memdump":
      return {
        contentType: "application/octet-stream",
        body: Buffer.concat(Array.from({ length: 256 }, (_, i) => Buffer.alloc(256, seed[i % seed.length])))
      }
    case "pcap":
      return { contentType: "application/vnd.tcpdump.pcap", body: pcap(seed) }
  }
}
