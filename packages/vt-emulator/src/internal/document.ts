/**
 * Synthetic VirusTotal file reports, built for speed.
 *
 * A real report weighs tens of kilobytes; serialising one per request caps an emulator near a thousand requests per
 * second, which would make it the bottleneck of every benchmark. So each of a handful of variants is serialised once,
 * as a template (template.ts) with slots for the per-file values (hashes, size, dates, counters). Answering a request
 * is then a few hashes of the id and a splice of a ~1.5 KB head; the rest of the report is the variant's shared tail.
 */
import { createHash } from "node:crypto"
import * as Corpus from "./corpus.js"
import { hexString, intBetween, mulberry32, pick, type Prng } from "./prng.js"
import { errorDocument } from "./reply.js"
import * as T from "./template.js"

const TARGET_SIZE = 40 * 1024

/** Latest date any synthetic report mentions: the documents never depend on the clock, only on the id. */
const EPOCH_END = 1_715_040_000 // 2024-05-07T00:00:00Z
const EPOCH_START = 1_420_070_400 // 2015-01-01T00:00:00Z

type Kind = "pe" | "pdf" | "zip" | "elf"

interface Variant {
  readonly kind: Kind
  readonly typeTag: string
  readonly typeDescription: string
  readonly extension: string
  readonly magic: string
  readonly magika: string
  readonly tags: ReadonlyArray<string>
  readonly malicious: number
  readonly suspicious: number
  readonly family: number
  readonly meaningfulName: string
  readonly otherNames: ReadonlyArray<string>
  readonly minSize: number
  readonly maxSize: number
}

const variants: ReadonlyArray<Variant> = [
  {
    kind: "pe",
    typeTag: "peexe",
    typeDescription: "Win32 EXE",
    extension: "exe",
    magic: "PE32 executable (GUI) Intel 80386 Mono/.Net assembly, for MS Windows",
    magika: "PEBIN",
    tags: [
      "peexe",
      "assembly",
      "runtime-modules",
      "detect-debug-environment",
      "long-sleeps",
      "direct-cpu-clock-access"
    ],
    malicious: 58,
    suspicious: 0,
    family: 0,
    meaningfulName: "PO-4500123987.exe",
    otherNames: ["PO-4500123987.exe", "Purchase Order.exe", "Quotation_Request.exe", "file.exe", "payload.bin"],
    minSize: 400_000,
    maxSize: 1_500_000
  },
  {
    kind: "pe",
    typeTag: "pedll",
    typeDescription: "Win32 DLL",
    extension: "dll",
    magic: "PE32+ executable (DLL) (GUI) x86-64, for MS Windows",
    magika: "PEBIN",
    tags: ["pedll", "64bits", "signed", "invalid-signature", "overlay"],
    malicious: 41,
    suspicious: 1,
    family: 7,
    meaningfulName: "beacon.dll",
    otherNames: ["beacon.dll", "update.dll", "msedge_elf.dll", "artifact.dll"],
    minSize: 200_000,
    maxSize: 900_000
  },
  {
    kind: "pe",
    typeTag: "peexe",
    typeDescription: "Win32 EXE",
    extension: "exe",
    magic: "PE32 executable (GUI) Intel 80386, for MS Windows, Nullsoft Installer self-extracting archive",
    magika: "PEBIN",
    tags: ["peexe", "signed", "overlay", "nsis", "checks-user-input"],
    malicious: 0,
    suspicious: 0,
    family: 0,
    meaningfulName: "npp.8.6.7.Installer.exe",
    otherNames: ["npp.8.6.7.Installer.exe", "npp_installer.exe", "setup.exe"],
    minSize: 4_000_000,
    maxSize: 6_000_000
  },
  {
    kind: "pdf",
    typeTag: "pdf",
    typeDescription: "PDF",
    extension: "pdf",
    magic: "PDF document, version 1.7",
    magika: "PDF",
    tags: ["pdf", "autoaction", "js-embedded", "acroform"],
    malicious: 2,
    suspicious: 3,
    family: 2,
    meaningfulName: "Invoice_2024_0412.pdf",
    otherNames: ["Invoice_2024_0412.pdf", "scan0001.pdf", "document.pdf"],
    minSize: 30_000,
    maxSize: 400_000
  },
  {
    kind: "zip",
    typeTag: "zip",
    typeDescription: "ZIP",
    extension: "zip",
    magic: "Zip archive data, at least v2.0 to extract, compression method=deflate",
    magika: "ZIP",
    tags: ["zip", "contains-pe", "attachment"],
    malicious: 23,
    suspicious: 0,
    family: 1,
    meaningfulName: "Shipping Documents.zip",
    otherNames: ["Shipping Documents.zip", "DHL_AWB_Receipt.zip", "attachment.zip"],
    minSize: 300_000,
    maxSize: 1_200_000
  },
  {
    kind: "elf",
    typeTag: "elf",
    typeDescription: "ELF",
    extension: "elf",
    magic: "ELF 32-bit LSB executable, ARM, EABI5 version 1 (SYSV), statically linked, stripped",
    magika: "ELF",
    tags: ["elf", "upx", "contains-elf"],
    malicious: 38,
    suspicious: 0,
    family: 6,
    meaningfulName: "arm7",
    otherNames: ["arm7", "mirai.arm7", "bins.sh"],
    minSize: 30_000,
    maxSize: 160_000
  },
  {
    kind: "pe",
    typeTag: "peexe",
    typeDescription: "Win32 EXE",
    extension: "exe",
    magic: "PE32 executable (GUI) Intel 80386, for MS Windows",
    magika: "PEBIN",
    tags: ["peexe", "spreader", "checks-disk-space", "detect-debug-environment", "calls-wmi"],
    malicious: 62,
    suspicious: 0,
    family: 3,
    meaningfulName: "LB3.exe",
    otherNames: ["LB3.exe", "LockBit_3.0.exe", "svchost.exe"],
    minSize: 140_000,
    maxSize: 200_000
  },
  {
    kind: "pe",
    typeTag: "peexe",
    typeDescription: "Win32 EXE",
    extension: "exe",
    magic: "PE32+ executable (console) x86-64, for MS Windows",
    magika: "PEBIN",
    tags: ["peexe", "64bits", "cve-2021-36934", "long-sleeps", "checks-cpu-name"],
    malicious: 34,
    suspicious: 2,
    family: 9,
    meaningfulName: "xmrig.exe",
    otherNames: ["xmrig.exe", "WinRing0x64.exe", "conhost.exe"],
    minSize: 2_000_000,
    maxSize: 8_000_000
  }
]

