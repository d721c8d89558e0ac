import ArgumentParser
import Foundation
import Logging
import SwitchboardCore
import SwitchboardHost
import SwitchboardRuntime
import SwitchboardStore

extension BenchCommand {
    /// Durable events/s through a 3-step workflow (map, call a workflow
    /// plugin, write to a connection) with in-process plugins on SQLite,
    /// fsync on, group commit. Ingest and the worker run concurrently.
    struct Runtime: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "runtime", abstract: "Durable events/s and latency through a 3-step workflow on SQLite.")

        @Option(help: "Events per run.") var events = 100_000
        @Option(help: "Events per ingest transaction.") var ingestBatch = 1000
        @Option(help: "Work items per worker batch.") var workBatch = 1000
        @Option(help: "Runs; medians are reported.") var runs = 3
        @Option(help: "Plugin directory (default: the directory of this executable).") var plugins: String?
        @Flag(help: "Ingest everything first, then start the worker: prints each phase's rate separately.") var split = false
        @Flag(help: "Also print the store writer's CPU per event by operation (its clock readings cost about 2 us per event).")
        var writerProfile = false

        func run() throws {
            // The metrics backend `switchboard run` has: recording them is part of each event's cost.
            PrometheusExport.bootstrap()
            let referenceBefore = BenchSupport.referenceNanos()
            let pluginDir = plugins ?? BenchSupport.besideExecutable("")
            var rates: [Double] = []
            var p50s: [Int64] = []
            var p99s: [Int64] = []
            var bytes: [Double] = []
            var cpus: [CPUPerEvent] = []
            for run in 1...max(runs, 1) {
                let (rate, p50, p99, written, cpu) = try once(pluginDir: pluginDir)
                print(String(format: "  run %d: %8.0f events/s   p50 %4lld ms   p99 %4lld ms   %6.0f bytes written/event   CPU/event: %@",
                             run, rate, p50, p99, written, cpu.description))
                rates.append(rate)
                p50s.append(p50)
                p99s.append(p99)
                bytes.append(written)
                cpus.append(cpu)
            }
            #if DEBUG
            print("warning: debug build; run `swift run -c release switchboard bench runtime` for real figures")
            #endif
            print(BenchSupport.machineLine(referenceBefore: referenceBefore))
            print(String(format: "runtime bench (%d events, %d runs, SQLite synchronous=FULL): median %.0f events/s, p50 %lld ms, p99 %lld ms, %.0f bytes written/event (target >= 50,000 events/s)",
                         events, runs, rates.sorted()[rates.count / 2], p50s.sorted()[p50s.count / 2], p99s.sorted()[p99s.count / 2],
                         bytes.sorted()[bytes.count / 2]))
            let cpu = cpus.sorted { $0.total < $1.total }[cpus.count / 2]
            let cores = ProcessInfo.processInfo.activeProcessorCount
            print("CPU per event (median run): \(cpu) -- at this cost \(cores) cores give at most \(Int(Double(cores) * 1e6 / max(cpu.total, 1))) events/s")
        }

        /// Where the CPU went, in microseconds per event: the process, and its threads by name.
        struct CPUPerEvent: CustomStringConvertible {
            var total: Double
            var writer: Double
            var worker: Double
            var ingest: Double

            init(events: Int, process: Double, ingest: Double, before: [Int: (name: String, seconds: Double)],
                 after: [Int: (name: String, seconds: Double)]) {
                func delta(_ name: String) -> Double {
                    BenchSupport.cpuSeconds(ofThreadsNamed: name, before: before, after: after) * 1e6 / Double(events)
                }
                total = process * 1e6 / Double(events)
                writer = delta("sb-store.writer")
                worker = delta("sb-worker")
                self.ingest = ingest * 1e6 / Double(events)
            }

            var description: String {
                String(format: "%.0f us (store writer %.0f, worker %.0f, ingest %.0f, other threads %.0f)",
                       total, writer, worker, ingest, max(0, total - writer - worker - ingest))
            }
        }

        func once(pluginDir: String) throws -> (Double, Int64, Int64, Double, CPUPerEvent) {
            let work = NSTemporaryDirectory() + "sb-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: work) }
            let yaml = BenchWorkload.config(store: "sqlite:\(work)/bench.db", pluginDir: pluginDir, workBatch: workBatch)
            try yaml.write(toFile: work + "/bench.yaml", atomically: true, encoding: .utf8)
            var logger = Logger(label: "bench")
            logger.logLevel = .critical
            let runtime = try openRuntime(config: work + "/bench.yaml", logger: logger)
            let records = BenchWorkload.records(events)
            let started = Date()
            let bytesBefore = BenchSupport.bytesWritten()
            let cpuBefore = BenchSupport.processCPUSeconds()
            let threadsBefore = BenchSupport.cpuSecondsByThread()
            if writerProfile { WriterProfile.start() }
            if !split { runtime.start() }
            var offset = 0
            // This thread's CPU: ingest converts records here (the store writer's share is counted as the writer's).
            let ingestCPUBefore = BenchSupport.threadCPUSeconds()
            while offset < records.count {
                let slice = records[offset..<min(offset + ingestBatch, records.count)]
                _ = try runtime.ingest(tenant: "bench", source: "crm", kind: .record, items: slice.map { ("Account", $0) })
                offset += slice.count
            }
            let ingestCPU = BenchSupport.threadCPUSeconds() - ingestCPUBefore
            if split { print(String(format: "    ingest: %.0f events/s", Double(events) / Date().timeIntervalSince(started))) }
            let workStarted = Date()
            if split { runtime.start() }
            while try runtime.store.hasUnfinishedWork() { usleep(20_000) }
            let elapsed = Date().timeIntervalSince(started)
            let written = Double(BenchSupport.bytesWritten() - bytesBefore) / Double(events)
            let cpu = CPUPerEvent(events: events, process: BenchSupport.processCPUSeconds() - cpuBefore, ingest: ingestCPU,
                                  before: threadsBefore, after: BenchSupport.cpuSecondsByThread())
            if split { print(String(format: "    workflow: %.0f events/s", Double(events) / Date().timeIntervalSince(workStarted))) }
            if writerProfile {
                let spent = WriterProfile.stop()
                print("    store writer, CPU us/event by operation: " + WriterProfile.Operation.allCases.map {
                    String(format: "%@ %.1f", $0.rawValue, Double(spent[$0] ?? 0) / 1000 / Double(events))
                }.joined(separator: ", "))
            }
            runtime.stop()
            let stats = try runtime.store.stats(tenant: "bench")
            guard stats.done == events else { throw ValidationError("only \(stats.done) of \(events) events completed") }
            let latencies = stats.latenciesMillis
            return (Double(events) / elapsed, latencies[latencies.count / 2], latencies[min(latencies.count - 1, latencies.count * 99 / 100)], written, cpu)
        }
    }
}

