/**
 * Raw material for the synthetic file reports. The names are the ones VirusTotal reports really carry, so that
 * documents look (and weigh) like the real thing; none of the values mean anything.
 */

/** Engine name and the version string style that engine uses. */
export const engines: ReadonlyArray<readonly [name: string, version: string, mobileOnly?: boolean]> = [
  ["Bkav", "2.0.0.1"],
  ["Lionic", "8.16"],
  ["Elastic", "4.0.203"],
  ["MicroWorld-eScan", "14.0.409.0"],
  ["FireEye", "35.47.0.0"],
  ["CAT-QuickHeal", "22.00"],
  ["Skyhigh", "v2021.2.0+4045"],
  ["ALYac", "2.0.0.10"],
  ["Cylance", "3.0.0.0"],
  ["Zillya", "2.0.0.5379"],
  ["Sangfor", "2.22.3.0"],
  ["K7AntiVirus", "13.16.52814"],
  ["Alibaba", "0.3.0.5"],
  ["K7GW", "13.16.52813"],
  ["Cybereason", "1.2.449"],
  ["Arcabit", "2022.0.0.18"],
  ["BitDefenderTheta", "7.2.37796.0"],
  ["VirIT", "9.5.755"],
  ["Symantec", "1.22.0.0"],
  ["tehtris", "v0.1.4"],
  ["ESET-NOD32", "29226"],
  ["APEX", "6.520"],
  ["Paloalto", "0.9.0.1003"],
  ["ClamAV", "1.3.1.0"],
  ["Kaspersky", "22.0.1.28"],
  ["BitDefender", "7.2"],
  ["NANO-Antivirus", "1.0.146.25796"],
  ["SUPERAntiSpyware", "5.6.0.1032"],
  ["Avast", "23.9.8494.0"],
  ["Rising", "25.0.0.27"],
  ["Trustlook", "1.0", true],
  ["TACHYON", "2024-05-07.02"],
  ["Sophos", "2.5.5.0"],
  ["F-Secure", "18.10.1547.307"],
  ["DrWeb", "7.0.63.3190"],
  ["VIPRE", "6.0.0.35"],
  ["TrendMicro", "11.0.0.1006"],
  ["McAfeeD", "1.2.0.7977"],
  ["CMC", "2.4.2022.1"],
  ["Emsisoft", "2022.6.0.32461"],
  ["huorong", "e17a0e4:e17a0e4:59f4d16:59f4d16"],
  ["SentinelOne", "24.2.1.1"],
  ["GData", "A:25.37910B:27.35907"],
  ["Jiangmin", "16.0.100"],
  ["Webroot", "1.0.0.403"],
  ["Varist", "6.5.1.2"],
  ["Avira", "8.3.3.18"],
  ["Antiy-AVL", "3.0"],
  ["Kingsoft", "None"],
  ["Gridinsoft", "1.0.169.174"],
  ["Xcitium", "36712"],
  ["Microsoft", "1.1.24040.1"],
  ["ViRobot", "2014.3.20.0"],
  ["ZoneAlarm", "1.0"],
  ["Google", "1715097636"],
  ["AhnLab-V3", "3.25.1.10473"],
  ["Acronis", "1.2.0.121"],
  ["McAfee", "6.0.6.653"],
  ["MAX", "2023.1.4.1"],
  ["VBA32", "5.0.0"],
  ["Malwarebytes", "4.5.5.54"],
  ["Zoner", "2.2.2.0"],
  ["TrendMicro-HouseCall", "10.0.0.1040"],
  ["Tencent", "1.0.0.1"],
  ["Yandex", "5.5.2.24"],
  ["Ikarus", "6.3.9.0"],
  ["MaxSecure", "1.0.0.1"],
  ["Fortinet", "None"],
  ["AVG", "23.9.8494.0"],
  ["Panda", "4.6.4.2"],
  ["CrowdStrike", "1.0"],
  ["Avast-Mobile", "240507-02", true],
  ["SymantecMobileInsight", "2.0", true],
  ["BitDefenderFalx", "2.0.936.0", true]
]

/** Families, with the detection-name shapes engines use for them. */
export const families: ReadonlyArray<{ readonly family: string; readonly category: string }> = [
  { family: "agenttesla", category: "trojan" },
  { family: "formbook", category: "trojan" },
  { family: "emotet", category: "trojan" },
  { family: "lockbit", category: "ransomware" },
  { family: "redline", category: "trojan" },
  { family: "qakbot", category: "trojan" },
  { family: "mirai", category: "trojan" },
  { family: "cobaltstrike", category: "trojan" },
  { family: "njrat", category: "trojan" },
  { family: "xmrig", category: "miner" }
]

