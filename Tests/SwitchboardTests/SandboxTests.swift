import Foundation
import Logging
import SwitchboardCore
import SwitchboardHost
import SwitchboardRuntime
import SwitchboardSandbox
import Testing

/// Sandboxed plugins (docs/SANDBOX.md): hardening, the fault zoo, supervision.
@Suite(.serialized) struct SandboxTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Fast failure handling for tests: a small address space, immediate restarts, a short grace.
    static func settings(breaker: Int = Int.max, cooldownMillis: Int64 = 30_000) -> SandboxSettings {
        var s = SandboxSettings()
        s.limits.memoryMB = 640
        s.restartBackoffMillis = 0
        s.maxRestartBackoffMillis = 0
        s.breakerFailures = breaker
        s.breakerCooldownMillis = cooldownMillis
        s.graceMillis = 300
        s.workerExecutable = TestEnv.switchboard
        return s
    }

    func open(_ path: String, settings: SandboxSettings = SandboxTests.settings(), config: String = #"{"base_url":"https://api.invalid"}"#) throws -> SandboxedPlugin {
        let plugin = try SandboxedPlugin.load(path: path, settings: settings)
        return try plugin.open(config: Array(config.utf8), services: InstanceServices(tenant: "acme", connection: "zoo", logger: Self.quiet))
    }

    func read(_ plugin: SandboxedPlugin, timeoutMillis: Int64 = 1_000) -> (CallOutcome, records: Int) {
        var records = 0
        let outcome = plugin.read(stream: "accounts", state: [], maxRecords: 5, deadline: Clock.monotonicNanoseconds() + timeoutMillis * 1_000_000,
                                  labels: [:]) { item in
            if item.kind == .record { records += 1 }
            return .ok
        }
        return (outcome, records)
    }

    @Test func theWorkerRunsHardened() throws {
        let plugin = try open(try TestEnv.zoo("zoo-good"))
        defer { plugin.close() }
        #expect(read(plugin).0.isOK)
        let pid = try #require(plugin.workerPID)
        // This machine kind (Landlock ABI 7) and CI run as root: every mechanism is in force.
        #expect(plugin.hardening == WorkerHardening(namespaces: true, uid: 65534, ownUser: true, landlockABI: 7, signalScope: true,
                                                    seccomp: true, rlimits: true), "\(plugin.hardening.summary)")
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("Seccomp:\t2"))
        #expect(status.contains("NoNewPrivs:\t1"))
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max address space") && $0.contains("671088640") })
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max core file size") && $0.contains(" 0 ") })
        let ownNet = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net") != ownNet)
    }

    /// The same plugin reaches a loopback server and forks in-process, and can do neither sandboxed.
    @Test func aSandboxedPluginHasNoNetworkAndNoChildren() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var bound = addr
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(listen(listener, 8) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let port = UInt16(bigEndian: bound.sin_port)
        let path = try TestEnv.zoo("zoo-escape", ["ZOO_ESCAPE"])
        let config = Array(#"{"base_url":"tcp:\#(port)"}"#.utf8)

        let trusted = try PluginLibrary.load(path: path).open(config: config)
        let inProcess = trusted.checkConnection(deadline: 0, labels: [:])
        trusted.close()
        #expect(inProcess.isOK, "in-process the plugin reaches 127.0.0.1:\(port): \(inProcess.summary)")
        #expect(inProcess.diagnostics.map(\.summary).contains("fork: started a process"))

        let sandboxed = try open(path, config: String(decoding: config, as: UTF8.self))
        defer { sandboxed.close() }
        let outcome = sandboxed.checkConnection(deadline: 0, labels: [:])
        #expect(outcome.status == .retry)
        let lines = outcome.diagnostics.map(\.summary)
        #expect(lines.contains("socket: Operation not permitted"), "\(lines)")
        #expect(lines.contains("fork: Operation not permitted"), "\(lines)")
    }

    /// Each fault: the call returns RETRY naming what happened, the worker restarts, the next call is handled.
    @Test(arguments: [
        ("ZOO_SEGV", PluginHealth.FailureKind.crash, "crashed with SIGSEGV"),
        ("ZOO_ABORT", .crash, "crashed with SIGABRT"),
        ("ZOO_HANG", .hang, "hung: no answer to read"),
        ("ZOO_OOM", .outOfMemory, "ran out of memory"),
        ("ZOO_EXIT0", .exit, "exited with status 0 during read"),
    ])
    func eachFaultIsContainedAndClassified(flag: String, kind: PluginHealth.FailureKind, text: String) throws {
        let plugin = try open(try TestEnv.zoo("zoo-\(flag.lowercased())", [flag]))
        defer { plugin.close() }
        let firstPID = plugin.workerPID
        for round in 1...2 {
            // Only the hang should meet the deadline; filling 640 MiB takes a while on a busy machine.
            let (outcome, _) = read(plugin, timeoutMillis: kind == .hang ? 500 : 20_000)
            #expect(outcome.status == .retry, "round \(round): \(outcome.summary)")
            #expect(outcome.diagnostics.first?.summary.contains(text) == true, "round \(round): \(outcome.summary)")
        }
        let health = plugin.status
        #expect(health.failures[kind] == 2)
        #expect(health.restarts >= 1, "the second call ran in a restarted worker")
        #expect(plugin.workerPID == nil || plugin.workerPID != firstPID)
        if let pid = firstPID { #expect(!TestEnv.alive(pid)) }
    }

    @Test func aCrashOnOneRecordDoesNotStopTheNext() throws {
        let plugin = try open(try TestEnv.zoo("zoo-marker", ["ZOO_CRASH_MARKER"]))
        defer { plugin.close() }
        let crashed = plugin.write(entity: "Account", idempotencyKey: "k1", externalID: "", record: Array(#"{"name":"crash-me"}"#.utf8),
                                   deadline: 0, labels: [:], onResult: nil)
        #expect(crashed.0.status == .retry)
        let fine = plugin.write(entity: "Account", idempotencyKey: "k2", externalID: "", record: Array(#"{"name":"fine"}"#.utf8),
                                deadline: 0, labels: [:], onResult: nil)
        #expect(fine.0.isOK, "the restarted worker re-opened the instance: \(fine.0.summary)")
        #expect(fine.1 == "Z-1")
        #expect(plugin.status.consecutiveFailures == 0)
    }

    @Test func outputCannotCorruptTheProtocolAndOversizeIsRefused() throws {
        let noisy = try open(try TestEnv.zoo("zoo-stdout", ["ZOO_STDOUT"]))
        defer { noisy.close() }
        for _ in 0..<3 { #expect(read(noisy).records == 5) }
        // The worker's output is drained by its own thread; give it time on a loaded machine.
        let drainDeadline = Clock.monotonicNanoseconds() + 5_000_000_000
        while noisy.printedBytes == 0 && Clock.monotonicNanoseconds() < drainDeadline { usleep(5_000) }
        #expect(noisy.printedBytes > 0)

        let oversize = try open(try TestEnv.zoo("zoo-oversize", ["ZOO_OVERSIZE"]))
        defer { oversize.close() }
        let (outcome, records) = read(oversize, timeoutMillis: 5_000)
        #expect(outcome.status == .fatal)
        #expect(records == 0)
        #expect(outcome.summary.contains("exceeds the 16 MiB limit"))
        #expect(oversize.status.failures.isEmpty, "an oversize item is the plugin's error, not a dead worker")
    }

    @Test func theCircuitOpensAfterRepeatedFailuresAndClosesAfterATrial() throws {
        let plugin = try open(try TestEnv.zoo("zoo-breaker", ["ZOO_CRASH_MARKER"]), settings: Self.settings(breaker: 3, cooldownMillis: 400))
        defer { plugin.close() }
        func write(_ name: String, _ key: String) -> CallOutcome {
            plugin.write(entity: "Account", idempotencyKey: key, externalID: "", record: Array(#"{"name":"\#(name)"}"#.utf8),
                         deadline: 0, labels: [:], onResult: nil).0
        }
        for i in 1...3 { #expect(write("crash-me", "c\(i)").status == .retry) }
        #expect(plugin.status.circuitOpen && plugin.status.degraded)
        let start = Clock.monotonicNanoseconds()
        let refused = write("fine", "f1")
        #expect(refused.status == .retry)
        #expect(refused.summary.contains("circuit open"))
        #expect(Clock.monotonicNanoseconds() - start < 50_000_000, "an open circuit answers at once")
        #expect(refused.retryAfterMillis.map { $0 > 0 && $0 <= 400 } == true)
        usleep(450_000)
        #expect(write("fine", "f2").isOK, "the trial call after the cooldown goes through")
        #expect(!plugin.status.circuitOpen && !plugin.status.degraded)
    }

    @Test func hostServicesAreProxiedUnderTheHostsRules() throws {
        // State round-trips through the host's store; raw secrets stay refused unless allowed.
        let plugin = try SandboxedPlugin.load(path: TestEnv.product("libsbplugin-example-c.so"), settings: Self.settings())
        defer { plugin.close() }
        let state = MemoryStateStore()
        try plugin.open(config: Array(#"{"accounts": 3}"#.utf8),
                        services: InstanceServices(tenant: "acme", connection: "c", logger: Self.quiet, state: state))
        var records = 0
        var cursor: [UInt8] = []
        let outcome = plugin.read(stream: "accounts", state: [], maxRecords: 0, deadline: 0, labels: [:]) { item in
            if item.kind == .record { records += 1 }
            if item.kind == .state { cursor = item.dataBytes }
            return .ok
        }
        #expect(outcome.isOK, "\(outcome.summary)")
        #expect(records == 3)
        #expect(!cursor.isEmpty)
    }

    /// The fault zoo in a running host: every faulty connection fails over and
    /// over while the healthy flow beside it delivers every record exactly once.
    @Test func aHealthyConnectionKeepsFlowingBesideTheFaultZoo() throws {
        let dir = TestEnv.tempDir("sbzoo-run")
        let plugins = dir + "/plugins"
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
        for product in ["libsbplugin-testkit.so", "libsbplugin-bench-echo.so"] {
            try FileManager.default.copyItem(atPath: TestEnv.product(product), toPath: "\(plugins)/\(product)")
        }
        let faults = ["segv": "ZOO_SEGV", "abort": "ZOO_ABORT", "hang": "ZOO_HANG", "oom": "ZOO_OOM", "exit0": "ZOO_EXIT0",
                      "stdout": "ZOO_STDOUT", "badjson": "ZOO_BADJSON", "oversize": "ZOO_OVERSIZE"]
        for (name, flag) in faults { _ = try TestEnv.zoo("zoo-\(name)", [flag], in: plugins) }
        _ = try TestEnv.zoo("zoo-abi", ["ZOO_MAJOR=99"], in: plugins)
        try "this is not a plugin".write(toFile: "\(plugins)/not-a-plugin.so", atomically: true, encoding: .utf8)
        let sink = dir + "/sink.log"
        let records = 1500
        let faulty = faults.keys.sorted().map { name in
            """
                  - id: \(name)
                    plugin: zoo-\(name)
                    config: { base_url: "https://api.invalid", records: 5 }
                    poll: { every: 50ms, streams: [accounts], batch: 5 }
            """
        }.joined(separator: "\n")
        try """
            version: 1
            store: sqlite:\(dir)/store.db
            plugins:
              dir: \(plugins)
              sandbox: { memory_mb: 640, restart_backoff: 20ms, max_restart_backoff: 200ms, breaker_failures: 4, breaker_cooldown: 500ms, grace: 200ms }
            worker: { batch: 50, idle: 5ms, deadline: 500ms }
            tenants:
              - id: acme
                connections:
                  - id: gen
                    plugin: testkit
                    config: { role: source, records: \(records) }
                    poll: { every: 20ms, streams: [records], batch: 50 }
                  - id: sink
                    plugin: testkit
                    config: { role: sink, path: \(sink) }
                    files: { write: [\(dir)] }
            \(faulty)
                workflows:
                  - id: copy
                    trigger: { event: record.Account, source: gen }
                    steps:
                      - call: bench-echo
                      - write: { connection: sink, entity: Account }
            """.write(toFile: dir + "/switchboard.yaml", atomically: true, encoding: .utf8)

        let runtime = try Runtime(config: try ConfigLoader.load(file: dir + "/switchboard.yaml"), logger: Self.quiet)
        #expect(Set(runtime.registry.catalog.refused.map(\.code)) == ["abi-major", "not-elf"])
        runtime.start()
        func delivered() -> [String] {
            ((try? String(contentsOfFile: sink, encoding: .utf8)) ?? "").split(separator: "\n").map { String($0.split(separator: " ").last ?? "") }
        }
        let started = Date()
        var samples: [(Double, Int)] = []
        while delivered().count < records && Date().timeIntervalSince(started) < 120 {
            usleep(250_000)
            samples.append((Date().timeIntervalSince(started), delivered().count))
        }
        // Let the faulty ones keep failing a little longer, then stop.
        usleep(1_500_000)
        let health = Dictionary(uniqueKeysWithValues: faults.keys.map { ($0, runtime.registry.connection(tenant: "acme", id: $0)!.sandboxHealth!) })
        runtime.stop()

        let written = delivered()
        #expect(written.count == records, "the healthy flow delivered \(written.count) of \(records)")
        #expect(Set(written).count == written.count, "no record twice")
        // Throughput continued: the healthy sink grew in most sampling windows while the zoo was failing.
        let growing = zip(samples, samples.dropFirst()).filter { $0.1.1 > $0.0.1 }.count
        #expect(growing >= min(samples.count - 1, 3))
        for kind in ["segv", "abort", "exit0", "oom", "hang"] {
            #expect((health[kind]?.failures.values.reduce(0, +) ?? 0) >= 2, "\(kind) failed repeatedly: \(String(describing: health[kind]))")
        }
        #expect(health["segv"]?.failures[.crash] ?? 0 >= 2)
        #expect(health["oom"]?.failures[.outOfMemory] ?? 0 >= 1, "\(String(describing: health["oom"]))")
        #expect(health["hang"]?.failures[.hang] ?? 0 >= 1)
        #expect(health["exit0"]?.failures[.exit] ?? 0 >= 2)
        // Plugin-level errors are not worker deaths: those records went to the exception queue instead.
        for kind in ["stdout", "badjson", "oversize"] { #expect(health[kind]?.failures.isEmpty == true, "\(kind)") }
        #expect(try runtime.store.stats(tenant: "acme").openExceptions >= 1, "badjson's records are kept as exception items")
    }

    /// A host that stops, and a host killed with kill -9, leave no worker behind.
    @Test func noOrphanWorkersAfterStopOrKill() throws {
        let dir = TestEnv.tempDir("sborphan")
        try """
            version: 1
            store: sqlite:\(dir)/store.db
            plugins: \(TestEnv.productsDir)
            tenants:
              - id: acme
                connections:
                  - id: gen
                    plugin: testkit
                    config: { role: source, records: 5 }
                    poll: { every: 50ms, streams: [records], batch: 5 }
                  - id: sink
                    plugin: testkit
                    config: { role: sink }
                workflows:
                  - id: copy
                    trigger: { event: record.Account, source: gen }
                    steps:
                      - write: { connection: sink, entity: Account }
            """.write(toFile: dir + "/switchboard.yaml", atomically: true, encoding: .utf8)
        for signal in [SIGTERM, SIGKILL] {
            let host = Process()
            host.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
            host.arguments = ["run", "--config", dir + "/switchboard.yaml"]
            host.environment = ProcessInfo.processInfo.environment.merging(["SWITCHBOARD_LOG_LEVEL": "critical"]) { $1 }
            host.standardOutput = FileHandle.nullDevice
            host.standardError = FileHandle.nullDevice
            try host.run()
            // Start-up probes every plugin file in workers side by side, so several workers come and go before
            // the connections' own: wait until the same two have lasted a few samples.
            var workers: [pid_t] = []
            var stable = 0
            let deadline = Date().addingTimeInterval(30)
            while stable < 5 && Date() < deadline {
                usleep(100_000)
                let now = TestEnv.children(of: host.processIdentifier, containing: "__worker")
                stable = now.count == 2 && Set(now) == Set(workers) ? stable + 1 : 0
                workers = now
            }
            #expect(workers.count == 2, "one worker per connection")
            usleep(1_000_000)  // past start-up: SIGTERM is handled once the service runs
            kill(host.processIdentifier, signal)
            host.waitUntilExit()
            if signal == SIGTERM { #expect(host.terminationStatus == 0) }
            let gone = Date().addingTimeInterval(5)
            while workers.contains(where: TestEnv.alive) && Date() < gone { usleep(20_000) }
            #expect(!workers.contains(where: TestEnv.alive), "signal \(signal): workers \(workers.filter(TestEnv.alive)) outlived the host")
        }
    }
}