// ---------------------------------------------------------------------------------------------------------------
// Slots
// ---------------------------------------------------------------------------------------------------------------

/** Per-file values spliced into the static segments. */
type Slot =
  | "SHA256"
  | "SHA1"
  | "MD5"
  | "SSDEEP"
  | "TLSH"
  | "SIZE"
  | "FIRST_SUBMISSION"
  | "LAST_SUBMISSION"
  | "LAST_ANALYSIS"
  | "LAST_MODIFICATION"
  | "FIRST_ITW"
  | "TIMES_SUBMITTED"
  | "UNIQUE_SOURCES"
  | "REPUTATION"
  | "VOTES_HARMLESS"
  | "VOTES_MALICIOUS"

/** A slot inside a JSON string: its value is JSON-safe text (hex, digits, base64). */
const str = (slot: Slot): string => T.text(slot)
/** A slot that is a whole JSON number. */
const num = (slot: Slot): number => T.value(slot)

interface Template extends T.Template {
  /** The variant's engine verdicts, shared by its reports, its analyses and its v2 reports. */
  readonly results: Readonly<Record<string, EngineResult>>
  readonly stats: Readonly<Record<Category, number>>
}

// ---------------------------------------------------------------------------------------------------------------
// Building one variant
// ---------------------------------------------------------------------------------------------------------------

export type Category =
  | "malicious"
  | "suspicious"
  | "undetected"
  | "harmless"
  | "timeout"
  | "confirmed-timeout"
  | "failure"
  | "type-unsupported"

export interface EngineResult {
  category: Category
  engine_name: string
  engine_version: string
  result: string | null
  method: "blacklist"
  engine_update: string
}

