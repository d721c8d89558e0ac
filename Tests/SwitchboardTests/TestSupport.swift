import Foundation
import SwitchboardStore
import SwitchboardStorePostgres
import Testing

/// Paths and helpers shared by the tests: the repository, the built products,
/// temporary folders, running commands, compiling C fixtures.
enum TestEnv {
    /// The repository root (this file is Tests/SwitchboardTests/TestSupport.swift).
    static let repoRoot: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let header = repoRoot + "/PluginSDK/include"

    /// The store drivers the tests' configurations may name, as the CLI's composition root lists them.
    static let stores = StoreDrivers([SQLiteDriver(), PostgresDriver()])

    /// Where SwiftPM put this build's products (the test binary's folder).
    static let productsDir: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // On some layouts the binary sits inside NAME.xctest/; products are beside that bundle.
        while url.path.contains(".xctest") { url.deleteLastPathComponent() }
        return url.path
    }()

    static func product(_ name: String) -> String { productsDir + "/" + name }

    static var switchboard: String { product("switchboard") }

    /// A fresh empty directory under /tmp.
    static func tempDir(_ label: String = "sbtest") -> String {
        var template = Array("/tmp/\(label)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        // Sandbox workers run as another uid (nobody) when the tests run as root: a test's directory
        // is open to them, so plugins there load and sinks and file connectors can write.
        chmod(path, 0o777)
        return path
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs a program to completion and captures its output.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    currentDirectory: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Drain both pipes concurrently so a chatty child cannot block on a full pipe.
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a shell command line (for compiler invocations written as a person would type them).
    @discardableResult
    static func shell(_ command: String, in directory: String? = nil) throws -> Result {
        try run("/bin/sh", ["-c", command], currentDirectory: directory)
    }

    /// Compiles Tests/Fixtures/fixture_plugin.c with the given -D flags into `dir/name.so`.
    static func fixture(_ name: String, _ defines: [String] = [], in dir: String? = nil) throws -> String {
        let folder = dir ?? tempDir("sbfix")
        let output = "\(folder)/\(name).so"
        let flags = defines.map { "-D\($0)" }.joined(separator: " ")
        let result = try shell("cc -shared -fPIC -Wall -Wextra -Werror -Wno-unused-function -Wno-unused-const-variable -I '\(header)' \(flags) -o '\(output)' '\(repoRoot)/Tests/Fixtures/fixture_plugin.c'")
        guard result.status == 0 else { throw FixtureError(message: result.stderr) }
        return output
    }

    /// Compiles Tests/Fixtures/zoo_plugin.c (the fault zoo and conformance fixtures) into `dir/name.so`
    /// with plugin id `id` and the given ZOO_* flags.
    static func zoo(_ name: String, id: String? = nil, _ flags: [String] = [], in dir: String? = nil) throws -> String {
        let folder = dir ?? tempDir("sbzoo")
        let output = "\(folder)/\(name).so"
        let defines = (flags + ["ZOO_ID='\"\(id ?? name)\"'"]).map { "-D\($0)" }.joined(separator: " ")
        let result = try shell("cc -D_GNU_SOURCE -shared -fPIC -Wall -Wextra -Werror -I '\(header)' -I '\(repoRoot)/Plugins/shared' \(defines) -o '\(output)' '\(repoRoot)/Tests/Fixtures/zoo_plugin.c'")
        guard result.status == 0 else { throw FixtureError(message: result.stderr) }
        return output
    }

    /// Pids of live processes whose parent is `parent` and whose command line contains `marker`.
    static func children(of parent: pid_t, containing marker: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z", Int32(fields[1]) == parent else { return false }
            let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
            return String(decoding: cmdline, as: UTF8.self).contains(marker)
        }
    }

    /// A loopback TCP port nobody listens on now: the kernel picks it (bind to port 0), so a
    /// server started right after does not collide with another one, as a random pick can.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        precondition(bound, "could not bind a loopback port")
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// True while a process with this pid exists (and is not a zombie).
    static func alive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    struct FixtureError: Error { var message: String }
}

/// The file of testkit's sink (`path:`): one `idempotency-key sink-id external-id` line per write it stored.
enum SinkLog {
    static func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// How many whole lines the sink holds, without splitting them into strings: kill loops ask this between kills,
    /// and splitting a sink of 300,000 lines each time slowed the loop enough to change what it measured.
    static func count(_ path: String) -> Int {
        guard let data = FileManager.default.contents(atPath: path) else { return 0 }
        return data.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    }

    /// Every version of every record R-1...R-`records` stored exactly once, in whole lines, each record one record at
    /// the sink (its later versions updated what the first created). A version lost, or skipped because it ran after
    /// a newer one, shows as a missing line.
    static func expectEveryVersionOnce(_ written: [String], records: Int, versions: Int, _ context: String,
                                       sourceLocation: SourceLocation = #_sourceLocation) {
        let fields = written.map { $0.split(separator: " ").map(String.init) }.filter { $0.count == 3 }
        #expect(fields.count == written.count, "torn sink lines: \(written.filter { $0.split(separator: " ").count != 3 })",
                sourceLocation: sourceLocation)
        #expect(written.count == records * versions,
                "sink has \(written.count) lines for \(records) records x \(versions) versions (\(context))", sourceLocation: sourceLocation)
        #expect(Set(fields.map { $0[0] }).count == fields.count, "an idempotency key was written twice", sourceLocation: sourceLocation)
        let byRecord = Dictionary(grouping: fields, by: { $0[2] })
        #expect(Set(byRecord.keys) == Set((1...records).map { "R-\($0)" }), "a record is missing", sourceLocation: sourceLocation)
        let wrong = byRecord.filter { $0.value.count != versions || Set($0.value.map { $0[1] }).count != 1 }
        #expect(wrong.isEmpty, "records not written once per version as one sink record: \(wrong.prefix(3))", sourceLocation: sourceLocation)
    }
}
