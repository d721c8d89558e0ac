import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardHost

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (build with -c release for figures that mean anything).",
        subcommands: [ABI.self, Runtime.self, Hosts.self, HostWorker.self, VaultRotation.self, Sandbox.self, Reload.self]
    )

    /// Cost of crossing the plugin ABI: a direct Swift call, a no-op plugin
    /// call, and a 500-byte canonical record handed to a plugin and back.
    struct ABI: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "ns per call across the plugin ABI (medians).")

        @Option(help: "The bench-echo plugin (default: libsbplugin-bench-echo.so beside this executable).")
        var plugin: String?

        @Option(help: "Calls per run.")
        var iterations = 1_000_000

        @Option(help: "Runs; the median is reported.")
        var runs = 11

        func run() throws {
            let path = plugin ?? BenchSupport.besideExecutable("libsbplugin-bench-echo.so")
            let library = try loadOrExit(path)
            let instance = try library.open(config: Array("{}".utf8))
            defer { instance.close() }
            let record = BenchSupport.canonicalRecord(bytes: 500)
            var copy = [UInt8](repeating: 0, count: 4096)
            var copied = 0

            // The baseline: a Swift function with the same arguments.
            let direct = BenchSupport.median(runs: runs, iterations: iterations) { n in
                record.withUnsafeBytes { bytes in
                    var sink: Int32 = 0
                    for _ in 0..<n { sink &+= directNoop("noop", bytes) }
                    blackHole(sink)
                }
            }
            let noop = BenchSupport.median(runs: runs, iterations: iterations) { n in
                record.withUnsafeBytes { bytes in
                    for _ in 0..<n { _ = instance.onEvent(type: "noop", event: bytes, sink: nil) }
                }
            }
            let roundTrip = BenchSupport.median(runs: runs, iterations: iterations / 2) { n in
                record.withUnsafeBytes { bytes in
                    for _ in 0..<n {
                        _ = instance.onEvent(type: "echo", event: bytes) { item in
                            copy.withUnsafeMutableBytes { $0.copyMemory(from: item.data) }
                            copied = item.data.count
                            return .ok
                        }
                    }
                }
            }
            precondition(copied == record.count, "echo returned \(copied) bytes, sent \(record.count)")
            #if DEBUG
            print("warning: debug build; run `swift run -c release switchboard bench abi` for real figures")
            #endif
            print("ABI bench (\(runs) runs, median ns per call, plugin \(library.descriptor.id))")
            print(String(format: "  direct Swift call           %8.1f ns", direct))
            print(String(format: "  plugin no-op call           %8.1f ns   (overhead %.1f ns; target <= 100)", noop, noop - direct))
            print(String(format: "  500 B record round trip     %8.1f ns   (target <= 2000)", roundTrip))
        }
    }
}

/// Kept opaque to the optimiser so the call really happens.
@_optimize(none) @inline(never)
func directNoop(_ type: String, _ event: UnsafeRawBufferPointer) -> Int32 { type.isEmpty ? 1 : 0 }

@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