const analysisResults = (rng: Prng, variant: Variant) => {
  const { category: familyCategory, family } = Corpus.families[variant.family]
  // Engines that only scan mobile apps do not handle desktop files; a few others time out or fail, as they do.
  const usable = Corpus.engines.filter(([, , mobile]) => mobile !== true).map(([name]) => name)
  const order = [...usable]
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  const verdicts = new Map<string, Category>()
  const timeouts = 1 + Math.floor(rng() * 3)
  order.forEach((name, i) => {
    const category: Category = i < variant.malicious
      ? "malicious"
      : i < variant.malicious + variant.suspicious
      ? "suspicious"
      : i >= order.length - timeouts
      ? pick(rng, ["timeout", "confirmed-timeout", "failure"] as const)
      : "undetected"
    verdicts.set(name, category)
  })
  const results: Record<string, EngineResult> = {}
  const stats: Record<Category, number> = {
    malicious: 0,
    suspicious: 0,
    undetected: 0,
    harmless: 0,
    timeout: 0,
    "confirmed-timeout": 0,
    failure: 0,
    "type-unsupported": 0
  }
  Corpus.engines.forEach(([name, version], n) => {
    const category: Category = verdicts.get(name) ?? "type-unsupported"
    stats[category]++
    results[name] = {
      category,
      engine_name: name,
      engine_version: version,
      result: category === "malicious"
        ? Corpus.detectionName(name, family, familyCategory, n + variant.family * 31)
        : category === "suspicious"
        ? "Suspicious.Generic"
        : null,
      method: "blacklist",
      engine_update: `202405${pick(rng, ["05", "06", "07"])}`
    }
  })
  return { results, stats, family, familyCategory }
}

const peInfo = (rng: Prng) => {
  const sectionNames = [".text", ".rdata", ".data", ".pdata", ".rsrc", ".reloc"]
  let address = 4096
  const sections = sectionNames.map((name) => {
    const size = intBetween(rng, 2, 400) * 512
    const section = {
      name,
      chi2: Math.round(rng() * 5_000_000) / 100,
      virtual_address: address,
      flags: name === ".text" ? "rx" : name === ".data" ? "rw" : "r",
      raw_size: size,
      entropy: Math.round((3 + rng() * 5) * 100) / 100,
      virtual_size: size - intBetween(rng, 0, 511),
      md5: hexString(rng, 32)
    }
    address += Math.ceil(size / 4096) * 4096
    return section
  })
  const importList = Corpus.libraries.map(([library_name, functions]) => ({
    library_name,
    imported_functions: functions.filter(() => rng() < 0.8)
  }))
  return {
    timestamp: EPOCH_START + Math.floor(rng() * (EPOCH_END - EPOCH_START)),
    imphash: hexString(rng, 32),
    machine_type: 332,
    entry_point: intBetween(rng, 4096, 90_000),
    sections,
    import_list: importList,
    rich_pe_header_hash: hexString(rng, 32),
    resource_langs: { "ENGLISH US": intBetween(rng, 1, 12), NEUTRAL: 1 },
    resource_types: { RT_ICON: intBetween(rng, 1, 9), RT_GROUP_ICON: 1, RT_VERSION: 1, RT_MANIFEST: 1 },
    resource_details: Array.from({ length: 8 }, (_, i) => ({
      lang: "ENGLISH US",
      entropy: Math.round(rng() * 800) / 100,
      chi2: Math.round(rng() * 10_000_000) / 100,
      filetype: i === 0 ? "XML" : "Data",
      sha256: hexString(rng, 64),
      type: i === 0 ? "RT_MANIFEST" : "RT_ICON"
    })),
    compiler_product_versions: [
      "[ C ] VS2022 v17.4.2 build 32825 count=12",
      "[IMP] VS2008 SP1 build 30729 count=9",
      "[LNK] VS2022 v17.4.2 build 32825 count=1"
    ],
    overlay: {
      entropy: Math.round(rng() * 800) / 100,
      offset: intBetween(rng, 100_000, 400_000),
      chi2: Math.round(rng() * 100_000) / 100,
      filetype: "Data",
      md5: hexString(rng, 32),
      size: intBetween(rng, 512, 40_000)
    }
  }
}

