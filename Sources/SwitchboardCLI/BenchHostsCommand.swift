import ArgumentParser
import Foundation
import Logging
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore
import SwitchboardStorePostgres

extension BenchCommand {
    /// Events/s with 1, 2, 3... host processes sharing one PostgreSQL store, next to
    /// one host on the embedded SQLite store measured in the same run (issue 8).
    /// Each run: a fresh database, the events ingested first, then N `switchboard`
    /// host processes released together to drain the queue through the 3-step
    /// workflow; the rate is events over the time from release to the last host done.
    struct Hosts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Events/s with 1, 2, 3 hosts on one PostgreSQL store, and one host on SQLite, in one run.")

        @Option(help: "The PostgreSQL server: postgres://USER@HOST:PORT/DB (password from SWITCHBOARD_STORE_PASSWORD[_FILE]); the role needs CREATEDB (a database per run, dropped after).")
        var store: String
        @Option(help: "Host counts to measure, comma-separated.") var hosts = "1,2,3"
        /// As many as `bench runtime`: a drain of a few seconds is the hosts' steady state, where one of 30,000
        /// counted start-up costs (each connection's first plans and first pages) as the events'.
        @Option(help: "Events per run.") var events = 100_000
        @Option(help: "Work items per worker batch (as bench runtime).") var workBatch = 1000
        @Option(help: "Runs per host count; medians are reported.") var runs = 3
        @Option(help: "Plugin directory (default: the directory of this executable).") var plugins: String?
        @Flag(help: "Skip the SQLite figure.") var noSqlite = false

        func run() throws {
            let settings = try PostgresSettings(url: store)
            let counts = hosts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.filter { $0 > 0 }
            guard !counts.isEmpty else { throw ValidationError("--hosts: give host counts such as 1,2,3") }
            let pluginDir = plugins ?? BenchSupport.besideExecutable("")
            let referenceBefore = BenchSupport.referenceNanos()
            var lines: [String] = []
            if !noSqlite {
                let results = try (1...max(runs, 1)).map { run -> Drain in
                    let dir = NSTemporaryDirectory() + "sb-bench-hosts-\(getpid())-\(run)"
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    defer { try? FileManager.default.removeItem(atPath: dir) }
                    let result = try measure(store: "sqlite:\(dir)/bench.db", hosts: 1, dir: dir, pluginDir: pluginDir)
                    print(String(format: "  sqlite      1 host  run %d: %8.0f events/s   CPU/event: host %.0f us", run, result.rate,
                                 result.hostCPUMicros))
                    return result
                }
                lines.append(String(format: "  SQLite (synchronous=FULL)   1 host : median %8.0f events/s   CPU/event: host %.0f us",
                                    median(results.map(\.rate)), median(results.map(\.hostCPUMicros))))
            }
            for count in counts {
                let results = try (1...max(runs, 1)).map { run -> Drain in
                    let name = "switchboard_bench_\(getpid())_\(count)_\(run)"
                    try settings.createDatabase(name)
                    defer { try? settings.dropDatabase(name) }
                    let dir = NSTemporaryDirectory() + "sb-bench-hosts-\(getpid())-pg-\(count)-\(run)"
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    defer { try? FileManager.default.removeItem(atPath: dir) }
                    let result = try measure(store: settings.database(name).redactedURL, hosts: count, dir: dir, pluginDir: pluginDir)
                    print(String(format: "  postgresql  %d host%@ run %d: %8.0f events/s   CPU/event: hosts %.0f us, PostgreSQL %@",
                                 count, count == 1 ? " " : "s", run, result.rate, result.hostCPUMicros,
                                 result.databaseCPUMicros.map { String(format: "%.0f us", $0) } ?? "? (not on this machine)"))
                    return result
                }
                let database = results.compactMap(\.databaseCPUMicros)
                lines.append(String(format: "  PostgreSQL (fsync on)       %d host%@: median %8.0f events/s   CPU/event: hosts %.0f us, PostgreSQL %@",
                                    count, count == 1 ? " " : "s", median(results.map(\.rate)), median(results.map(\.hostCPUMicros)),
                                    database.isEmpty ? "?" : String(format: "%.0f us", median(database))))
            }
            #if DEBUG
            print("warning: debug build; run `swift run -c release switchboard bench hosts ...` for real figures")
            #endif
            print(BenchSupport.machineLine(referenceBefore: referenceBefore))
            print("hosts bench (\(events) events through the 3-step workflow, \(runs) runs each; target >= 20,000 events/s with 3 hosts on PostgreSQL):")
            lines.forEach { print($0) }
        }

        private func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

        /// What one drain measured: its rate, and the CPU it cost per event in the host processes and in the
        /// database server (all `postgres` processes of this machine, when the server runs here).
        struct Drain {
            var rate: Double
            var hostCPUMicros: Double
            var databaseCPUMicros: Double?
        }

