import { assert, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import { isIP } from "node:net"
import * as VtId from "../src/VtId.js"

const right = (result: Either.Either<string, string>): string => {
  if (Either.isLeft(result)) assert.fail(`expected a valid id, got: ${result.left}`)
  return result.right
}

const left = (result: Either.Either<string, string>): string => {
  if (Either.isRight(result)) assert.fail(`expected a rejection, got: ${result.right}`)
  return result.left
}

// Expands to 8 groups so two spellings of one IPv6 address can be compared.
const expand = (address: string): string => {
  const url = new URL(`http://[${address}]`).hostname.slice(1, -1)
  const [head, tail] = url.split("::")
  const h = head === "" ? [] : head.split(":")
  const t = tail === undefined || tail === "" ? [] : tail.split(":")
  const groups = tail === undefined ? h : [...h, ...Array.from({ length: 8 - h.length - t.length }, () => "0"), ...t]
  return groups.map((g) => g.padStart(4, "0")).join(":")
}

describe("fileHash", () => {
  const md5 = "d41d8cd98f00b204e9800998ecf8427e"
  const sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
  const sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

  it("accepts MD5, SHA-1 and SHA-256 and lower-cases them", () => {
    assert.strictEqual(right(VtId.fileHash(md5)), md5)
    assert.strictEqual(right(VtId.fileHash(sha1)), sha1)
    assert.strictEqual(right(VtId.fileHash(sha256)), sha256)
    assert.strictEqual(right(VtId.fileHash(sha256.toUpperCase())), sha256)
    assert.strictEqual(right(VtId.fileHash("D41D8cd98F00B204e9800998ecf8427E")), md5)
  })

  it("trims spaces, tabs and line ends", () => {
    assert.strictEqual(right(VtId.fileHash(`  ${md5}\t`)), md5)
    assert.strictEqual(right(VtId.fileHash(`${sha1}\r\n`)), sha1)
    assert.strictEqual(right(VtId.fileHash(`\uFEFF${sha256}`)), sha256)
  })

  it("rejects everything else with one explanation", () => {
    const reason = "not an MD5, SHA-1 or SHA-256 hash (expected 32, 40 or 64 hex characters)"
    for (
      const input of [
        "",
        "   ",
        "xyz",
        md5.slice(1),
        `${md5}0`,
        sha1.slice(1),
        `${sha256}0`,
        sha256.slice(1),
        `g${md5.slice(1)}`,
        `0x${md5.slice(2)}`,
        `${md5.slice(0, 16)} ${md5.slice(17)}`,
        `${md5}${sha1}`,
        "ｄ41d8cd98f00b204e9800998ecf8427e"
      ]
    ) {
      assert.strictEqual(left(VtId.fileHash(input)), reason, JSON.stringify(input))
    }
  })

  const hex = (length: number) =>
    FastCheck.array(FastCheck.constantFrom(..."0123456789abcdefABCDEF"), { minLength: length, maxLength: length })
      .map((chars) => chars.join(""))
  const padding = FastCheck.array(FastCheck.constantFrom(" ", "\t", "\r", "\n"), { maxLength: 3 }).map((a) =>
    a.join("")
  )

  it.prop(
    "any-case hex of a hash length, padded, normalises to its lower-case self",
    [FastCheck.oneof(hex(32), hex(40), hex(64)), padding, padding],
    ([hash, before, after]) => right(VtId.fileHash(`${before}${hash}${after}`)) === hash.toLowerCase()
  )

  it.prop(
    "hex of any other length is rejected",
    [FastCheck.integer({ min: 0, max: 100 }).filter((n) => n !== 32 && n !== 40 && n !== 64).chain(hex)],
    ([hash]) => Either.isLeft(VtId.fileHash(hash))
  )

  it.prop(
    "a normalised hash is a fixed point",
    [FastCheck.string({ maxLength: 70 })],
    ([input]) =>
      Either.match(VtId.fileHash(input), {
        onLeft: () => true,
        onRight: (hash) => Either.getOrThrow(VtId.fileHash(hash)) === hash && /^[0-9a-f]+$/.test(hash)
      })
  )
})

describe("domain", () => {
  it("lower-cases, converts IDNs and drops one trailing dot", () => {
    const cases: ReadonlyArray<[string, string]> = [
      ["example.com", "example.com"],
      ["Example.COM", "example.com"],
      [" www.Example.com \r\n", "www.example.com"],
      ["example.com.", "example.com"],
      ["münchen.de", "xn--mnchen-3ya.de"],
      ["MÜNCHEN.DE", "xn--mnchen-3ya.de"],
      ["xn--mnchen-3ya.de", "xn--mnchen-3ya.de"],
      ["пример.рф", "xn--e1afmkfd.xn--p1ai"],
      ["_dmarc.example.com", "_dmarc.example.com"],
      ["a-b.c-d.example.co.uk", "a-b.c-d.example.co.uk"],
      ["123.example.com", "123.example.com"],
      ["example。com", "example.com"],
      [`${"a".repeat(63)}.com`, `${"a".repeat(63)}.com`]
    ]
    for (const [input, expected] of cases) {
      assert.strictEqual(right(VtId.domain(input)), expected, input)
    }
  })

  it("rejects what is not a domain name", () => {
    for (
      const input of [
        "",
        " ",
        ".",
        "localhost",
        "com",
        "1.2.3.4",
        "example.123",
        "http://example.com",
        "example.com/path",
        "example.com:443",
        "user@example.com",
        "exa%41mple.com",
        "exa mple.com",
        "-example.com",
        "example-.com",
        "example.-com",
        "example..com",
        ".example.com",
        "example.com..",
        "ex!ample.com",
        "ex*ample.com",
        "example.c_m",
        "xn--zz.de",
        "[::1]",
        "example.com?q",
        "example.com#x",
        "exa\\mple.com",
        `${"a".repeat(64)}.com`,
        `${Array.from({ length: 60 }, () => "abcd").join(".")}.com`
      ]
    ) {
      assert.isTrue(Either.isLeft(VtId.domain(input)), JSON.stringify(input))
    }
  })

  it("explains a single label", () => {
    assert.include(left(VtId.domain("localhost")), "at least two labels")
  })

  it.prop("generated domain names are accepted, lower-cased", [FastCheck.domain()], ([name]) => {
    const normalised = right(VtId.domain(name.toUpperCase()))
    return normalised === name.toLowerCase()
  })

  it.prop(
    "a normalised domain is a fixed point and fits report keys",
    [FastCheck.oneof(FastCheck.domain(), FastCheck.string({ maxLength: 40 }))],
    ([input]) =>
      Either.match(VtId.domain(input), {
        onLeft: () => true,
        onRight: (name) => Either.getOrThrow(VtId.domain(name)) === name && /^[a-z0-9._-]{1,253}$/.test(name)
      })
  )
})

describe("ipAddress", () => {
  it("accepts IPv4 as written and canonicalises IPv6 (RFC 5952)", () => {
    const cases: ReadonlyArray<[string, string]> = [
      ["1.2.3.4", "1.2.3.4"],
      [" 8.8.8.8\n", "8.8.8.8"],
      ["255.255.255.255", "255.255.255.255"],
      ["0.0.0.0", "0.0.0.0"],
      ["::1", "::1"],
      ["::", "::"],
      ["1::", "1::"],
      ["2001:DB8::1", "2001:db8::1"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
      ["FE80:0000:0000:0000:0202:B3FF:FE1E:8329", "fe80::202:b3ff:fe1e:8329"],
      ["::ffff:1.2.3.4", "::ffff:1.2.3.4"],
      ["::FFFF:0102:0304", "::ffff:1.2.3.4"],
      ["::1.2.3.4", "::102:304"],
      ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"]
    ]
    for (const [input, expected] of cases) {
      assert.strictEqual(right(VtId.ipAddress(input)), expected, input)
    }
  })

  it("rejects what is not an address", () => {
    for (
      const input of [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.4/24",
        "example.com",
        "fe80::1%eth0",
        "1:2:3:4:5:6:7:8:9",
        "2001:db8::g",
        "[::1]",
        "1.2.3.4:80",
        ":::"
      ]
    ) {
      assert.isTrue(Either.isLeft(VtId.ipAddress(input)), JSON.stringify(input))
    }
  })

  it.prop("IPv4 addresses are kept as written", [FastCheck.ipV4()], ([ip]) => right(VtId.ipAddress(ip)) === ip)

  it.prop(
    "IPv6 addresses keep their value, are canonical and stable",
    [FastCheck.ipV6()],
    ([ip]) => {
      const canonical = right(VtId.ipAddress(ip.toUpperCase()))
      const whatwg = new URL(`http://[${ip}]`).hostname.slice(1, -1)
      return isIP(canonical) === 6 &&
        expand(canonical) === expand(ip) &&
        right(VtId.ipAddress(canonical)) === canonical &&
        // The WHATWG serialiser follows RFC 5952 too, except that it spells mapped IPv4 in hex.
        (canonical.startsWith("::ffff:") && canonical.includes(".") ? true : canonical === whatwg)
    }
  )
})

describe("url", () => {
  it("accepts http and https URLs, trimmed and otherwise as written", () => {
    for (
      const input of [
        "http://www.virustotal.com",
        "https://example.com/a/b?c=d#e",
        "HTTP://EXAMPLE.COM/Path",
        "http://1.2.3.4:8080/",
        "http://[::1]/x",
        "https://user:pass@example.com/",
        "https://münchen.de/ä"
      ]
    ) {
      assert.strictEqual(right(VtId.url(input)), input)
      assert.strictEqual(right(VtId.url(` ${input}\r\n`)), input)
    }
  })

  it("rejects other schemes, relative references and whitespace", () => {
    for (
      const input of [
        "",
        "example.com",
        "www.example.com/path",
        "/relative",
        "ftp://example.com/",
        "javascript:alert(1)",
        "mailto:someone@example.com",
        "file:///etc/passwd",
        "http://",
        "http://exa mple.com/",
        "http://example.com/a b",
        "http://example.com/\tx"
      ]
    ) {
      assert.isTrue(Either.isLeft(VtId.url(input)), JSON.stringify(input))
    }
  })

  it.prop(
    "generated web URLs are accepted as written",
    [FastCheck.webUrl()],
    ([input]) => right(VtId.url(input)) === input
  )
})

describe("urlId", () => {
  it("is VirusTotal's unpadded URL-safe base64", () => {
    assert.strictEqual(VtId.urlId("http://www.virustotal.com"), "aHR0cDovL3d3dy52aXJ1c3RvdGFsLmNvbQ")
    assert.strictEqual(VtId.urlId("https://a.b/?x=>>>"), "aHR0cHM6Ly9hLmIvP3g9Pj4-")
    assert.strictEqual(VtId.urlId("http://a.b/??"), "aHR0cDovL2EuYi8_Pw")
  })

  it.prop("round-trips and uses only the URL-safe alphabet", [FastCheck.webUrl()], ([input]) => {
    const id = VtId.urlId(input)
    return /^[A-Za-z0-9_-]*$/.test(id) && Buffer.from(id, "base64url").toString("utf8") === input
  })
})

describe("analysisId", () => {
  // As VirusTotal hands them out: base64 of "<md5>:<unix seconds>", and "u-<url sha256>-<unix seconds>".
  const fileAnalysis = Buffer.from("66424e91c022a925c46565d3ace31ffb:1475048277").toString("base64")
  const urlAnalysis = `u-${"a".repeat(64)}-1715100808`

  it("accepts VirusTotal's file and URL analysis ids, trimmed and otherwise unchanged", () => {
    assert.strictEqual(fileAnalysis, "NjY0MjRlOTFjMDIyYTkyNWM0NjU2NWQzYWNlMzFmZmI6MTQ3NTA0ODI3Nw==")
    assert.strictEqual(right(VtId.analysisId(fileAnalysis)), fileAnalysis)
    assert.strictEqual(right(VtId.analysisId(` ${urlAnalysis}\r\n`)), urlAnalysis)
    assert.strictEqual(right(VtId.analysisId("ab+/cd==")), "ab+/cd==")
    assert.strictEqual(right(VtId.analysisId("x".repeat(VtId.maxAnalysisIdLength))), "x".repeat(150))
  })

  it("refuses anything else, saying why", () => {
    for (
      const input of [
        "",
        "short",
        "x".repeat(151),
        "../../etc/passwd",
        "abc def ghi",
        "abcdefgh.json",
        "abc%2Fdefgh",
        "abcdefgh=",
        "abcdef===",
        "ab=cdefgh",
        "ab-c+defgh=",
        "abcdefg\u0000",
        "ｆｕｌｌｗｉｄｔｈ"
      ]
    ) {
      assert.match(left(VtId.analysisId(input)), /^not an analysis id/, JSON.stringify(input))
    }
  })

  it.prop(
    "accepts the standard base64 of any bytes that make 8 to 150 characters",
    [FastCheck.uint8Array({ minLength: 6, maxLength: 112 })],
    ([bytes]) => {
      const id = Buffer.from(bytes).toString("base64")
      return Either.getOrUndefined(VtId.analysisId(id)) === id
    }
  )
})
