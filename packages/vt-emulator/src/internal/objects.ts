/**
 * Synthetic URL, domain and IP address objects, built like the file reports: one template per variant, compiled
 * once, and a splice of the per-object values (id, name, dates, counters) per answer.
 */
import { createHash } from "node:crypto"
import { isIP } from "node:net"
import { hexString, intBetween, mulberry32, pick, type Prng } from "./prng.js"
import * as T from "./template.js"

const EPOCH_END = 1_715_040_000 // 2024-05-07T00:00:00Z, as for files
const EPOCH_START = 1_420_070_400 // 2015-01-01T00:00:00Z

export type ObjectKind = "url" | "domain" | "ip_address"

const sha256 = (s: string): Buffer => createHash("sha256").update(s).digest()

/** The same rule as for files: unknown iff the first hex digit of SHA-256(lower-cased id) is 0, 1 or 2. */
export const isKnownId = (id: string): boolean => sha256(id.toLowerCase())[0] >> 4 > 2

// ---------------------------------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------------------------------

/**
 * The URL as the emulator canonicalises it (WHATWG serialisation: lower-cased scheme and host, "/" for an empty
 * path), or undefined when it is not an http(s) URL. VirusTotal's own canonicalisation does more; the emulator only
 * needs one that is stable.
 */
export const canonicalUrl = (url: string): string | undefined => {
  try {
    const parsed = new URL(url.trim())
    return (parsed.protocol === "http:" || parsed.protocol === "https:") && parsed.hostname !== ""
      ? parsed.href
      : undefined
  } catch {
    return undefined
  }
}

/** The URL object id: the SHA-256 (hex) of the canonical URL. */
export const urlObjectId = (url: string): string | undefined => {
  const canonical = canonicalUrl(url)
  return canonical === undefined ? undefined : createHash("sha256").update(canonical).digest("hex")
}

/**
 * A `/urls/{id}` id: 64 hex digits are the object id itself; anything else must be the unpadded URL-safe base64
 * of an http(s) URL.
 */
export const parseUrlId = (raw: string): { readonly id: string; readonly url: string | undefined } | undefined => {
  if (/^[0-9a-fA-F]{64}$/.test(raw)) return { id: raw.toLowerCase(), url: undefined }
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(raw)) return undefined
  const url = Buffer.from(raw, "base64url").toString("utf8")
  const canonical = canonicalUrl(url)
  if (canonical === undefined || !/^https?:\/\//i.test(url)) return undefined
  return { id: createHash("sha256").update(canonical).digest("hex"), url }
}

const DOMAIN = /^(?=.{1,253}$)(?:(?!-)[a-z0-9_-]{1,63}(?<!-)\.)+(?!-)(?=[a-z0-9-]*[a-z])[a-z0-9-]{1,63}(?<!-)$/

export const parseDomain = (raw: string): string | undefined => {
  const name = raw.toLowerCase().replace(/\.$/, "")
  return DOMAIN.test(name) ? name : undefined
}

export const parseIp = (raw: string): string | undefined => (isIP(raw) === 0 ? undefined : raw.toLowerCase())

// ---------------------------------------------------------------------------------------------------------------
// Engines
// ---------------------------------------------------------------------------------------------------------------

const urlEngines: ReadonlyArray<string> = [
  "Acronis",
  "0xSI_f33d",
  "Abusix",
  "ADMINUSLabs",
  "Criminal IP",
  "AILabs (MONITORAPP)",
  "AlienVault",
  "alphaMountain.ai",
  "AlphaSOC",
  "Antiy-AVL",
  "ArcSight Threat Intelligence",
  "AutoShun",
  "Avira",
  "benkow.cc",
  "Bfore.Ai PreCrime",
  "BitDefender",
  "Bkav",
  "BlockList",
  "Blueliv",
  "Certego",
  "Chong Lua Dao",
  "CINS Army",
  "Cluster25",
  "CMC Threat Intelligence",
  "CRDF",
  "CrowdSec",
  "Cyble",
  "CyRadar",
  "desenmascara.me",
  "DNS8",
  "Dr.Web",
  "Emsisoft",
  "ESET",
  "ESTsecurity",
  "EmergingThreats",
  "Forcepoint ThreatSeeker",
  "Fortinet",
  "G-Data",
  "GCP Abuse Intelligence",
  "Google Safebrowsing",
  "GreenSnow",
  "Gridinsoft",
  "Heimdal Security",
  "IPsum",
  "Juniper Networks",
  "Kaspersky",
  "Lionic",
  "Lumu",
  "MalwarePatrol",
  "MalwareURL",
  "Malwared",
  "Netcraft",
  "OpenPhish",
  "Phishing Database",
  "PhishFort",
  "PhishLabs",
  "Phishtank",
  "PREBYTES",
  "PrecisionSec",
  "Quick Heal",
  "Quttera",
  "Rising",
  "SafeToOpen",
  "Sangfor",
  "Sansec eComscan",
  "Scantitan",
  "SCUMWARE.org",
  "Seclookup",
  "SecureBrain",
  "Segasec",
  "SOCRadar",
  "Sophos",
  "Spam404",
  "StopForumSpam",
  "Sucuri SiteCheck",
  "ThreatHive",
  "Threatsourcing",
  "Trustwave",
  "URLhaus",
  "URLQuery",
  "Viettel Threat Intelligence",
  "VIPRE",
  "ViriBack",
  "Webroot",
  "Xcitium Verdict Cloud",
  "Yandex Safebrowsing",
  "ZeroCERT",
  "ZeroFox"
]

