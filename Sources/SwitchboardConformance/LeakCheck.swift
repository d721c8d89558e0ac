import Foundation

/// `--leaks`: the plugin's operations under valgrind, in the small
/// `switchboard-plugin-smoke` binary (valgrind 3.19 cannot read the full
/// CLI's debug info). Definite leaks and invalid accesses fail; the Swift
/// runtime's own metadata noise is suppressed by PluginSDK/valgrind/swift-runtime.supp.
enum LeakCheck {
    static func run(path: String, config: [UInt8], workerExecutable: String) -> ConformanceSession.Finding {
        let binDir = URL(fileURLWithPath: workerExecutable).deletingLastPathComponent()
        let smoke = binDir.appendingPathComponent("switchboard-plugin-smoke").path
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/valgrind") else {
            return .init(status: .failed, summary: "--leaks needs valgrind (apt-get install valgrind)")
        }
        guard FileManager.default.isExecutableFile(atPath: smoke) else {
            return .init(status: .failed, summary: "--leaks needs \(smoke) (built with the switchboard binary)")
        }
        guard let suppressions = suppressionFile(near: binDir) else {
            return .init(status: .failed, summary: "--leaks needs PluginSDK/valgrind/swift-runtime.supp (set SWITCHBOARD_SDK to the PluginSDK folder)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/valgrind")
        process.arguments = ["--suppressions=\(suppressions)", "--leak-check=full", "--show-leak-kinds=definite",
                             "--errors-for-leak-kinds=definite", "--error-exitcode=99", smoke, path, String(decoding: config, as: UTF8.self)]
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch { return .init(status: .failed, summary: "cannot run valgrind: \(error)") }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let summary = text.split(separator: "\n").filter { $0.contains("definitely lost") || $0.contains("ERROR SUMMARY") }
            .map { String($0.drop { $0 != " " }.dropFirst()) }
        if process.terminationStatus == 99 {
            let findings = text.split(separator: "\n").filter { $0.contains("Invalid") || $0.contains("definitely lost") || $0.contains("  at 0x") || $0.contains("by 0x") }
            return .init(status: .failed, summary: "valgrind found leaks or invalid memory access", details: (summary + findings.prefix(20).map(String.init)))
        }
        return .init(status: .passed, summary: "no definite leak, no invalid access", details: summary)
    }

    static func suppressionFile(near binDir: URL) -> String? {
        var candidates: [String] = []
        if let sdk = ProcessInfo.processInfo.environment["SWITCHBOARD_SDK"] { candidates.append(sdk + "/valgrind/swift-runtime.supp") }
        var dir = binDir
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent("PluginSDK/valgrind/swift-runtime.supp").path)
            dir.deleteLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }
}
