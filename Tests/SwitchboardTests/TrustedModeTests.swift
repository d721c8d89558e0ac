import Foundation
import SwitchboardRuntime
import Testing

/// Trusted (in-process) plugins are not contained, but the host stays honest about them
/// (docs/SANDBOX.md, "Trusted mode"): an overrunning call is reported, a stop is bounded, and no
/// process a plugin forked outlives the host.
@Suite(.serialized) struct TrustedModeTests {
    /// A host running one trusted zoo plugin polled every 50 ms, its output in a file.
    func host(_ name: String, _ flag: String, worker: String) throws -> (Process, String, URL) {
        let dir = TestEnv.tempDir("sbtrusted")
        let plugins = dir + "/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        _ = try TestEnv.zoo(name, [flag], in: plugins)
        try """
            version: 1
            store: sqlite:\(dir)/store.db
            plugins: { dir: \(plugins), trusted: [\(name)] }
            worker: { \(worker) }
            tenants:
              - id: acme
                connections:
                  - { id: zoo, plugin: \(name), config: { base_url: "https://api.invalid", records: 2 }, poll: { every: 50ms, streams: [accounts] } }
            """.write(toFile: dir + "/switchboard.yaml", atomically: true, encoding: .utf8)
        let host = Process()
        host.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
        host.arguments = ["run", "--config", dir + "/switchboard.yaml"]
        let log = URL(fileURLWithPath: dir + "/host.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        host.standardOutput = handle
        host.standardError = handle
        try host.run()
        return (host, dir, log)
    }

    static func processes(named name: String) -> [pid_t] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
            (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) == name
        }
    }

    static func parent(of pid: pid_t) -> pid_t? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    /// A trusted plugin forks a process and orphans it: it becomes the host's (subreaper), and the
    /// host ends it when it stops. Without the subreaper it would be init's and outlive the host.
    @Test func noProcessATrustedPluginForkedOutlivesTheHost() throws {
        for pid in Self.processes(named: "zoo-orphan") { kill(pid, SIGKILL) }
        let (host, _, log) = try host("zoo-forker", "ZOO_FORK_ORPHAN", worker: "deadline: 5s")
        var orphans: [pid_t] = []
        let deadline = Date().addingTimeInterval(20)
        while orphans.isEmpty && Date() < deadline {
            usleep(50_000)
            orphans = Self.processes(named: "zoo-orphan")
        }
        #expect(orphans.count == 1, "the plugin left its process behind")
        #expect(orphans.first.flatMap(Self.parent) == host.processIdentifier, "the orphan is the host's child (subreaper)")
        usleep(300_000)
        kill(host.processIdentifier, SIGTERM)
        host.waitUntilExit()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(host.terminationStatus == 0, "\(output.suffix(1500))")
        #expect(Self.processes(named: "zoo-orphan").isEmpty, "a process the plugin forked outlived the host")
        #expect(output.contains("ended processes a plugin left behind"))
    }

    /// A trusted call that never returns: the watchdog reports it once it overruns its deadline, and
    /// SIGTERM still ends the host within worker.stop_timeout, with exit code 5.
    @Test func aHungTrustedCallIsReportedAndTheHostStillStops() throws {
        let (host, _, log) = try host("zoo-hang-trusted", "ZOO_HANG", worker: "deadline: 1s, stop_timeout: 2s")
        let deadline = Date().addingTimeInterval(20)
        func output() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
        while !output().contains("overran its deadline") && Date() < deadline { usleep(100_000) }
        #expect(output().contains("a trusted plugin's call overran its deadline"), "\(output().suffix(1500))")
        #expect(output().contains("\"connection\":\"zoo\""))
        let stopping = Date()
        kill(host.processIdentifier, SIGTERM)
        host.waitUntilExit()
        let took = Date().timeIntervalSince(stopping)
        #expect(host.terminationReason == .exit && host.terminationStatus == RuntimeService.stopTimedOutExitCode,
                "status \(host.terminationStatus)\n\(output().suffix(1500))")
        #expect(took < 10, "the stop took \(took) s with stop_timeout 2 s")
        #expect(output().contains("stop did not finish: a trusted plugin's call has not returned"))
        #expect(output().contains("zoo-hang-trusted (zoo), ") && output().contains("ms past its deadline"), "\(output().suffix(1500))")
    }
}
