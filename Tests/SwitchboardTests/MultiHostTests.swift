import Foundation
import SwitchboardCore
import SwitchboardStore
import SwitchboardStorePostgres
import Testing

/// Several `switchboard run` hosts sharing one PostgreSQL store (issue 8): kill -9
/// one of them mid-batch, again and again, and check that every record reached
/// the idempotent sink exactly once, that other hosts took over the dead host's
/// leases, and that the scheduler (polling) moved to a surviving host.
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

    @Test func threeHostsKillNineOneAtATimeLosesAndDoublesNothing() throws {
        let dir = TestEnv.tempDir("sbmultihost")
        let sink = dir + "/sink.log"
        let config = dir + "/switchboard.yaml"
        let url = try TestPostgres.freshDatabase("multihost")
        try """
            version: 1
            store: \(url)
            plugins: \(TestEnv.productsDir)
            worker: { batch: 16, idle: 5ms, lease: 1500ms }
            tenants:
              - id: acme
                connections:
                  - id: gen
                    plugin: testkit
                    config: { role: source, records: \(Self.records) }
                    poll: { every: 20ms, streams: [records], batch: 50 }
                  - id: sink
                    plugin: testkit
                    config: { role: sink, path: \(sink), shared: 1 }
                workflows:
                  - id: copy
                    trigger: { event: record.Account, source: gen }
                    steps:
                      - map: { external_id: $.external_id, updated_at: $.updated_at, name: upper($.name) }
                      - call: bench-echo
                      - write: { connection: sink, entity: Account }
            """.write(toFile: config, atomically: true, encoding: .utf8)

        var launched = 0
        func launch() throws -> Host {
            launched += 1
            let id = "host-\(launched)"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
            p.arguments = ["run", "--config", config]
            p.environment = ProcessInfo.processInfo.environment.merging(TestPostgres.hostEnvironment) { $1 }
                .merging(["SWITCHBOARD_HOST_ID": id, "SWITCHBOARD_LOG_LEVEL": "critical", "SWIFT_BACKTRACE": "enable=no"]) { $1 }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return Host(id: id, process: p)
        }
        func sinkLines() -> [String] {
            ((try? String(contentsOfFile: sink, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        let store = try TestPostgres.store(url: url, hostID: "observer")
        var hosts = try (0..<3).map { _ in try launch() }
        defer { for host in hosts where host.process.isRunning { kill(host.process.processIdentifier, SIGKILL) } }

        // Kills are meant to land mid-batch: wait until work flows (hosts start slowly on a busy machine).
        let flowing = Date().addingTimeInterval(60)
        while sinkLines().isEmpty && Date() < flowing { usleep(50_000) }
        var killed: [String] = []
        var midFlow = 0
        var generator = SystemRandomNumberGenerator()
        for round in 0..<Self.kills {
            usleep(UInt32.random(in: 400_000...900_000, using: &generator))
            // Every other kill takes the scheduler down, so polling has to move; the others hit a worker-only host.
            let scheduler = try store.schedulerHistory().last
            let victim = round % 2 == 0 ? (hosts.firstIndex { "host:\($0.id)" == scheduler } ?? 0) : Int.random(in: 0..<3, using: &generator)
            let host = hosts[victim]
            let progress = sinkLines().count
            kill(host.process.processIdentifier, SIGKILL)
            host.process.waitUntilExit()
            if progress > 0 && progress < Self.records { midFlow += 1 }
            killed.append("\(host.id) at \(progress)")
            hosts[victim] = try launch()
        }

        // The survivors and the restarted hosts finish the work.
        let deadline = Date().addingTimeInterval(180)
        while sinkLines().count < Self.records && Date() < deadline { usleep(100_000) }
        while (try? store.hasUnfinishedWork()) ?? true, Date() < deadline { usleep(100_000) }
        for host in hosts { kill(host.process.processIdentifier, SIGTERM) }
        for host in hosts { host.process.waitUntilExit() }
        for host in hosts { #expect(host.process.terminationStatus == 0, "\(host.id) should stop cleanly on SIGTERM") }

        let written = sinkLines()
        let externalIDs = written.compactMap { line -> String? in
            let parts = line.split(separator: " ")
            return parts.count == 3 ? String(parts[2]) : nil
        }
        #expect(written.count == Self.records, "sink has \(written.count) lines for \(Self.records) records (kills: \(killed))")
        #expect(Set(externalIDs) == Set((1...Self.records).map { "R-\($0)" }), "a record is missing")
        #expect(Set(written.map { $0.split(separator: " ")[0] }).count == written.count, "an idempotency key was written twice")

        #expect(midFlow >= Self.kills / 2, "most kills should land while records flow: \(killed)")
        let stats = try store.stats(tenant: "acme")
        #expect(stats.done == Self.records && stats.pending == 0 && stats.running == 0 && stats.openExceptions == 0)
        let recoveries = try store.leaseRecoveries()
        #expect(recoveries > 0, "killed hosts held leases; other hosts should have taken them over")
        let schedulers = try store.schedulerHistory()
        #expect(Set(schedulers).count >= 2, "the scheduler should have moved when its host was killed: \(schedulers)")
        #expect(try store.verifyAudit().ok)
        // The operator's commands work on the shared store too (password from the environment, never the file).
        let verify = try TestEnv.run(TestEnv.switchboard, ["audit", "verify", "--config", config], environment: TestPostgres.hostEnvironment)
        #expect(verify.status == 0 && verify.stdout.contains("audit trail intact"), "\(verify.stdout)\(verify.stderr)")
        let log = try TestEnv.run(TestEnv.switchboard, ["audit", "log", "--config", config], environment: TestPostgres.hostEnvironment)
        #expect(log.stdout.contains("scheduler.acquired"), "\(log.stdout)")
        let calls = ((try? String(contentsOfFile: sink + ".calls", encoding: .utf8)) ?? "").split(separator: "\n").count
        print("multi-host kill test: 3 hosts, \(Self.kills) kill -9 (\(killed.joined(separator: ", "))), \(recoveries) lease(s) recovered, "
              + "scheduler held by \(schedulers.joined(separator: " -> ")), \(calls - Self.records) redelivered write(s) absorbed")
    }
}