const kindSection = (rng: Prng, variant: Variant): Record<string, unknown> => {
  switch (variant.kind) {
    case "pe":
      return {
        pe_info: peInfo(rng),
        authentihash: hexString(rng, 64),
        signature_info: variant.tags.includes("signed")
          ? {
            verified: variant.malicious === 0 ? "Signed" : "A certificate was explicitly revoked by its issuer.",
            copyright: "Copyright (C) 2024",
            product: variant.meaningfulName.replace(/\.\w+$/, ""),
            description: "Setup",
            "file version": "8.6.7.0",
            "signing date": "12:04 PM 04/29/2024",
            signers: "Notepad++; DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021 CA1; DigiCert",
            "signers details": [{
              status: "Valid",
              name: "Notepad++",
              algorithm: "sha256RSA",
              "valid from": "12:00 AM 03/14/2024",
              "valid to": "11:59 PM 03/15/2027",
              "serial number": hexString(rng, 32).toUpperCase(),
              "cert issuer": "DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021 CA1",
              thumbprint: hexString(rng, 40).toUpperCase()
            }]
          }
          : { "original name": variant.meaningfulName, "internal name": variant.meaningfulName },
        detectiteasy: {
          filetype: variant.typeTag === "pedll" ? "PE64" : "PE32",
          values: [
            { type: "Compiler", name: "Microsoft Visual C/C++", version: "19.36.32825" },
            { type: "Linker", name: "Microsoft Linker", version: "14.36.32825" }
          ]
        }
      }
    case "pdf":
      return {
        pdf_info: {
          acroform: 1,
          autoaction: 1,
          embedded_file: 0,
          encrypted: 0,
          flash: 0,
          header: "%PDF-1.7",
          javascript: 2,
          jbig2_compression: 0,
          js: 2,
          num_endobj: intBetween(rng, 20, 200),
          num_endstream: intBetween(rng, 10, 100),
          num_launch_actions: 0,
          num_obj: intBetween(rng, 20, 200),
          num_object_streams: 1,
          num_pages: intBetween(rng, 1, 4),
          num_stream: intBetween(rng, 10, 100),
          openaction: 1,
          startxref: 1,
          suspicious_colors: 0,
          trailer: 1,
          xfa: 0,
          xref: 1
        }
      }
    case "zip":
      return {
        bundle_info: {
          highest_datetime: "2024-04-29 09:12:44",
          lowest_datetime: "2024-04-29 09:12:44",
          num_children: 1,
          extensions: { exe: 1 },
          file_types: { peexe: 1 },
          type: "ZIP",
          uncompressed_size: intBetween(rng, 500_000, 2_000_000)
        }
      }
    case "elf":
      return {
        elf_info: {
          header: {
            hdr_version: "1 (current)",
            type: "EXEC (Executable file)",
            obj_version: "0x1",
            data: "2's complement, little endian",
            machine: "ARM",
            num_section_headers: 0,
            os_abi: "UNIX - System V",
            abi_version: 0,
            entrypoint: intBetween(rng, 32_768, 65_536),
            num_prog_headers: 2,
            class: "ELF32"
          },
          packers: ["upx"]
        },
        packers: { Gandelf: "upx" }
      }
  }
}

const trid = (variant: Variant) => {
  switch (variant.kind) {
    case "pe":
      return [
        { file_type: "Win32 Executable MS Visual C++ (generic)", probability: 47.3 },
        { file_type: "Win64 Executable (generic)", probability: 15.9 },
        { file_type: "Win32 Dynamic Link Library (generic)", probability: 9.8 },
        { file_type: "Win16 NE executable (generic)", probability: 7.5 },
        { file_type: "Win32 Executable (generic)", probability: 6.7 },
        { file_type: "OS/2 Executable (generic)", probability: 3 },
        { file_type: "Generic Win/DOS Executable", probability: 2.9 },
        { file_type: "DOS Executable Generic", probability: 2.9 }
      ]
    case "pdf":
      return [{ file_type: "Adobe Portable Document Format", probability: 100 }]
    case "zip":
      return [
        { file_type: "ZIP compressed archive", probability: 80 },
        { file_type: "PrintFox/Pagefox bitmap (640x800)", probability: 20 }
      ]
    case "elf":
      return [
        { file_type: "ELF Executable and Linkable format (generic)", probability: 100 }
      ]
  }
}