enum BenchSupport {
    /// Median ns per iteration over `runs` timed runs (after one warm-up run).
    static func median(runs: Int, iterations: Int, _ body: (Int) -> Void) -> Double {
        body(max(iterations / 10, 1))
        var samples: [Double] = []
        for _ in 0..<max(runs, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            body(iterations)
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations))
        }
        samples.sort()
        return samples[samples.count / 2]
    }

    /// A realistic canonical Account record, padded to exactly `bytes`.
    static func canonicalRecord(bytes: Int) -> [UInt8] {
        var text = #"{"entity":"Account","tenant":"acme-consulting","source":"crm-main","external_id":"0015g00000XyZ12AAB","updated_at":"2026-11-27T10:15:00Z","name":"Northwind Advisory GmbH","billing_address":{"street":"Hauptstrasse 12","city":"Berlin","postal_code":"10115","country":"DE"},"industry":"Professional Services","annual_revenue":{"amount":"12500000.00","currency":"EUR"},"owner":"j.doe@example.com","notes":""#
        while text.utf8.count < bytes - 2 { text += "x" }
        text += "\"}"
        return Array(text.utf8)
    }

    /// A file in the same directory as the running executable.
    /// Bytes this process has caused to be written to storage so far (`write_bytes` of /proc/self/io; 0 where unavailable).
    static func bytesWritten() -> Int64 {
        guard let io = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return 0 }
        for line in io.split(separator: "\n") where line.hasPrefix("write_bytes:") {
            return Int64(line.dropFirst("write_bytes:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }

    /// How fast this machine is at this moment: the median ns one thread takes to parse the 500 B bench record
    /// and write it out again (`JSON.parse`, then `bytes`), over 9 runs of 20,000. One build's figures on one CPU
    /// model differed twofold between sessions and by half within one: the benches print this before and after
    /// their runs, so a figure can be set beside the spell it was measured in.
    static func referenceNanos() -> Double {
        let record = canonicalRecord(bytes: 500)
        #if DEBUG
        let iterations = 2_000  // a debug build's figure means nothing; keep its smoke tests quick
        #else
        let iterations = 20_000
        #endif
        // Checked, so a parse that failed cannot pass for a fast machine.
        let written = (try? JSON.parse(record))?.bytes.count ?? 0
        precondition(written > 0, "the bench record does not parse")
        return median(runs: 9, iterations: iterations) { n in
            var total = 0
            for _ in 0..<n { total &+= ((try? JSON.parse(record))?.bytes.count ?? 0) }
            precondition(total == n * written, "the bench record parsed differently between runs")
            blackHole(total)
        }
    }

    /// The line a bench ends with: the machine, and its speed reference before the runs and now.
    static func machineLine(referenceBefore: Double) -> String {
        String(format: "machine: %@; speed reference %.2f us before the runs, %.2f us after (500 B record parsed and written; lower is faster)",
               machineDescription(), referenceBefore / 1000, referenceNanos() / 1000)
    }

    /// The machine a figure was measured on, e.g. "AMD EPYC (family 26, model 2), 2 cores": the same build's
    /// figures differ more than twofold between machines of one kind, so a figure is quoted with its machine.
    static func machineDescription() -> String {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "\(cores) cores" }
        var fields: [String: String] = [:]
        for line in info.split(separator: "\n") {
            if line.isEmpty { break }  // the first processor's block is enough
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        let model = fields["model name"] ?? "unknown CPU"
        let family = fields["cpu family"].map { " (family \($0), model \(fields["model"] ?? "?"))" } ?? ""
        return "\(model)\(family), \(cores) cores"
    }

    /// CPU seconds (user + system) of this process so far, threads that ended included.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// CPU seconds used so far by the processes of this machine called `name` (e.g. a database server's
    /// backends and background processes), read from /proc/PID/stat: each one's own, plus that of its
    /// children that ended (a backend whose connection closed is counted in the postmaster that reaped it).
    static func cpuSecondsOfProcesses(named name: String) -> Double {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var total = 0.0
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where pid.allSatisfy(\.isNumber) {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"),
                  stat[stat.index(after: open)..<close] == name else { continue }
            total += cpuTicks(afterName: stat[stat.index(after: close)...], endedChildren: true) / ticks
        }
        return total
    }

    /// utime + stime (fields 14 and 15 of a stat(5) line), and with `endedChildren` cutime + cstime (16 and 17),
    /// from the part of the line after the process name.
    private static func cpuTicks(afterName rest: Substring, endedChildren: Bool = false) -> Double {
        let fields = rest.split(separator: " ")
        guard fields.count > 14, let user = Double(fields[11]), let system = Double(fields[12]),
              let childUser = Double(fields[13]), let childSystem = Double(fields[14]) else { return 0 }
        return user + system + (endedChildren ? childUser + childSystem : 0)
    }

    /// CPU seconds the calling thread has used.
    static func threadCPUSeconds() -> Double { Double(Clock.threadCPUNanoseconds()) / 1e9 }

    /// CPU seconds and name of each live thread, by thread id (/proc/self/task/TID/stat; empty where unavailable).
    static func cpuSecondsByThread() -> [Int: (name: String, seconds: Double)] {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var byThread: [Int: (name: String, seconds: Double)] = [:]
        for tid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? [] {
            guard let id = Int(tid), let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                  let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
            byThread[id] = (String(stat[stat.index(after: open)..<close]), cpuTicks(afterName: stat[stat.index(after: close)...]) / ticks)
        }
        return byThread
    }

    /// CPU seconds the threads called `name` spent between two samples of `cpuSecondsByThread`. Threads are told
    /// apart by id, not summed by name first: a thread of an earlier run still alive at `before` and gone by
    /// `after` would otherwise subtract its whole life from this run's figure.
    static func cpuSeconds(ofThreadsNamed name: String, before: [Int: (name: String, seconds: Double)],
                           after: [Int: (name: String, seconds: Double)]) -> Double {
        after.reduce(0) { sum, thread in
            guard thread.value.name == name else { return sum }
            return sum + thread.value.seconds - (before[thread.key].map { $0.name == name ? $0.seconds : 0 } ?? 0)
        }
    }

    static func besideExecutable(_ name: String) -> String {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
