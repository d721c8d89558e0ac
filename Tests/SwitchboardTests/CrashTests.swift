import Foundation
import SwitchboardCore
import SwitchboardStore
import Testing

/// kill -9 `switchboard run` at random moments while a workload flows, restart
/// it, and check that every version of every source record reached the
/// idempotent sink exactly once, as one record there. 20 kill points by
/// default; SWITCHBOARD_CRASH_KILLS=1000 for a long run.
@Suite(.serialized) struct CrashTests {
    static let kills = Int(ProcessInfo.processInfo.environment["SWITCHBOARD_CRASH_KILLS"] ?? "") ?? 20
    /// Enough records that the work outlasts most kills: a cycle (start, 20-200 ms of work, kill) writes 230-390
    /// records on a fast machine, so 1,000 kills on 5,000 records x 2 versions found the work done after 44 of them
    /// (with 150,000 x 2: 779 of 1,000 mid-flow, 321 s).
    static let records = max(5_000, kills * 150)
    /// Each record is read, then read again changed: the second version updates what the first created.
    static let versions = 2
    static var writes: Int { records * versions }

    @Test func killNineAtRandomMomentsLosesAndDoublesNothing() throws {
        let dir = TestEnv.tempDir("sbcrash")
        let sink = dir + "/sink.log"
        let config = dir + "/switchboard.yaml"
        try """
            version: 1
            store: sqlite:\(dir)/store.db
            plugins: \(TestEnv.productsDir)
            worker: { batch: 16, idle: 2ms }
            tenants:
              - id: acme
                connections:
                  - id: gen
                    plugin: testkit
                    config: { role: source, records: \(Self.records), versions: \(Self.versions) }
                    poll: { every: 5ms, streams: [records], batch: 25 }
                  - id: sink
                    plugin: testkit
                    config: { role: sink, path: \(sink) }
                    files: { write: [\(URL(fileURLWithPath: sink).deletingLastPathComponent().path)] }
                workflows:
                  - id: copy
                    trigger: { event: record.Account, source: gen }
                    steps:
                      - map: { external_id: $.external_id, updated_at: $.updated_at, name: upper($.name) }
                      - call: bench-echo
                      - write: { connection: sink, entity: Account }
            """.write(toFile: config, atomically: true, encoding: .utf8)

        func lines() -> [String] { SinkLog.lines(sink) }
        func launch() throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
            p.arguments = ["run", "--config", config, "--exit-when-idle"]
            p.environment = ProcessInfo.processInfo.environment.merging(["SWITCHBOARD_LOG_LEVEL": "critical", "SWIFT_BACKTRACE": "enable=no"]) { $1 }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }

        var midFlowKills = 0
        var progress: [Int] = []
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<Self.kills {
            let p = try launch()
            usleep(UInt32.random(in: 20_000...200_000, using: &generator))
            let before = SinkLog.count(sink)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(p.terminationReason == .uncaughtSignal || p.terminationStatus == 0)
            if p.terminationReason == .uncaughtSignal && before < Self.writes { midFlowKills += 1 }
            progress.append(before)
        }
        // Let the last run finish on its own.
        let last = try launch()
        let deadline = Date().addingTimeInterval(max(120, Double(Self.writes) / 500))
        while last.isRunning && Date() < deadline { usleep(50_000) }
        if last.isRunning { kill(last.processIdentifier, SIGKILL) }
        last.waitUntilExit()
        #expect(last.terminationStatus == 0, "the final run should drain and exit 0")

        SinkLog.expectEveryVersionOnce(lines(), records: Self.records, versions: Self.versions, "kills: \(progress)")
        #expect(midFlowKills >= Self.kills / 2, "most kills should land mid-flow (progress: \(progress))")

        // The store agrees: everything done, nothing stuck or filed as an exception.
        let store = try SQLiteStore(path: dir + "/store.db")
        let stats = try store.stats(tenant: "acme")
        #expect(stats.done == Self.writes && stats.pending == 0 && stats.running == 0 && stats.openExceptions == 0)
        // At-least-once underneath: some writes were delivered again after a kill and absorbed by the idempotency key.
        let calls = ((try? String(contentsOfFile: sink + ".calls", encoding: .utf8)) ?? "").split(separator: "\n").count
        #expect(calls >= Self.writes)
        print("crash test: \(Self.kills) kill -9 points (\(midFlowKills) mid-flow), \(Self.records) records x \(Self.versions) versions, "
              + "\(calls - Self.writes) redelivered write(s) absorbed")
    }
}