const sigmaMatch = (rng: Prng, variant: Variant, title: string) => {
  const image = variant.kind === "elf"
    ? `/tmp/${variant.meaningfulName}`
    : `C:\\Users\\user\\AppData\\Local\\Temp\\${variant.meaningfulName}`
  return {
    values: {
      EventID: String(pick(rng, [1, 11, 13])),
      UtcTime: `2024-05-0${intBetween(rng, 1, 6)} ${intBetween(rng, 10, 23)}:${intBetween(rng, 10, 59)}:${
        intBetween(rng, 10, 59)
      }.${intBetween(rng, 100, 999)}`,
      ProcessGuid: `{${hexString(rng, 8)}-${hexString(rng, 4)}-${hexString(rng, 4)}-${hexString(rng, 4)}-${
        hexString(rng, 12)
      }}`,
      ProcessId: String(intBetween(rng, 1000, 9000)),
      Image: image,
      CommandLine: title.includes("PowerShell") || title.includes("Powershell")
        ? `"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe" Add-MpPreference -ExclusionPath "${image}"`
        : `"${image}" ${hexString(rng, 6)}`,
      CurrentDirectory: variant.kind === "elf" ? "/tmp/" : "C:\\Users\\user\\Desktop\\",
      User: variant.kind === "elf" ? "root" : "DESKTOP-B0T93D6\\user",
      IntegrityLevel: pick(rng, ["Medium", "High"]),
      Hashes: `SHA1=${hexString(rng, 40).toUpperCase()},MD5=${hexString(rng, 32).toUpperCase()},SHA256=${
        hexString(rng, 64).toUpperCase()
      }`,
      ParentImage: variant.kind === "elf" ? "/bin/sh" : "C:\\Windows\\explorer.exe",
      ParentCommandLine: variant.kind === "elf" ? "sh -c ./bins.sh" : "C:\\Windows\\Explorer.EXE"
    }
  }
}

