import Foundation
import SwitchboardCore
import SwitchboardStore
@testable import SwitchboardStorePostgres
import Testing

/// Several `switchboard run` hosts sharing one PostgreSQL store (issue 8): kill -9
/// one of them mid-batch, again and again, and check that every record reached
/// the idempotent sink exactly once, that other hosts took over the dead host's
/// leases, and that the scheduler (polling) moved to a surviving host. And the
/// database itself crashing and restarting under running hosts.
@Suite(.serialized) struct MultiHostTests {
    static let records = 3_000
    static let kills = Int(ProcessInfo.processInfo.environment["SWITCHBOARD_MULTIHOST_KILLS"] ?? "") ?? 6

    final class Host {
        let id: String
        let process: Process
        init(id: String, process: Process) {
            self.id = id
            self.process = process
        }
    }

    /// One workload (a generated source, the 3-step workflow, a sink shared by every host) and the hosts running it.
    final class Workload {
        let dir = TestEnv.tempDir("sbmultihost")
        var sink: String { dir + "/sink.log" }
        var config: String { dir + "/switchboard.yaml" }
        let environment: [String: String]
        /// How often the source shows each record: the first version, then changed ones (each updates the sink's record).
        let versions: Int
        private var launched = 0

        /// `worker` adds settings to the worker's (`deadline: 1s, scheduler_stall: 3s`).
        /// `poll` replaces the source's poll settings.
        init(storeURL: String, records: Int, versions: Int = 1, environment: [String: String], worker: String? = nil,
             poll: String = "every: 20ms, streams: [records], batch: 50") throws {
            self.environment = environment
            self.versions = versions
            try """
                version: 1
                store: \(storeURL)
                plugins: \(TestEnv.productsDir)
                worker: { batch: 16, idle: 5ms, lease: 1500ms\(worker.map { ", " + $0 } ?? "") }
                tenants:
                  - id: acme
                    connections:
                      - id: gen
                        plugin: testkit
                        config: { role: source, records: \(records), versions: \(versions) }
                        poll: { \(poll) }
                      - id: sink
                        plugin: testkit
                        config: { role: sink, path: \(sink), shared: 1 }
                        files: { write: [\(URL(fileURLWithPath: sink).deletingLastPathComponent().path)] }
                    workflows:
                      - id: copy
                        trigger: { event: record.Account, source: gen }
                        steps:
                          - map: { external_id: $.external_id, updated_at: $.updated_at, name: upper($.name) }
                          - call: bench-echo
                          - write: { connection: sink, entity: Account }
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }

        func launch() throws -> Host {
            launched += 1
            let id = "host-\(launched)"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
            p.arguments = ["run", "--config", config]
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
                .merging(["SWITCHBOARD_HOST_ID": id, "SWITCHBOARD_LOG_LEVEL": "critical", "SWIFT_BACKTRACE": "enable=no"]) { $1 }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return Host(id: id, process: p)
        }

        func sinkLines() -> [String] { SinkLog.lines(sink) }
        func sinkCount() -> Int { SinkLog.count(sink) }

        /// Waits until the sink holds `count` lines and the store has nothing left to do.
        func waitUntilDone(_ count: Int, store: PostgresStore, seconds: Double) {
            let deadline = Date().addingTimeInterval(seconds)
            while sinkCount() < count && Date() < deadline { usleep(100_000) }
            while (try? store.hasUnfinishedWork()) ?? true, Date() < deadline { usleep(100_000) }
        }

        /// Waits until `lines` records reached the sink and a host became the scheduler; returns its actor (`host:ID`).
        func schedulerOnceFlowing(lines: Int, store: PostgresStore) throws -> String {
            let flowing = Date().addingTimeInterval(60)
            while (sinkCount() < lines || (try? store.schedulerHistory().isEmpty) ?? true) && Date() < flowing { usleep(50_000) }
            return try #require(try store.schedulerHistory().last, "no host became the scheduler")
        }

        /// Waits (up to `seconds`) for another host than `scheduler` to win the lock; returns it and the seconds since `since`.
        func successor(of scheduler: String, store: PostgresStore, since: Date, seconds: Double) throws -> (host: String, after: Double) {
            let deadline = since.addingTimeInterval(seconds)
            while (try store.schedulerHistory().last) == scheduler && Date() < deadline { usleep(100_000) }
            return (try store.schedulerHistory().last ?? "", Date().timeIntervalSince(since))
        }

        /// SIGTERM to every host; each must stop cleanly.
        func stop(_ hosts: [Host], sourceLocation: SourceLocation = #_sourceLocation) {
            // A process that has not reached `main` yet dies by SIGTERM's default action, as any process does (a host
            // started just before the stop, once the others had finished the work): wait until it handles the signal.
            for host in hosts { Self.waitUntilSIGTERMIsHandled(host.process.processIdentifier) }
            for host in hosts { kill(host.process.processIdentifier, SIGTERM) }
            for host in hosts { host.process.waitUntilExit() }
            for host in hosts {
                #expect(host.process.terminationStatus == 0, "\(host.id) should stop cleanly on SIGTERM", sourceLocation: sourceLocation)
            }
        }

        /// Waits (up to 10 s) until SIGTERM is caught or ignored by `pid` (Linux: its /proc status masks). Not
        /// blocked: a thread that starts others blocks every signal for a moment, and a SIGTERM sent then is
        /// delivered once the mask is restored, still by the default action if no handler is there yet.
        static func waitUntilSIGTERMIsHandled(_ pid: pid_t) {
            let bit = UInt64(1) << UInt64(SIGTERM - 1)
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return }
                let masks = status.split(separator: "\n").compactMap { line -> UInt64? in
                    let parts = line.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, ["SigIgn", "SigCgt"].contains(parts[0]) else { return nil }
                    return UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16)
                }
                if masks.contains(where: { $0 & bit != 0 }) { return }
                usleep(10_000)
            }
        }

        /// Every version of every record in the sink exactly once, each record one record there.
        func expectExactlyOnce(_ records: Int, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
            SinkLog.expectEveryVersionOnce(sinkLines(), records: records, versions: versions, context, sourceLocation: sourceLocation)
        }
    }

    /// A host stopped while it is still starting exits cleanly, as one stopped while running does: here its database
    /// answers each new connection 1.5 s late (a proxy in front of the test cluster), so opening the store and its
    /// connections takes seconds, and SIGTERM comes in the middle of it.
    @Test func aHostStoppedWhileStartingExitsCleanly() throws {
        var components = try #require(URLComponents(string: try TestPostgres.freshDatabase("startup")))
        let slow = try LoopbackServer(script: "pg_plain_proxy.py", arguments: [String(try #require(components.port)), "1.5"])
        components.port = slow.port
        let workload = try Workload(storeURL: try #require(components.string), records: 10, environment: TestPostgres.hostEnvironment)
        let host = try workload.launch()
        usleep(1_000_000)
        #expect(host.process.isRunning, "still starting: its first connection is not through yet")
        kill(host.process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(60)
        while host.process.isRunning && Date() < deadline { usleep(100_000) }
        if host.process.isRunning { kill(host.process.processIdentifier, SIGKILL) }
        host.process.waitUntilExit()
        #expect(host.process.terminationReason == .exit && host.process.terminationStatus == 0,
                "stopped while starting, the host should exit cleanly, not die by the signal")
    }

    @Test func threeHostsKillNineOneAtATimeLosesAndDoublesNothing() throws {
        let url = try TestPostgres.freshDatabase("multihost")
        // Half the records, each read twice (changed the second time): as many writes, half of them updates.
        let records = Self.records / 2
        let workload = try Workload(storeURL: url, records: records, versions: 2, environment: TestPostgres.hostEnvironment)
        let writes = records * workload.versions
        let store = try TestPostgres.store(url: url, hostID: "observer")
        var hosts = try (0..<3).map { _ in try workload.launch() }
        defer { for host in hosts where host.process.isRunning { kill(host.process.processIdentifier, SIGKILL) } }

        // Kills are meant to land mid-batch: wait until work flows (hosts start slowly on a busy machine).
        let flowing = Date().addingTimeInterval(60)
        while workload.sinkLines().isEmpty && Date() < flowing { usleep(50_000) }
        var killed: [String] = []
        var midFlow = 0
        var generator = SystemRandomNumberGenerator()
        // Kill points are spread over the workload by its progress, not by time: on a fast machine the hosts write
        // the 3,000 records in about 2 s, and kills 0.4-0.9 s apart landed after the work was done (3 of 6 mid-flow).
        // A random offset within each step keeps the moment random against the batches.
        let step = writes / (Self.kills + 1)
        for round in 0..<Self.kills {
            let target = step * (round + 1) + Int.random(in: 0..<max(step / 2, 1), using: &generator)
            let due = Date().addingTimeInterval(60)
            while workload.sinkCount() < target && Date() < due { usleep(5_000) }
            // Every other kill takes the scheduler down, so polling has to move; the others hit a worker-only host.
            let scheduler = try store.schedulerHistory().last
            let victim = round % 2 == 0 ? (hosts.firstIndex { "host:\($0.id)" == scheduler } ?? 0) : Int.random(in: 0..<3, using: &generator)
            let host = hosts[victim]
            let progress = workload.sinkCount()
            kill(host.process.processIdentifier, SIGKILL)
            host.process.waitUntilExit()
            if progress > 0 && progress < writes { midFlow += 1 }
            killed.append("\(host.id) at \(progress)")
            hosts[victim] = try workload.launch()
        }

        // The survivors and the restarted hosts finish the work.
        workload.waitUntilDone(writes, store: store, seconds: 180)
        workload.stop(hosts)
        workload.expectExactlyOnce(records, "kills: \(killed)")
        #expect(midFlow == Self.kills, "every kill should land while records flow: \(killed)")

        let stats = try store.stats(tenant: "acme")
        #expect(stats.done == writes && stats.pending == 0 && stats.running == 0 && stats.openExceptions == 0)
        let recoveries = try store.leaseRecoveries()
        #expect(recoveries > 0, "killed hosts held leases; other hosts should have taken them over")
        let schedulers = try store.schedulerHistory()
        #expect(Set(schedulers).count >= 2, "the scheduler should have moved when its host was killed: \(schedulers)")
        #expect(try store.verifyAudit().ok)
        // The operator's commands work on the shared store too (password from the environment, never the file).
        let verify = try TestEnv.run(TestEnv.switchboard, ["audit", "verify", "--config", workload.config], environment: TestPostgres.hostEnvironment)
        #expect(verify.status == 0 && verify.stdout.contains("audit trail intact"), "\(verify.stdout)\(verify.stderr)")
        let log = try TestEnv.run(TestEnv.switchboard, ["audit", "log", "--config", workload.config], environment: TestPostgres.hostEnvironment)
        #expect(log.stdout.contains("scheduler.acquired"), "\(log.stdout)")
        let calls = ((try? String(contentsOfFile: workload.sink + ".calls", encoding: .utf8)) ?? "").split(separator: "\n").count
        print("multi-host kill test: 3 hosts, \(Self.kills) kill -9 (\(killed.joined(separator: ", "))), \(records) records x \(workload.versions) versions, "
              + "\(recoveries) lease(s) recovered, scheduler held by \(schedulers.joined(separator: " -> ")), "
              + "\(calls - writes) redelivered write(s) absorbed")
    }

    /// A fresh database, a workload with these worker and poll settings, an observer's store, and two hosts running it.
    func twoHosts(database: String, records: Int, worker: String, poll: String) throws -> (Workload, PostgresStore, [Host]) {
        let url = try TestPostgres.freshDatabase(database)
        let workload = try Workload(storeURL: url, records: records, environment: TestPostgres.hostEnvironment, worker: worker, poll: poll)
        let store = try TestPostgres.store(url: url, hostID: "observer")
        return (workload, store, try (0..<2).map { _ in try workload.launch() })
    }

    /// The scheduler's process is alive but stuck (SIGSTOP): another host ends its lock session after the stall bound
    /// and polling goes on there; the stuck host, woken up, does not take the role back. Nothing is lost or doubled.
    @Test func aStuckSchedulerIsTakenOverAndPollingGoesOn() throws {
        let records = 1_500
        let (workload, store, hosts) = try twoHosts(database: "stuck", records: records, worker: "deadline: 1s, scheduler_stall: 3s",
                                                    poll: "every: 100ms, streams: [records], batch: 20")
        defer { for host in hosts where host.process.isRunning { kill(host.process.processIdentifier, SIGKILL) } }

        let scheduler = try workload.schedulerOnceFlowing(lines: 100, store: store)
        let stuck = try #require(hosts.first { "host:\($0.id)" == scheduler })
        let before = workload.sinkCount()
        kill(stuck.process.processIdentifier, SIGSTOP)
        // The source is read slowly (20 records per 100 ms), so most records are polled after the stop: by the successor.
        let polledBeforeStop = try store.stats(tenant: "acme").events
        let (successor, tookOver) = try workload.successor(of: scheduler, store: store, since: Date(), seconds: 30)
        #expect(successor != scheduler, "nobody took over from the stuck scheduler in \(tookOver) s")
        // Its last sign of life may be up to 0.5 s before the stop (the session is touched at most every 0.5 s).
        #expect(tookOver >= 2.5, "taken over after \(tookOver) s, before the 3 s stall bound")
        let takeover = try store.auditEntries(limit: 200).first { $0.action == "scheduler.taken_over" }
        #expect(takeover?.detail.contains("switchboard-scheduler:\(stuck.id)") == true, "\(String(describing: takeover))")

        // Woken up, the stuck host finds its session ended and stays a worker.
        kill(stuck.process.processIdentifier, SIGCONT)
        workload.waitUntilDone(records, store: store, seconds: 120)
        let history = try store.schedulerHistory()
        #expect(history.last == successor, "the woken host took the scheduler back: \(history)")
        #expect(stuck.process.isRunning, "the woken host died")
        workload.stop(hosts)
        workload.expectExactlyOnce(records, "scheduler stopped at \(before) records")
        #expect(polledBeforeStop < records, "every record was polled before the stop: the test shows nothing about polling going on")
        print(String(format: "stuck scheduler test: %@ stopped (SIGSTOP) with %d of %d records polled; %@ took over after %.1f s (stall bound 3 s)",
                     stuck.id, polledBeforeStop, records, successor, tookOver))
    }

    /// The scheduler's machine vanishes from the network (every packet of its lock session dropped, the process alive):
    /// PostgreSQL's keepalives on that session (idle 5 s, then 3 probes 2 s apart) end it, and another host takes over.
    @Test func aVanishedSchedulerLosesTheLockWhenKeepalivesGiveUp() throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/sbin/iptables"), "scripts/install-deps installs iptables")
        let records = 800
        // A stall bound far above the keepalives' ~11 s: what moves the lock here is the dead session, not the take-over.
        let (workload, store, hosts) = try twoHosts(database: "vanish", records: records, worker: "scheduler_stall: 120s",
                                                    poll: "every: 100ms, streams: [records], batch: 10")
        defer { for host in hosts where host.process.isRunning { kill(host.process.processIdentifier, SIGKILL) } }

        let scheduler = try workload.schedulerOnceFlowing(lines: 50, store: store)
        let port = try #require(try store.pool.with { db in
            try db.query("SELECT client_port FROM pg_stat_activity WHERE application_name = $1",
                         [.text("switchboard-scheduler:\(scheduler.dropFirst("host:".count))")]).first.map { try $0.int(0) }
        }, "the scheduler's lock session is not in pg_stat_activity")
        // Loopback packets pass INPUT once each way: dropping both ports there silences this one connection only.
        let rules = [["--sport", String(port)], ["--dport", String(port)]].map { ["INPUT", "-i", "lo", "-p", "tcp"] + $0 + ["-j", "DROP"] }
        for rule in rules { try #require(try TestEnv.run("/usr/sbin/iptables", ["-I"] + rule).status == 0, "iptables -I failed") }
        defer { for rule in rules { _ = try? TestEnv.run("/usr/sbin/iptables", ["-D"] + rule) } }
        let (successor, tookOver) = try workload.successor(of: scheduler, store: store, since: Date(), seconds: 45)
        #expect(successor != scheduler, "the lock did not move in \(tookOver) s after the scheduler vanished")
        #expect(tookOver > 4 && tookOver < 25, "moved after \(tookOver) s; keepalives allow ~11 s")
        let takenOver = try store.auditEntries(limit: 200).contains { $0.action == "scheduler.taken_over" }
        #expect(!takenOver, "the stall bound (120 s) should not have been what moved the lock")

        for rule in rules { _ = try? TestEnv.run("/usr/sbin/iptables", ["-D"] + rule) }
        workload.waitUntilDone(records, store: store, seconds: 120)
        #expect(try store.schedulerHistory().last == successor, "the vanished host took the scheduler back")
        workload.stop(hosts)
        workload.expectExactlyOnce(records, "scheduler vanished")
        print(String(format: "vanished scheduler test: %@'s lock session silenced (port %lld); %@ took over after %.1f s (keepalives: 5 s + 3 x 2 s)",
                     String(scheduler.dropFirst("host:".count)), port, successor, tookOver))
    }

    /// Fault injection: the database crashes (immediate shutdown, sessions cut) and comes back 2 s later
    /// under two running hosts. They reconnect, the scheduler is elected again, and nothing is lost or doubled.
    @Test func hostsRideThroughADatabaseCrashAndRestart() throws {
        // A cluster of its own: the shared test cluster serves other suites meanwhile.
        let clusterDir = TestEnv.tempDir("sbpgcrash")
        chmod(clusterDir, 0o755)
        let started = try TestEnv.run(TestEnv.repoRoot + "/scripts/start-postgres", [clusterDir + "/pg"])
        defer { _ = try? TestEnv.run(TestEnv.repoRoot + "/scripts/stop-postgres", [clusterDir + "/pg"]) }
        try #require(started.status == 0, "\(started.stderr)")
        var printed: [String: String] = [:]
        for line in started.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { printed[parts[0]] = parts[1] }
        }
        let url = try #require(printed["SWITCHBOARD_TEST_POSTGRES_URL"]), passwordFile = try #require(printed["SWITCHBOARD_TEST_POSTGRES_PASSWORD_FILE"])
        let environment = ["SWITCHBOARD_STORE_PASSWORD_FILE": passwordFile]
        let settings = try PostgresSettings(url: url, environment: environment)
        try settings.createDatabase("crash")
        let storeURL = settings.database("crash").redactedURL

        let workload = try Workload(storeURL: storeURL, records: Self.records, environment: environment)
        let store = try PostgresStore(settings: settings.database("crash"), hostID: "observer")
        let hosts = try (0..<2).map { _ in try workload.launch() }
        defer { for host in hosts where host.process.isRunning { kill(host.process.processIdentifier, SIGKILL) } }

        let flowing = Date().addingTimeInterval(60)
        while workload.sinkCount() < 300 && Date() < flowing { usleep(50_000) }
        let before = workload.sinkCount()
        let restart = try TestEnv.run(TestEnv.repoRoot + "/scripts/restart-postgres", [clusterDir + "/pg", "2"])
        try #require(restart.status == 0, "\(restart.stderr)")

        workload.waitUntilDone(Self.records, store: store, seconds: 180)
        let survived = hosts.allSatisfy { $0.process.isRunning }
        #expect(survived, "a host died with the database")
        workload.stop(hosts)
        workload.expectExactlyOnce(Self.records, "database restarted at \(before) records")
        let stats = try store.stats(tenant: "acme")
        #expect(stats.done == Self.records && stats.pending == 0 && stats.running == 0 && stats.openExceptions == 0)
        #expect(before < Self.records, "the restart should land while records flow")
        let schedulers = try store.schedulerHistory()
        #expect(schedulers.count >= 2, "the scheduler lock lives in a session: after the restart a host must win it again: \(schedulers)")
        print("database crash test: PostgreSQL crashed at \(before) of \(Self.records) records and was back after 2 s; "
              + "scheduler held by \(schedulers.joined(separator: " -> "))")
    }
}