        /// Ingests the events, then releases `hosts` host processes on them together and measures the drain.
        func measure(store: String, hosts: Int, dir: String, pluginDir: String) throws -> Drain {
            let config = dir + "/bench.yaml"
            try BenchWorkload.config(store: store, pluginDir: pluginDir, workBatch: workBatch, lease: "30s")
                .write(toFile: config, atomically: true, encoding: .utf8)
            var logger = Logger(label: "bench")
            logger.logLevel = .critical
            do {
                let runtime = try openRuntime(config: config, logger: logger)
                let records = BenchWorkload.records(events)
                for start in stride(from: 0, to: records.count, by: 1000) {
                    let slice = records[start..<min(start + 1000, records.count)]
                    _ = try runtime.ingest(tenant: "bench", source: "crm", kind: .record, items: slice.map { ("Account", $0) })
                }
                runtime.stop()
            }
            // A shared store is asked from here whether work is left; the embedded one only its host may open.
            let shared = store.hasPrefix("postgres") ? try PostgresStore.open(url: store, hostID: "bench-driver") : nil
            let workers = try (0..<hosts).map { i in
                try HostWorker.spawn(config: config, hostID: "bench-\(i + 1)", drainsAlone: shared == nil)
            }
            for worker in workers { try worker.waitReady() }
            let local = shared != nil && ["127.0.0.1", "localhost", "::1"].contains(URLComponents(string: store)?.host ?? "")
            let databaseBefore = local ? BenchSupport.cpuSecondsOfProcesses(named: "postgres") : nil
            let started = Date()
            for worker in workers { worker.go() }
            // One question every 20 ms, as `bench runtime` asks, from here rather than from each host: its answers are
            // the run's database CPU either way, and the hosts' CPU is their work alone.
            if let shared {
                while try shared.hasUnfinishedWork() { usleep(20_000) }
                for worker in workers { worker.stop() }
            }
            var processed = 0
            var hostCPU = 0.0
            for worker in workers {
                let done = try worker.waitDone()
                processed += done.processed
                hostCPU += done.cpuSeconds
            }
            let elapsed = Date().timeIntervalSince(started)
            let databaseCPU = databaseBefore.map { BenchSupport.cpuSecondsOfProcesses(named: "postgres") - $0 }
            guard processed == events else { throw ValidationError("the hosts processed \(processed) of \(events) events") }
            return Drain(rate: Double(events) / elapsed, hostCPUMicros: hostCPU * 1e6 / Double(events),
                         databaseCPUMicros: databaseCPU.map { $0 * 1e6 / Double(events) })
        }
    }

    /// One host of `bench hosts`: opens the runtime, says "ready", starts on "go", works until "stop", says "done N".
    struct HostWorker: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "host-worker", shouldDisplay: false)
        @Option var config: String
        /// Asks the store itself whether work is left (the embedded store, which the parent cannot open meanwhile),
        /// instead of working until the parent says "stop".
        @Flag var drainsAlone = false

        func run() throws {
            var logger = Logger(label: "bench")
            logger.logLevel = .critical
            let runtime = try openRuntime(config: config, logger: logger)
            FileHandle.standardOutput.write(Data("ready\n".utf8))
            guard readLine() == "go" else { return }
            let cpuBefore = BenchSupport.processCPUSeconds()
            runtime.start()
            if drainsAlone {
                while try runtime.store.hasUnfinishedWork() { usleep(20_000) }
            } else {
                _ = readLine()  // "stop" (or the parent gone): the queue is drained
            }
            runtime.stop()
            let cpu = BenchSupport.processCPUSeconds() - cpuBefore
            FileHandle.standardOutput.write(Data("done \(runtime.counters.itemsProcessed) \(cpu)\n".utf8))
        }

        /// The parent's handle on one worker process.
        struct Handle {
            let process: Process
            let input: Pipe
            let output: FileHandle

            func waitReady() throws {
                guard readLine() == "ready" else { throw ValidationError("a bench host did not start (see its stderr)") }
            }
            func go() { input.fileHandleForWriting.write(Data("go\n".utf8)) }
            func stop() { input.fileHandleForWriting.write(Data("stop\n".utf8)) }
            /// The items this host processed and the CPU seconds it spent on them.
            func waitDone() throws -> (processed: Int, cpuSeconds: Double) {
                let line = readLine() ?? ""
                process.waitUntilExit()
                let fields = line.split(separator: " ")
                guard fields.count == 3, fields[0] == "done", let n = Int(fields[1]), let cpu = Double(fields[2]) else {
                    throw ValidationError("a bench host failed: \(line)")
                }
                return (n, cpu)
            }
            private func readLine() -> String? {
                var bytes: [UInt8] = []
                while true {
                    let chunk = output.readData(ofLength: 1)
                    guard let byte = chunk.first else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
                    if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
                    bytes.append(byte)
                }
            }
        }

        static func spawn(config: String, hostID: String, drainsAlone: Bool) throws -> Handle {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: BenchSupport.besideExecutable("switchboard"))
            process.arguments = ["bench", "host-worker", "--config", config] + (drainsAlone ? ["--drains-alone"] : [])
            process.environment = ProcessInfo.processInfo.environment.merging(["SWITCHBOARD_HOST_ID": hostID]) { $1 }
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            return Handle(process: process, input: input, output: output.fileHandleForReading)
        }
    }
}