const buildVariant = (index: number): Template => {
  const variant = variants[index]
  const rng = mulberry32(0x5eed_0000 + index)
  const { family, familyCategory, results, stats } = analysisResults(rng, variant)
  const detected = variant.malicious > 0
  const sigmaResults: Array<Record<string, unknown>> = []
  const yara = detected
    ? Corpus.yaraRules.slice(0, 3).map(([rule_name, ruleset_name, source, author]) => ({
      rule_name,
      ruleset_name,
      ruleset_id: hexString(rng, 10),
      description: `Detects ${rule_name.toLowerCase().replace(/_/g, " ")}`,
      author,
      source
    }))
    : []
  const ids = detected
    ? Corpus.idsRules.map(([rule_msg, rule_category, alert_severity]) => ({
      rule_msg,
      rule_category,
      alert_severity,
      rule_source: "Proofpoint Emerging Threats Open",
      rule_id: `1:${intBetween(rng, 2_000_000, 2_060_000)}`,
      rule_url: "https://rules.emergingthreats.net/",
      alert_context: [{
        dest_ip: `${intBetween(rng, 1, 223)}.${intBetween(rng, 0, 255)}.${intBetween(rng, 0, 255)}.${
          intBetween(rng, 1, 254)
        }`,
        dest_port: pick(rng, [80, 443, 587, 53]),
        hostname: pick(rng, ["api.ipify.org", "api.telegram.org", "mail.example-smtp.com"])
      }]
    }))
    : []
  // Every per-file value comes first, so that the bulk of the document after them is one shared static tail.
  const attributes: Record<string, unknown> = {
    sha256: str("SHA256"),
    sha1: str("SHA1"),
    md5: str("MD5"),
    ssdeep: str("SSDEEP"),
    tlsh: str("TLSH"),
    size: num("SIZE"),
    names: [...variant.otherNames, `${str("SHA256")}.${variant.extension}`, `${str("MD5")}`],
    first_submission_date: num("FIRST_SUBMISSION"),
    first_seen_itw_date: num("FIRST_ITW"),
    last_submission_date: num("LAST_SUBMISSION"),
    last_analysis_date: num("LAST_ANALYSIS"),
    last_modification_date: num("LAST_MODIFICATION"),
    times_submitted: num("TIMES_SUBMITTED"),
    unique_sources: num("UNIQUE_SOURCES"),
    reputation: num("REPUTATION"),
    total_votes: { harmless: num("VOTES_HARMLESS"), malicious: num("VOTES_MALICIOUS") },
    meaningful_name: variant.meaningfulName,
    type_description: variant.typeDescription,
    type_tag: variant.typeTag,
    type_extension: variant.extension,
    magic: variant.magic,
    magika: variant.magika,
    tags: variant.tags,
    vhash: hexString(rng, 32),
    trid: trid(variant),
    last_analysis_stats: stats,
    last_analysis_results: results,
    popular_threat_classification: detected
      ? {
        suggested_threat_label: `${familyCategory}.${family}/msil`,
        popular_threat_category: [{ count: variant.malicious, value: familyCategory }, { count: 6, value: "spyware" }],
        popular_threat_name: [{ count: Math.ceil(variant.malicious / 2), value: family }, { count: 4, value: "msil" }]
      }
      : undefined,
    sandbox_verdicts: detected
      ? {
        "Zenbox": {
          category: "malicious",
          confidence: intBetween(rng, 60, 100),
          sandbox_name: "Zenbox",
          malware_classification: ["MALWARE", "TROJAN"],
          malware_names: [family.toUpperCase()]
        },
        "C2AE": {
          category: "malicious",
          sandbox_name: "C2AE",
          malware_classification: ["MALWARE"],
          malware_names: [family]
        }
      }
      : {},
    crowdsourced_ids_results: ids,
    crowdsourced_ids_stats: {
      high: ids.filter((r) => r.alert_severity === "high").length,
      medium: ids.filter((r) => r.alert_severity === "medium").length,
      low: ids.filter((r) => r.alert_severity === "low").length,
      info: 0
    },
    crowdsourced_yara_results: yara,
    sigma_analysis_results: sigmaResults,
    ...kindSection(rng, variant)
  }
  const document = {
    data: {
      id: str("SHA256"),
      type: "file",
      links: { self: `https://www.virustotal.com/api/v3/files/${str("SHA256")}` },
      attributes
    }
  }
  // Real reports are bulky mostly because of behaviour-derived sections; pad with Sigma matches to the target size.
  const withSigmaStats = () => {
    const levels = { critical: 0, high: 0, medium: 0, low: 0 }
    const summary: Record<string, typeof levels> = {}
    for (const r of sigmaResults) {
      const level = r.rule_level as keyof typeof levels
      const source = r.rule_source as string
      levels[level]++
      summary[source] ??= { critical: 0, high: 0, medium: 0, low: 0 }
      summary[source][level]++
    }
    attributes.sigma_analysis_stats = levels
    attributes.sigma_analysis_summary = summary
    return JSON.stringify(document)
  }
  // Measure what is served, not the template: the sentinels are shorter than the values they stand for.
  let json = withSigmaStats()
  for (let i = 0; T.filledLength(json, 64, 10) < TARGET_SIZE; i++) {
    const rule = Corpus.sigmaRules[i % Corpus.sigmaRules.length]
    sigmaResults.push({
      rule_title: rule.title,
      rule_source: rule.source,
      match_context: Array.from({ length: 1 + (i % 3) }, () => sigmaMatch(rng, variant, rule.title)),
      rule_level: rule.level,
      rule_description: `Detects ${rule.title.toLowerCase()}`,
      rule_author: pick(rng, ["Florian Roth (Nextron Systems)", "frack113", "Joe Security", "Nasreddine Bencherchali"]),
      rule_id: hexString(rng, 64)
    })
    json = withSigmaStats()
  }
  return { ...T.parse(json), results, stats }
}

const template = T.memo(buildVariant)

// ---------------------------------------------------------------------------------------------------------------
// Per-id values
// ---------------------------------------------------------------------------------------------------------------