export type UrlCategory = "harmless" | "malicious" | "suspicious" | "undetected" | "timeout"

export interface UrlEngineResult {
  readonly method: "blacklist"
  readonly engine_name: string
  readonly category: UrlCategory
  readonly result: string
}

interface Variant {
  readonly malicious: number
  readonly suspicious: number
  readonly label: "phishing" | "malware" | "malicious" | "clean"
  readonly tags: ReadonlyArray<string>
  readonly title: string
  readonly categories: ReadonlyArray<string>
}

const variantsByKind: Readonly<Record<ObjectKind, ReadonlyArray<Variant>>> = {
  url: [
    {
      malicious: 14,
      suspicious: 2,
      label: "phishing",
      tags: ["external-resources", "iframes"],
      title: "Sign in to your account",
      categories: ["phishing and other frauds", "Phishing", "phishing"]
    },
    {
      malicious: 9,
      suspicious: 1,
      label: "malware",
      tags: ["ip", "downloads-pe"],
      title: "Index of /bins",
      categories: ["malware sites", "Malicious", "malicious web sites"]
    },
    {
      malicious: 0,
      suspicious: 0,
      label: "clean",
      tags: ["external-resources", "third-party-cookies"],
      title: "Example Domain",
      categories: ["information technology", "Information Technology", "computersandsoftware"]
    },
    {
      malicious: 1,
      suspicious: 3,
      label: "malicious",
      tags: ["redirector", "trackers"],
      title: "Redirecting…",
      categories: ["web ads/analytics", "Advertisements", "marketing"]
    }
  ],
  domain: [
    {
      malicious: 11,
      suspicious: 1,
      label: "phishing",
      tags: ["dga"],
      title: "",
      categories: ["phishing and other frauds", "Phishing", "phishing"]
    },
    {
      malicious: 0,
      suspicious: 0,
      label: "clean",
      tags: [],
      title: "",
      categories: ["search engines and portals", "Search Engines", "searchengines"]
    },
    {
      malicious: 4,
      suspicious: 2,
      label: "malware",
      tags: ["known-distributor"],
      title: "",
      categories: ["malware sites", "Malicious", "malicious web sites"]
    }
  ],
  ip_address: [
    {
      malicious: 7,
      suspicious: 1,
      label: "malicious",
      tags: ["suspicious-udp", "self-signed"],
      title: "",
      categories: []
    },
    { malicious: 0, suspicious: 0, label: "clean", tags: [], title: "", categories: [] },
    { malicious: 2, suspicious: 1, label: "malware", tags: ["tor-exit"], title: "", categories: [] }
  ]
}

const resultText = (variant: Variant, category: UrlCategory): string =>
  category === "malicious"
    ? variant.label === "clean" ? "malicious" : variant.label
    : category === "suspicious"
    ? "suspicious"
    : category === "harmless"
    ? "clean"
    : "unrated"