/// The benchmark workload: a 3-step workflow (map, call a workflow plugin, write to an idempotent sink) over
/// realistic ~600-byte Account records, with in-process plugins. `bench runtime` and `bench hosts` share it.
enum BenchWorkload {
    static func config(store: String, pluginDir: String, workBatch: Int, lease: String = "30s") -> String {
        """
        version: 1
        store: \(store)
        plugins: { dir: \(pluginDir), trusted: [testkit, bench-echo] }   # the issues measure in-process plugins
        worker: { batch: \(workBatch), idle: 1ms, lease: \(lease) }
        tenants:
          - id: bench
            connections:
              - id: sink
                plugin: testkit
                config: { role: sink }
            workflows:
              - id: three-steps
                trigger: { event: record.Account }
                steps:
                  - map:
                      external_id: $.external_id
                      updated_at: $.updated_at
                      name: upper($.name)
                      email: $.email
                      industry: $.industry
                      billing_address: $.billing_address
                      currency: $.currency
                  - call: bench-echo
                  - write: { connection: sink, entity: Account }
        """
    }

    static func records(_ count: Int, offset: Int = 0) -> [[UInt8]] {
        (offset..<offset + count).map { i in
            Array(#"{"external_id":"ACC-\#(i)","updated_at":"2026-11-27T10:15:00Z","name":"Northwind Advisory GmbH \#(i)","email":"billing\#(i)@northwind.example","industry":"Professional Services","currency":"EUR","phone":"+49 30 1234567","website":"https://northwind.example","billing_address":{"street":"Hauptstrasse 12","city":"Berlin","postal_code":"10115","region":"Berlin","country":"DE"},"status":"active","custom":{"segment":"mid-market","owner":"j.doe@example.com","notes":"Key account since 2019; renewal due Q3"}}"#.utf8)
        }
    }
}