const HASH_ID = /^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$/

/** The lower-cased id when it is an MD5, SHA-1 or SHA-256 in hex; undefined otherwise. */
export const normaliseFileId = (id: string): string | undefined => {
  const lower = id.toLowerCase()
  return HASH_ID.test(lower) ? lower : undefined
}

const sha256 = (s: string): Buffer => createHash("sha256").update(s).digest()

/** unknown iff the first hex digit of SHA-256(lower-cased id) is 0, 1 or 2 (about 19 % of ids). */
const knownDigest = (digest: Buffer): boolean => digest[0] >> 4 > 2

export const isKnown = (id: string): boolean => knownDigest(sha256(id.toLowerCase()))

const values = (id: string, digest: Buffer, variant: Variant): Record<Slot, string> => {
  const u32 = (offset: number) => digest.readUInt32BE(offset)
  // One SHA-512 yields the two hashes that were not requested (sha256 | md5, or sha1 | sha256 | md5).
  const derived = id.length === 64 ? undefined : createHash("sha512").update(`vt-emulator/${id}`).digest("hex")
  const fileSha256 = derived === undefined ? id : derived.slice(0, 64)
  const fileSha1 = id.length === 40 ? id : createHash("sha1").update(`vt-emulator/${id}`).digest("hex")
  const fileMd5 = id.length === 32 ?
    id :
    (derived ?? createHash("md5").update(`vt-emulator/${id}`).digest("hex")).slice(
      -32
    )
  const size = variant.minSize + (u32(2) % (variant.maxSize - variant.minSize))
  const firstSubmission = EPOCH_START + (u32(6) % (EPOCH_END - EPOCH_START - 86_400 * 30))
  const lastAnalysis = firstSubmission + (u32(10) % (EPOCH_END - firstSubmission))
  const lastSubmission = firstSubmission + (u32(14) % (lastAnalysis - firstSubmission + 1))
  const timesSubmitted = 1 + (u32(18) % 400)
  const detected = variant.malicious > 0
  const digestB64 = digest.toString("base64").replace(/[+/=]/g, "")
  let blockSize = 3
  while (blockSize * 64 < size) blockSize *= 2
  return {
    SHA256: fileSha256,
    SHA1: fileSha1,
    MD5: fileMd5,
    SSDEEP: `${blockSize}:${digestB64.slice(0, 38)}:${digestB64.slice(20, 40)}`,
    TLSH: `T1${(fileSha256 + fileSha1).slice(0, 70).toUpperCase()}`,
    SIZE: String(size),
    FIRST_SUBMISSION: String(firstSubmission),
    LAST_SUBMISSION: String(lastSubmission),
    LAST_ANALYSIS: String(lastAnalysis),
    LAST_MODIFICATION: String(lastAnalysis + (u32(22) % 86_400)),
    FIRST_ITW: String(firstSubmission - (u32(26) % 2_000_000)),
    TIMES_SUBMITTED: String(timesSubmitted),
    UNIQUE_SOURCES: String(1 + (u32(18) % Math.min(timesSubmitted, 120))),
    REPUTATION: String(detected ? -(u32(27) % (variant.malicious + 10)) : u32(27) % 4),
    VOTES_HARMLESS: String(digest[28] % (detected ? 3 : 15)),
    VOTES_MALICIOUS: String(detected ? digest[29] % 20 : 0)
  }
}

/**
 * What GET /files/{id} answers, before faults: status and exact body bytes, as a per-file head and the template's
 * shared tail. Sending the two as they are (one writev) keeps the bulk of every answer in one hot buffer instead of
 * copying 40 KB per request.
 */
export interface FileAnswer extends T.Body {
  readonly status: 200 | 400 | 404
  readonly id: string
}

/** The whole body in a fresh buffer (the parts are shared and must not be handed out). */
export const answerBody = (answer: FileAnswer): Buffer => T.copy(answer)

/**
 * The most recent answers, by id as requested. A hit costs nothing: a client re-requesting the same ids (retries,
 * tests, the one-document benchmark) gets the same bytes. Only heads (about 1.5 KB) are kept per id; malformed ids
 * are not worth keeping (and may be anything a client typed).
 */
