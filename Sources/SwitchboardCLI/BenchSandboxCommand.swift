import ArgumentParser
import Foundation
import Logging
import SwitchboardCore
import SwitchboardHost
import SwitchboardSandbox

extension BenchCommand {
    /// What isolation costs: a 500 B record round trip in-process and in a
    /// sandbox worker, and how long a crashed worker takes to serve again.
    struct Sandbox: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sandboxed vs in-process call round trip, and crash-to-serving time (medians).")

        @Option(help: "The bench-echo plugin (default: libsbplugin-bench-echo.so beside this executable).")
        var plugin: String?

        @Option(help: "Calls per run.")
        var iterations = 20_000

        @Option(help: "Runs; the median is reported.")
        var runs = 7

        @Option(help: "Crashes to time.")
        var crashes = 21

        func run() throws {
            let path = plugin ?? BenchSupport.besideExecutable("libsbplugin-bench-echo.so")
            let record = BenchSupport.canonicalRecord(bytes: 500)
            let inProcess = try loadOrExit(path).open(config: Array("{}".utf8))
            defer { inProcess.close() }
            var settings = SandboxSettings()
            settings.restartBackoffMillis = 0
            settings.breakerFailures = Int.max
            // Crashes are the point here: keep their warnings out of the figures.
            let quiet = InstanceServices(logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
            let sandboxed = try SandboxedPlugin.load(path: path, settings: settings).open(config: Array("{}".utf8), services: quiet)
            defer { sandboxed.close() }

            func roundTrip(_ plugin: any PluginHandle) -> Double {
                var copied = 0
                let ns = BenchSupport.median(runs: runs, iterations: iterations) { n in
                    record.withUnsafeBytes { bytes in
                        for _ in 0..<n {
                            _ = plugin.onEvent(type: "echo", event: bytes, deadline: 0, labels: [:]) { item in
                                copied = item.data.count
                                return .ok
                            }
                        }
                    }
                }
                precondition(copied == record.count, "echo returned \(copied) bytes, sent \(record.count)")
                return ns
            }
            let direct = roundTrip(inProcess)
            let isolated = roundTrip(sandboxed)

            // Crash -> the next call served by a fresh worker (spawn, harden, load, re-open).
            var recoveries: [Double] = []
            for _ in 0..<crashes {
                let crashed = record.withUnsafeBytes { sandboxed.onEvent(type: "crash", event: $0, deadline: 0, labels: [:], sink: nil) }
                precondition(crashed.status == .retry, "the crash call returned \(crashed.summary)")
                let start = Clock.monotonicNanoseconds()
                let served = record.withUnsafeBytes { sandboxed.onEvent(type: "noop", event: $0, deadline: 0, labels: [:], sink: nil) }
                precondition(served.isOK, "the restarted worker did not serve: \(served.summary)")
                recoveries.append(Double(Clock.monotonicNanoseconds() - start) / 1e6)
            }
            recoveries.sort()
            #if DEBUG
            print("warning: debug build; run `swift run -c release switchboard bench sandbox` for real figures")
            #endif
            let h = sandboxed.hardening
            print("Sandbox bench (\(runs) runs of \(iterations) calls, medians; worker: \(h.summary))")
            print(String(format: "  500 B round trip, in-process  %9.2f us", direct / 1000))
            print(String(format: "  500 B round trip, sandboxed   %9.2f us   (target <= 15 us)", isolated / 1000))
            print(String(format: "  crash -> restarted worker serving  %6.1f ms median, %.1f ms max (%d crashes)",
                         recoveries[recoveries.count / 2], recoveries.last ?? 0, recoveries.count))
        }
    }
}
