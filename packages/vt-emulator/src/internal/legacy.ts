/**
 * The legacy v2 answers (`/vtapi/v2/…`): `response_code` 1 found, 0 unknown, -2 queued, -1 invalid; `scans` per
 * engine. The engine verdicts are the same as the v3 report's; a file or URL report is a template per variant, whose
 * static tail is its scans. The other answers are small and serialised per request.
 */
import { createHash } from "node:crypto"
import { type FileIdentity, variantResults as fileVariantResults } from "./document.js"
import { derivedIp, objectResults, objectVariant, variantResults } from "./objects.js"
import * as T from "./template.js"

const scanDate = (seconds: number): string => new Date(seconds * 1000).toISOString().slice(0, 19).replace("T", " ")

const fileReports = T.memo((variant: number) => {
  const scans: Record<string, { detected: boolean; version: string; result: string | null; update: string }> = {}
  let positives = 0
  for (const [engine, r] of Object.entries(fileVariantResults(variant).results)) {
    if (r.category === "type-unsupported") continue
    const detected = r.category === "malicious"
    if (detected) positives++
    scans[engine] = { detected, version: r.engine_version, result: detected ? r.result : null, update: r.engine_update }
  }
  return T.compile({
    response_code: 1,
    verbose_msg: "Scan finished, information embedded",
    resource: T.text("RESOURCE"),
    scan_id: `${T.text("SHA256")}-${T.text("ANALYSED")}`,
    md5: T.text("MD5"),
    sha1: T.text("SHA1"),
    sha256: T.text("SHA256"),
    scan_date: T.text("SCAN_DATE"),
    permalink: `https://www.virustotal.com/gui/file/${T.text("SHA256")}/detection/f-${T.text("SHA256")}-${
      T.text("ANALYSED")
    }`,
    positives,
    total: Object.keys(scans).length,
    scans
  })
})

/** `file/report` for a file found. */
export const fileReport = (resource: string, file: FileIdentity, analysed: number): T.Body =>
  T.render(fileReports(file.variant), {
    RESOURCE: T.escape(resource),
    SHA256: file.sha256,
    MD5: file.md5,
    SHA1: file.sha1,
    ANALYSED: String(analysed),
    SCAN_DATE: scanDate(analysed)
  })

export const unknownResource = (resource: string): T.Body =>
  T.json({
    response_code: 0,
    resource,
    verbose_msg: "The requested resource is not among the finished, queued or pending scans"
  })

export const queued = (resource: string, scanId: string): T.Body =>
  T.json({ response_code: -2, resource, scan_id: scanId, verbose_msg: "Your resource is queued for analysis" })

export const invalid = (resource: string, what: string): T.Body =>
  T.json({ response_code: -1, resource, verbose_msg: `Invalid ${what}` })

/** `file/scan` accepted. */
export const fileScanQueued = (file: { sha256: string; sha1: string; md5: string }, at: number): T.Body =>
  T.json({
    response_code: 1,
    verbose_msg: "Scan request successfully queued, come back later for the report",
    resource: file.sha256,
    scan_id: `${file.sha256}-${at}`,
    permalink: `https://www.virustotal.com/gui/file/${file.sha256}/detection/f-${file.sha256}-${at}`,
    sha256: file.sha256,
    sha1: file.sha1,
    md5: file.md5
  })

/** `url/scan` accepted. */
export const urlScanQueued = (url: string, id: string, at: number): T.Body =>
  T.json({
    response_code: 1,
    verbose_msg: "Scan request successfully queued, come back later for the report",
    scan_id: `${id}-${at}`,
    scan_date: scanDate(at),
    url,
    permalink: `https://www.virustotal.com/gui/url/${id}/detection/u-${id}-${at}`,
    resource: url
  })

const urlReports = T.memo((variant: number) => {
  const scans: Record<string, { detected: boolean; result: string }> = {}
  let positives = 0
  for (const [engine, r] of Object.entries(variantResults("url", variant).results)) {
    const detected = r.category === "malicious"
    if (detected) positives++
    scans[engine] = { detected, result: r.result === "unrated" ? "unrated site" : `${r.result} site` }
  }
  return T.compile({
    response_code: 1,
    verbose_msg: "Scan finished, scan information embedded in this object",
    resource: T.text("RESOURCE"),
    url: T.text("URL"),
    scan_id: `${T.text("ID")}-${T.text("ANALYSED")}`,
    scan_date: T.text("SCAN_DATE"),
    permalink: `https://www.virustotal.com/gui/url/${T.text("ID")}/detection/u-${T.text("ID")}-${T.text("ANALYSED")}`,
    filescan_id: null,
    positives,
    total: Object.keys(scans).length,
    scans
  })
})

/** `url/report` for a URL found. */
export const urlReport = (resource: string, url: string, id: string, analysed: number): T.Body =>
  T.render(urlReports(objectVariant("url", id)), {
    RESOURCE: T.escape(resource),
    URL: T.escape(url),
    ID: T.escape(id),
    ANALYSED: String(analysed),
    SCAN_DATE: scanDate(analysed)
  })

const digestOf = (s: string): Buffer => createHash("sha256").update(s).digest()

const detectedUrls = (seed: string, host: string, malicious: boolean) =>
  malicious
    ? Array.from({ length: 3 }, (_, i) => {
      const d = digestOf(`${seed}/${i}`)
      return {
        url: `http://${host}/${d.toString("hex").slice(0, 8)}`,
        positives: 1 + (d[0] % 12),
        total: 90,
        scan_date: scanDate(1_714_000_000 + d.readUInt16BE(1) * 10)
      }
    })
    : []

/** `domain/report` for a domain found. */
export const domainReport = (domain: string): T.Body => {
  const { stats } = objectResults("domain", domain)
  const d = digestOf(domain)
  return T.json({
    response_code: 1,
    verbose_msg: "Domain found in dataset",
    categories: stats.malicious > 0 ? ["malicious web sites"] : ["information technology"],
    resolutions: Array.from({ length: 3 }, (_, i) => ({
      last_resolved: scanDate(1_714_000_000 - i * 86_400),
      ip_address: derivedIp(digestOf(`${domain}/${i}`))
    })),
    subdomains: [`www.${domain}`, `mail.${domain}`],
    detected_urls: detectedUrls(domain, domain, stats.malicious > 0),
    undetected_urls: [],
    whois: `Domain Name: ${domain}\nRegistrar: Registrar ${d[0]}`,
    whois_timestamp: 1_714_000_000
  })
}

/** `ip-address/report` for an address found. */
export const ipReport = (ip: string): T.Body => {
  const { stats } = objectResults("ip_address", ip)
  const d = digestOf(ip)
  return T.json({
    response_code: 1,
    verbose_msg: "IP address in dataset",
    asn: 1000 + d.readUInt16BE(2),
    as_owner: "Hosting Provider",
    country: "NL",
    network: `${ip}/32`,
    resolutions: Array.from({ length: 3 }, (_, i) => ({
      last_resolved: scanDate(1_714_000_000 - i * 86_400),
      hostname: `${digestOf(`${ip}/${i}`).toString("hex").slice(0, 10)}.com`
    })),
    detected_urls: detectedUrls(ip, ip, stats.malicious > 0),
    undetected_urls: []
  })
}

export const domainUnknown = (domain: string): T.Body =>
  T.json({ response_code: 0, resource: domain, verbose_msg: "Domain not found" })

export const ipUnknown = (ip: string): T.Body =>
  T.json({ response_code: 0, resource: ip, verbose_msg: "IP address not in dataset" })