const recent = T.cache<FileAnswer>({ limit: 1024, keep: (answer) => answer.status !== 400 })

export const answerFile = (rawId: string): FileAnswer => recent(rawId, () => buildAnswer(rawId))

const buildAnswer = (rawId: string): FileAnswer => {
  const id = normaliseFileId(rawId)
  if (id === undefined) {
    return {
      status: 400,
      id: rawId,
      ...errorDocument("InvalidArgumentError", `"${rawId}" is not a valid file identifier (MD5, SHA-1 or SHA-256)`)
    }
  }
  const digest = sha256(id)
  if (!knownDigest(digest)) return { status: 404, id, ...errorDocument("NotFoundError", `File "${rawId}" not found`) }
  const index = digest[1] % variants.length
  return { status: 200, id, ...T.render(template(index), values(id, digest, variants[index])) }
}

// ---------------------------------------------------------------------------------------------------------------
// What the other endpoints need to know about a file
// ---------------------------------------------------------------------------------------------------------------

/** What a variant is, for the endpoints that describe a file without serving its report (behaviour, v2). */
export interface VariantInfo {
  readonly index: number
  readonly kind: Kind
  readonly typeTag: string
  readonly meaningfulName: string
  readonly extension: string
  readonly malicious: boolean
  readonly family: string
  readonly familyCategory: string
  readonly tags: ReadonlyArray<string>
}

export const variantCount = variants.length

export const variantInfo = (index: number): VariantInfo => {
  const v = variants[index]
  const { category, family } = Corpus.families[v.family]
  return {
    index,
    kind: v.kind,
    typeTag: v.typeTag,
    meaningfulName: v.meaningfulName,
    extension: v.extension,
    malicious: v.malicious > 0,
    family,
    familyCategory: category,
    tags: v.tags
  }
}

/** The engine verdicts and their counts shared by every report of a variant. */
export const variantResults = (index: number): Pick<Template, "results" | "stats"> => template(index)

/** The identity of a file as its report names it. */
export interface FileIdentity {
  readonly sha256: string
  readonly sha1: string
  readonly md5: string
  readonly size: number
  readonly variant: number
  /** Unix seconds, for the v2 `scan_date` and analyses of known files. */
  readonly lastAnalysisDate: number
}

/** The identity the report of a hash gives the file (whether or not the rule knows the hash). */
export const fileIdentity = (rawId: string): FileIdentity | undefined => {
  const id = normaliseFileId(rawId)
  if (id === undefined) return undefined
  const digest = sha256(id)
  const index = digest[1] % variants.length
  const v = values(id, digest, variants[index])
  return {
    sha256: v.SHA256,
    sha1: v.SHA1,
    md5: v.MD5,
    size: Number(v.SIZE),
    variant: index,
    lastAnalysisDate: Number(v.LAST_ANALYSIS)
  }
}

/** The variant an uploaded file's report uses: chosen by its SHA-256, as for any other file. */
export const variantOfSha256 = (sha256Hex: string): number => sha256(sha256Hex)[1] % variants.length

/**
 * The report of a file uploaded to the emulator: the template of its variant with the real hashes and size of the
 * bytes received. Not cached: uploads are rare and per server.
 */
export const answerUploaded = (
  file: { readonly sha256: string; readonly sha1: string; readonly md5: string; readonly size: number },
  lastAnalysis: number
): FileAnswer => {
  const digest = sha256(file.sha256)
  const index = digest[1] % variants.length
  const v = values(file.sha256, digest, variants[index])
  const at = String(lastAnalysis)
  const overridden: Record<Slot, string> = {
    ...v,
    SHA1: file.sha1,
    MD5: file.md5,
    SIZE: String(file.size),
    FIRST_SUBMISSION: at,
    LAST_SUBMISSION: at,
    LAST_ANALYSIS: at,
    LAST_MODIFICATION: at,
    FIRST_ITW: at,
    TIMES_SUBMITTED: "1",
    UNIQUE_SOURCES: "1"
  }
  return { status: 200, id: file.sha256, ...T.render(template(index), overridden) }
}