const engineResults = (rng: Prng, variant: Variant) => {
  const order = urlEngines.map((_, i) => i)
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1))
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  const category = new Map<number, UrlCategory>()
  const undetected = Math.floor(urlEngines.length * 0.3)
  order.forEach((engine, rank) => {
    category.set(
      engine,
      rank < variant.malicious
        ? "malicious"
        : rank < variant.malicious + variant.suspicious
        ? "suspicious"
        : rank >= urlEngines.length - 1
        ? "timeout"
        : rank >= urlEngines.length - 1 - undetected
        ? "undetected"
        : "harmless"
    )
  })
  const results: Record<string, UrlEngineResult> = {}
  const stats: Record<UrlCategory, number> = { harmless: 0, malicious: 0, suspicious: 0, undetected: 0, timeout: 0 }
  urlEngines.forEach((engine_name, i) => {
    const c = category.get(i) ?? "undetected"
    stats[c]++
    results[engine_name] = { method: "blacklist", engine_name, category: c, result: resultText(variant, c) }
  })
  return { results, stats }
}

const certificate = (rng: Prng, subject: string) => ({
  cert_signature: { signature_algorithm: "sha256RSA", signature: hexString(rng, 512) },
  extensions: {
    key_usage: ["digitalSignature", "keyEncipherment"],
    extended_key_usage: ["serverAuth", "clientAuth"],
    subject_key_identifier: hexString(rng, 40),
    subject_alternative_name: [subject, `www.${subject}`],
    certificate_policies: ["2.23.140.1.2.1"],
    ca_information_access: {
      "CA Issuers": "http://r3.i.lencr.org/",
      OCSP: "http://r3.o.lencr.org"
    },
    CA: false
  },
  validity: { not_after: "2024-07-30 08:14:10", not_before: "2024-05-01 08:14:11" },
  size: 1290,
  version: "V3",
  public_key: {
    algorithm: "RSA",
    rsa: { modulus: hexString(rng, 512), exponent: "10001", key_size: 2048 }
  },
  thumbprint_sha256: hexString(rng, 64),
  thumbprint: hexString(rng, 40),
  serial_number: hexString(rng, 36),
  issuer: { C: "US", O: "Let's Encrypt", CN: "R3" },
  subject: { CN: subject }
})

const categoriesOf = (variant: Variant) =>
  variant.categories.length === 0
    ? {}
    : {
      "Forcepoint ThreatSeeker": variant.categories[0],
      "BitDefender": variant.categories[1],
      "Sophos": variant.categories[2],
      "alphaMountain.ai": variant.categories[1]
    }

// ---------------------------------------------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------------------------------------------

interface KindTemplate extends T.Template {
  readonly results: Readonly<Record<string, UrlEngineResult>>
  readonly stats: Readonly<Record<UrlCategory, number>>
}

const common = (variant: Variant) => ({
  reputation: T.value("REPUTATION"),
  total_votes: { harmless: T.value("VOTES_HARMLESS"), malicious: T.value("VOTES_MALICIOUS") },
  last_analysis_date: T.value("LAST_ANALYSIS"),
  last_modification_date: T.value("LAST_MODIFICATION"),
  tags: variant.tags,
  categories: categoriesOf(variant)
})

const buildUrl = (rng: Prng, variant: Variant, scan: ReturnType<typeof engineResults>) => ({
  data: {
    id: T.text("ID"),
    type: "url",
    links: { self: `https://www.virustotal.com/api/v3/urls/${T.text("ID")}` },
    attributes: {
      url: T.text("URL"),
      last_final_url: T.text("URL"),
      first_submission_date: T.value("FIRST_SUBMISSION"),
      last_submission_date: T.value("LAST_SUBMISSION"),
      times_submitted: T.value("TIMES_SUBMITTED"),
      ...common(variant),
      title: variant.title,
      has_content: variant.label !== "clean",
      last_http_response_code: variant.label === "malware" ? 200 : pick(rng, [200, 301, 302]),
      last_http_response_content_length: intBetween(rng, 500, 90_000),
      last_http_response_content_sha256: hexString(rng, 64),
      last_http_response_headers: {
        "content-type": variant.label === "malware" ? "application/octet-stream" : "text/html; charset=UTF-8",
        server: pick(rng, ["nginx", "Apache/2.4.41 (Ubuntu)", "cloudflare", "LiteSpeed"]),
        date: "Tue, 07 May 2024 09:12:44 GMT",
        "cache-control": "no-cache",
        "x-frame-options": "SAMEORIGIN"
      },
      html_meta: variant.label === "clean" ? {} : { viewport: ["width=device-width, initial-scale=1"] },
      outgoing_links: Array.from(
        { length: intBetween(rng, 0, 6) },
        () => `https://cdn${intBetween(rng, 1, 9)}.example/`
      ),
      redirection_chain: [T.text("URL")],
      threat_names: variant.label === "clean" ? [] : [variant.label],
      trackers: variant.tags.includes("trackers") ? { "Google Tag Manager": [{ url: "https://gtm.example/" }] } : {},
      last_analysis_stats: scan.stats,
      last_analysis_results: scan.results
    }
  }
})