export const detectionName = (engine: string, family: string, category: string, n: number): string => {
  const Family = family.charAt(0).toUpperCase() + family.slice(1)
  const suffix = n.toString(16).toUpperCase()
  switch (n % 8) {
    case 0:
      return `Trojan.GenericKD.${70_000_000 + n * 7919}`
    case 1:
      return `Win32:${Family}-${suffix} [Trj]`
    case 2:
      return `${category === "ransomware" ? "Ransom" : "Trojan"}:Win32/${Family}.${suffix}!MTB`
    case 3:
      return `HEUR:Trojan-PSW.MSIL.${Family}.gen`
    case 4:
      return `${engine === "Ikarus" ? "Trojan-Spy" : "Trojan"}.${Family}`
    case 5:
      return `W32/${Family}.${suffix}!tr`
    case 6:
      return `Gen:Variant.${Family}.${1000 + n}`
    default:
      return `malicious (high confidence)`
  }
}

export const libraries: ReadonlyArray<readonly [library: string, functions: ReadonlyArray<string>]> = [
  ["KERNEL32.dll", [
    "GetModuleHandleW",
    "GetProcAddress",
    "LoadLibraryExW",
    "VirtualAlloc",
    "VirtualFree",
    "VirtualProtect",
    "CreateFileW",
    "ReadFile",
    "WriteFile",
    "CloseHandle",
    "GetLastError",
    "SetLastError",
    "GetCurrentProcess",
    "GetCurrentProcessId",
    "GetCurrentThreadId",
    "TerminateProcess",
    "ExitProcess",
    "CreateThread",
    "Sleep",
    "WaitForSingleObject",
    "GetTickCount",
    "QueryPerformanceCounter",
    "GetSystemTimeAsFileTime",
    "InitializeCriticalSectionAndSpinCount",
    "EnterCriticalSection",
    "LeaveCriticalSection",
    "DeleteCriticalSection",
    "HeapAlloc",
    "HeapFree",
    "HeapReAlloc",
    "HeapSize",
    "GetProcessHeap",
    "MultiByteToWideChar",
    "WideCharToMultiByte",
    "GetStartupInfoW",
    "GetCommandLineW",
    "GetEnvironmentStringsW",
    "FreeEnvironmentStringsW",
    "SetUnhandledExceptionFilter",
    "UnhandledExceptionFilter",
    "IsDebuggerPresent",
    "IsProcessorFeaturePresent",
    "GetModuleFileNameW",
    "FindFirstFileExW",
    "FindNextFileW",
    "FindClose",
    "GetFileType",
    "GetStdHandle",
    "FlushFileBuffers",
    "SetFilePointerEx",
    "GetConsoleMode",
    "GetConsoleOutputCP",
    "WriteConsoleW",
    "RaiseException",
    "RtlUnwind",
    "TlsAlloc",
    "TlsGetValue",
    "TlsSetValue",
    "TlsFree",
    "FreeLibrary",
    "LCMapStringW",
    "CompareStringW",
    "GetStringTypeW",
    "GetCPInfo",
    "GetACP",
    "GetOEMCP",
    "IsValidCodePage",
    "EncodePointer",
    "DecodePointer",
    "CreateEventW",
    "SetEvent",
    "ResetEvent",
    "GetSystemInfo",
    "GetVersionExW",
    "GetTempPathW",
    "GetWindowsDirectoryW",
    "CreateProcessW",
    "OpenProcess",
    "WriteProcessMemory",
    "ReadProcessMemory",
    "CreateRemoteThread",
    "CreateToolhelp32Snapshot",
    "Process32FirstW",
    "Process32NextW"
  ]],
  ["USER32.dll", [
    "MessageBoxW",
    "GetMessageW",
    "TranslateMessage",
    "DispatchMessageW",
    "PostQuitMessage",
    "DefWindowProcW",
    "RegisterClassExW",
    "CreateWindowExW",
    "ShowWindow",
    "UpdateWindow",
    "GetWindowTextW",
    "GetForegroundWindow",
    "GetAsyncKeyState",
    "GetKeyboardState",
    "SetWindowsHookExW",
    "CallNextHookEx",
    "UnhookWindowsHookEx",
    "OpenClipboard",
    "GetClipboardData",
    "CloseClipboard",
    "FindWindowW",
    "SendMessageW",
    "LoadIconW",
    "LoadCursorW",
    "wsprintfW"
  ]],
  ["ADVAPI32.dll", [
    "RegOpenKeyExW",
    "RegQueryValueExW",
    "RegSetValueExW",
    "RegCreateKeyExW",
    "RegDeleteValueW",
    "RegCloseKey",
    "OpenProcessToken",
    "GetTokenInformation",
    "LookupPrivilegeValueW",
    "AdjustTokenPrivileges",
    "CryptAcquireContextW",
    "CryptCreateHash",
    "CryptHashData",
    "CryptDeriveKey",
    "CryptDecrypt",
    "CryptReleaseContext",
    "GetUserNameW",
    "OpenSCManagerW",
    "CreateServiceW",
    "StartServiceW"
  ]],
  ["WS2_32.dll", [
    "WSAStartup",
    "WSACleanup",
    "socket",
    "connect",
    "send",
    "recv",
    "closesocket",
    "gethostbyname",
    "inet_addr",
    "htons",
    "getaddrinfo",
    "freeaddrinfo",
    "select",
    "ioctlsocket"
  ]],
  ["WININET.dll", [
    "InternetOpenW",
    "InternetOpenUrlW",
    "InternetReadFile",
    "InternetCloseHandle",
    "HttpOpenRequestW",
    "HttpSendRequestW",
    "InternetConnectW",
    "HttpQueryInfoW"
  ]],
  ["SHELL32.dll", [
    "ShellExecuteW",
    "ShellExecuteExW",
    "SHGetFolderPathW",
    "SHGetSpecialFolderPathW",
    "CommandLineToArgvW"
  ]],
  ["ole32.dll", [
    "CoInitialize",
    "CoInitializeEx",
    "CoCreateInstance",
    "CoUninitialize",
    "CoTaskMemFree",
    "OleInitialize"
  ]],
  ["CRYPT32.dll", ["CryptUnprotectData", "CryptStringToBinaryA", "CertOpenStore", "CertCloseStore"]],
  ["mscoree.dll", ["_CorExeMain"]],
  ["GDI32.dll", ["CreateCompatibleDC", "CreateCompatibleBitmap", "SelectObject", "BitBlt", "DeleteObject", "DeleteDC"]]
]

