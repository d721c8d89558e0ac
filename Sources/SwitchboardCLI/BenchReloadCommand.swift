import ArgumentParser
import Foundation
import Logging
import SwitchboardCore
import SwitchboardRuntime
import Synchronization

extension BenchCommand {
    /// What a hot reload costs (docs/PACKAGES.md, "Hot reload"): how long opening a new generation and swapping it in
    /// takes, and the delay it adds to events arriving under load, as interleaved runs with and without reloads.
    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reload", abstract: "Hot reload: time to open and swap a generation, and event latency under load with and without reloads.")

        @Option(help: "Events per second offered during each run.") var rate = 2_000
        @Option(help: "Seconds per run.") var seconds = 6
        @Option(help: "Reloads per run (evenly spaced) in the runs with reloads.") var reloads = 5
        @Option(help: "Pairs of runs (without, with reloads); medians are reported.") var runs = 3
        @Option(help: "Plugin directory (default: the directory of this executable).") var plugins: String?

        func run() throws {
            PrometheusExport.bootstrap()
            let referenceBefore = BenchSupport.referenceNanos()
            let pluginDir = plugins ?? BenchSupport.besideExecutable("")
            var quiet: [(Int64, Int64)] = [], reloading: [(Int64, Int64)] = [], swaps: [Int64] = []
            for run in 1...max(runs, 1) {
                let without = try once(pluginDir: pluginDir, reloads: 0)
                let with = try once(pluginDir: pluginDir, reloads: reloads)
                print(String(format: "  pair %d: without reloads p50 %lld ms p99 %lld ms | with %d reloads p50 %lld ms p99 %lld ms, reload median %lld ms",
                             run, without.p50, without.p99, reloads, with.p50, with.p99, median(with.swaps)))
                quiet.append((without.p50, without.p99))
                reloading.append((with.p50, with.p99))
                swaps += with.swaps
            }
            #if DEBUG
            print("warning: debug build; run `swift run -c release switchboard bench reload` for real figures")
            #endif
            print(BenchSupport.machineLine(referenceBefore: referenceBefore))
            print(String(format: "reload bench (%d events/s offered, %d s per run, %d pairs): reload (open + swap) median %lld ms, max %lld ms; event latency p50 %lld -> %lld ms, p99 %lld -> %lld ms (without -> with %d reloads per run)",
                         rate, seconds, runs, median(swaps), swaps.max() ?? 0, median(quiet.map(\.0)), median(reloading.map(\.0)),
                         median(quiet.map(\.1)), median(reloading.map(\.1)), reloads))
        }

        func median(_ values: [Int64]) -> Int64 { values.isEmpty ? 0 : values.sorted()[values.count / 2] }

        /// One run: events offered at `rate` for `seconds` while `reloads` reloads happen, evenly spaced.
        func once(pluginDir: String, reloads: Int) throws -> (p50: Int64, p99: Int64, swaps: [Int64]) {
            let work = NSTemporaryDirectory() + "sb-bench-reload-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: work) }
            try BenchWorkload.config(store: "sqlite:\(work)/bench.db", pluginDir: pluginDir, workBatch: 256)
                .write(toFile: work + "/bench.yaml", atomically: true, encoding: .utf8)
            var logger = Logger(label: "bench")
            logger.logLevel = .critical
            let runtime = try openRuntime(config: work + "/bench.yaml", logger: logger)
            runtime.start()
            let total = rate * seconds
            let records = BenchWorkload.records(total)
            let tick = 10_000_000 as Int64, perTick = max(1, rate / 100)
            let started = Clock.monotonicNanoseconds()
            let reloadEvery = Int64(seconds) * 1_000_000_000 / Int64(reloads + 1)
            var nextReload = reloads > 0 ? started + reloadEvery : Int64.max
            let swaps = Mutex<[Int64]>([])
            let reloadThreads = DispatchGroup()
            var offset = 0, swapsStarted = 0
            while offset < records.count {
                let slice = records[offset..<min(offset + perTick, records.count)]
                _ = try runtime.ingest(tenant: "bench", source: "crm", kind: .record, items: slice.map { ("Account", $0) })
                offset += slice.count
                if Clock.monotonicNanoseconds() >= nextReload, swapsStarted < reloads {
                    swapsStarted += 1
                    // On its own thread, as the watcher does: ingest goes on meanwhile.
                    reloadThreads.enter()
                    Thread {
                        let began = Clock.monotonicNanoseconds()
                        if case .reloaded = runtime.reload(reason: "bench") {
                            swaps.withLock { $0.append((Clock.monotonicNanoseconds() - began) / 1_000_000) }
                        }
                        reloadThreads.leave()
                    }.start()
                    nextReload += reloadEvery
                }
                let due = started + Int64(offset / perTick) * tick
                let now = Clock.monotonicNanoseconds()
                if due > now { usleep(UInt32((due - now) / 1000)) }
            }
            reloadThreads.wait()
            while try runtime.store.hasUnfinishedWork() { usleep(20_000) }
            runtime.stop()
            let stats = try runtime.store.stats(tenant: "bench")
            guard stats.done == total else { throw ValidationError("only \(stats.done) of \(total) events completed") }
            let made = swaps.withLock { $0 }
            guard made.count == reloads else { throw ValidationError("\(made.count) of \(reloads) reloads happened") }
            let latencies = stats.latenciesMillis
            return (latencies[latencies.count / 2], latencies[min(latencies.count - 1, latencies.count * 99 / 100)], made)
        }
    }
}