const buildDomain = (rng: Prng, variant: Variant, scan: ReturnType<typeof engineResults>) => ({
  data: {
    id: T.text("ID"),
    type: "domain",
    links: { self: `https://www.virustotal.com/api/v3/domains/${T.text("ID")}` },
    attributes: {
      ...common(variant),
      tld: T.text("TLD"),
      creation_date: T.value("CREATION"),
      expiration_date: T.value("EXPIRATION"),
      last_update_date: T.value("LAST_MODIFICATION"),
      registrar: pick(rng, ["NameCheap, Inc.", "GoDaddy.com, LLC", "MarkMonitor Inc.", "NameSilo, LLC"]),
      last_dns_records: [
        { type: "A", ttl: 300, value: T.text("IP") },
        { type: "NS", ttl: 21_600, value: "ns1.dns-provider.example" },
        { type: "NS", ttl: 21_600, value: "ns2.dns-provider.example" },
        { type: "MX", ttl: 3600, value: `mail.${T.text("ID")}`, priority: 10 },
        { type: "TXT", ttl: 3600, value: "v=spf1 include:_spf.example ~all" },
        {
          type: "SOA",
          ttl: 3600,
          value: "ns1.dns-provider.example",
          rname: "hostmaster.dns-provider.example",
          serial: 2_024_050_701,
          refresh: 10_000,
          retry: 2400,
          expire: 604_800,
          minimum: 3600
        }
      ],
      last_dns_records_date: T.value("LAST_ANALYSIS"),
      whois: `Domain Name: ${T.text("ID")}\nRegistry Domain ID: ${
        hexString(rng, 16)
      }_DOMAIN\nRegistrar WHOIS Server: whois.registrar.example\nCreation Date: 2019-03-11T10:02:44Z\nName Server: ns1.dns-provider.example\nDNSSEC: unsigned`,
      whois_date: T.value("LAST_MODIFICATION"),
      popularity_ranks: variant.label === "clean"
        ? { "Cisco Umbrella": { rank: intBetween(rng, 1, 5000), timestamp: EPOCH_END } }
        : {},
      jarm: hexString(rng, 62),
      last_https_certificate: certificate(rng, "@@ID@@"),
      last_https_certificate_date: T.value("LAST_ANALYSIS"),
      last_analysis_stats: scan.stats,
      last_analysis_results: scan.results
    }
  }
})

const buildIp = (rng: Prng, variant: Variant, scan: ReturnType<typeof engineResults>) => ({
  data: {
    id: T.text("ID"),
    type: "ip_address",
    links: { self: `https://www.virustotal.com/api/v3/ip_addresses/${T.text("ID")}` },
    attributes: {
      ...common(variant),
      network: T.text("NETWORK"),
      asn: T.value("ASN"),
      as_owner: pick(rng, ["DIGITALOCEAN-ASN", "OVH SAS", "Hetzner Online GmbH", "AMAZON-02", "Cloudflare, Inc."]),
      country: T.text("COUNTRY"),
      continent: "EU",
      regional_internet_registry: "RIPE NCC",
      whois: `NetRange: ${T.text("NETWORK")}\nOrgName: Hosting Provider\nCountry: ${T.text("COUNTRY")}\nOriginAS: AS${
        T.text("ASN_TEXT")
      }`,
      whois_date: T.value("LAST_MODIFICATION"),
      jarm: hexString(rng, 62),
      last_https_certificate: certificate(rng, "host.example"),
      last_https_certificate_date: T.value("LAST_ANALYSIS"),
      last_analysis_stats: scan.stats,
      last_analysis_results: scan.results
    }
  }
})

const builders = { url: buildUrl, domain: buildDomain, ip_address: buildIp }

const build = (kind: ObjectKind) => (index: number): KindTemplate => {
  const variant = variantsByKind[kind][index]
  const rng = mulberry32(0x0b1e_0000 + index * 7 + kind.length)
  const scan = engineResults(rng, variant)
  return { ...T.compile(builders[kind](rng, variant, scan)), ...scan }
}

const templates: Readonly<Record<ObjectKind, (index: number) => KindTemplate>> = {
  url: T.memo(build("url")),
  domain: T.memo(build("domain")),
  ip_address: T.memo(build("ip_address"))
}