export const sigmaRules: ReadonlyArray<
  { readonly title: string; readonly level: "critical" | "high" | "medium" | "low"; readonly source: string }
> = [
  { title: "Suspicious Process Start Locations", level: "medium", source: "Sigma Integrated Rule Set (GitHub)" },
  { title: "Potential Persistence Via Registry Run Keys", level: "high", source: "Sigma Integrated Rule Set (GitHub)" },
  { title: "Suspicious Schtasks From Env Var Folder", level: "high", source: "Sigma Integrated Rule Set (GitHub)" },
  { title: "Windows Defender Exclusions Added - Registry", level: "medium", source: "SOC Prime Threat Detection" },
  { title: "Creation of an Executable by an Executable", level: "high", source: "Sigma Integrated Rule Set (GitHub)" },
  { title: "Suspicious Outbound SMTP Connections", level: "medium", source: "Sigma Integrated Rule Set (GitHub)" },
  { title: "Powershell Defender Exclusion", level: "critical", source: "Sigma Integrated Rule Set (GitHub)" },
  { title: "Non Interactive PowerShell Process Spawned", level: "low", source: "Sigma Integrated Rule Set (GitHub)" },
  { title: "Credential Access Via Browser Login Data", level: "high", source: "Joe Security Rule Set (GitHub)" },
  { title: "Suspicious Desktop Ini Action", level: "medium", source: "Sigma Integrated Rule Set (GitHub)" },
  { title: "Process Creation Using Sysnative Folder", level: "medium", source: "Sigma Integrated Rule Set (GitHub)" },
  { title: "Uncommon Network Connection Initiated By Certutil", level: "high", source: "SOC Prime Threat Detection" }
]

export const yaraRules: ReadonlyArray<readonly [rule: string, ruleset: string, source: string, author: string]> = [
  ["SUSP_XORed_MSDOS_Stub_Message", "gen_xor_hunting", "https://github.com/Neo23x0/signature-base", "Florian Roth"],
  ["MALWARE_Win_AgentTeslaV3", "malware", "https://github.com/ditekshen/detection", "ditekSHen"],
  [
    "INDICATOR_SUSPICIOUS_EXE_TelegramChatBot",
    "indicator_suspicious",
    "https://github.com/ditekshen/detection",
    "ditekSHen"
  ],
  [
    "Windows_Trojan_Formbook_772cc62d",
    "Windows_Trojan_Formbook",
    "https://github.com/elastic/protections-artifacts",
    "Elastic Security"
  ],
  ["pe_imphash", "pe_imphash", "https://github.com/bartblaze/Yara-rules", "bartblaze"],
  [
    "MAL_RANSOM_LockBit_Indicators_Oct23",
    "mal_ransom_lockbit",
    "https://github.com/Neo23x0/signature-base",
    "Florian Roth"
  ]
]

export const idsRules: ReadonlyArray<readonly [msg: string, category: string, severity: "high" | "medium" | "low"]> = [
  ["ET MALWARE AgentTesla Exfil Via SMTP", "A Network Trojan was detected", "high"],
  ["ET POLICY Observed Telegram API Domain in TLS SNI", "Potential Corporate Privacy Violation", "low"],
  [
    "ET INFO External IP Lookup Domain in DNS Lookup (api .ipify .org)",
    "Device Retrieving External IP Address Detected",
    "medium"
  ],
  ["ET MALWARE Win32/RedLine Stealer Activity", "A Network Trojan was detected", "high"],
  ["ET HUNTING Suspicious Windows Commands in HTTP Request Body", "Potentially Bad Traffic", "medium"]
]