const variantIndex = (kind: ObjectKind, digest: Buffer): number => digest[1] % variantsByKind[kind].length

/** The variant of an object, which decides its verdicts. */
export const objectVariant = (kind: ObjectKind, id: string): number => variantIndex(kind, sha256(id.toLowerCase()))

/** The engine verdicts of a variant (for analyses and v2 reports). */
export const variantResults = (kind: ObjectKind, index: number): Pick<KindTemplate, "results" | "stats"> =>
  templates[kind](index)

/** The engine verdicts of an object. */
export const objectResults = (kind: ObjectKind, id: string): Pick<KindTemplate, "results" | "stats"> =>
  variantResults(kind, objectVariant(kind, id))

export const isMaliciousObject = (kind: ObjectKind, id: string): boolean =>
  variantsByKind[kind][variantIndex(kind, sha256(id.toLowerCase()))].malicious > 0

const COUNTRIES = ["US", "DE", "NL", "RU", "CN", "FR", "GB", "SG", "BR", "UA"]

/** An IPv4 address derived from a digest, for DNS records and resolutions. */
export const derivedIp = (digest: Buffer): string =>
  `${1 + (digest[20] % 222)}.${digest[21]}.${digest[22]}.${1 + (digest[23] % 253)}`

const values = (kind: ObjectKind, id: string, url: string | undefined, digest: Buffer): Record<string, string> => {
  const u32 = (offset: number) => digest.readUInt32BE(offset)
  const first = EPOCH_START + (u32(6) % (EPOCH_END - EPOCH_START - 86_400 * 30))
  const last = first + (u32(10) % (EPOCH_END - first))
  const variant = variantsByKind[kind][variantIndex(kind, digest)]
  const detected = variant.malicious > 0
  const base: Record<string, string> = {
    ID: T.escapeAscii(id),
    REPUTATION: String(detected ? -(u32(27) % (variant.malicious * 3 + 5)) : u32(27) % 40),
    VOTES_HARMLESS: String(digest[28] % (detected ? 3 : 30)),
    VOTES_MALICIOUS: String(detected ? digest[29] % 20 : 0),
    LAST_ANALYSIS: String(last),
    LAST_MODIFICATION: String(last + (u32(22) % 86_400))
  }
  switch (kind) {
    case "url":
      return {
        ...base,
        URL: T.escapeAscii(url ?? `http://h${id.slice(0, 12)}.example/${id.slice(12, 20)}`),
        FIRST_SUBMISSION: String(first),
        LAST_SUBMISSION: String(first + (u32(14) % (last - first + 1))),
        TIMES_SUBMITTED: String(1 + (u32(18) % 200))
      }
    case "domain": {
      const labels = id.split(".")
      return {
        ...base,
        TLD: T.escapeAscii(labels[labels.length - 1]),
        CREATION: String(first - 86_400 * 400),
        EXPIRATION: String(EPOCH_END + 86_400 * (30 + (u32(2) % 700))),
        IP: derivedIp(digest)
      }
    }
    case "ip_address": {
      const asn = 1000 + (u32(2) % 60_000)
      const v4 = /^\d+\.\d+\.\d+\.\d+$/.test(id)
      return {
        ...base,
        NETWORK: v4 ? `${id.split(".").slice(0, 3).join(".")}.0/24` : `${id.split(":").slice(0, 3).join(":")}::/48`,
        ASN: String(asn),
        ASN_TEXT: String(asn),
        COUNTRY: COUNTRIES[digest[3] % COUNTRIES.length]
      }
    }
  }
}

/** An object's answer as head (per object) and shared tail. */
export interface ObjectAnswer extends T.Body {
  readonly status: 200
  readonly id: string
}

const recent = T.cache<ObjectAnswer>({ limit: 1024 })

/**
 * The document of a URL, domain or IP address the emulator knows. `id` is the object id (URL: the SHA-256 of the
 * canonical URL; domain: lower-cased name; IP: the address); `url`, for URLs, the URL to show (a synthetic one
 * when only the id is known).
 */
export const objectAnswer = (kind: ObjectKind, id: string, url?: string): ObjectAnswer =>
  recent(`${kind}/${id}/${url ?? ""}`, () => {
    const digest = sha256(id.toLowerCase())
    const t = templates[kind](variantIndex(kind, digest))
    return { status: 200, id, ...T.render(t, values(kind, id, url, digest)) }
  })
