import Foundation
import Testing

/// The bench commands keep running and printing their figures. Tiny workloads on a debug build: what they
/// measure means something only in release builds (`swift build -c release`, then `switchboard bench ...`).
@Suite struct BenchSmokeTests {
    /// The microseconds a CPU breakdown (the end of the line) gives `part`, as in "store writer 57" (nil when absent).
    func micros(_ part: String, in line: Substring) -> Double? {
        guard let range = line.range(of: part + " ", options: .backwards) else { return nil }
        return Double(line[range.upperBound...].prefix { $0.isNumber || $0 == "." })
    }

    /// The machine line names the machine and its speed reference before and after the runs, both measured.
    func expectMachineLine(in lines: [Substring], _ output: String) throws {
        let line = try #require(lines.first { $0.hasPrefix("machine: ") }, "\(output)")
        #expect(line.contains("cores"), "\(line)")
        let reference = try #require(line.range(of: "speed reference "), "\(line)")
        let figures = line[reference.upperBound...].split(separator: " ").compactMap { Double($0) }
        #expect(figures.count == 2 && figures.allSatisfy { $0 > 0 }, "\(line)")
    }

    @Test func runtimeBenchPrintsRateLatencyAndWhereTheCPUWent() throws {
        let result = try TestEnv.run(TestEnv.switchboard, ["bench", "runtime", "--events", "2000", "--runs", "3", "--work-batch", "200"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        let summary = try #require(lines.first { $0.hasPrefix("runtime bench") }, "\(result.stdout)")
        #expect(summary.contains("events/s") && summary.contains("p99"))
        // A figure says which machine it came from.
        try expectMachineLine(in: lines, result.stdout)
        // Every run has its own writer figure: an earlier run's writer thread, still ending, once took this run's
        // figure to zero and moved it to "other threads".
        let runs = lines.filter { $0.hasPrefix("  run ") }
        #expect(runs.count == 3, "\(result.stdout)")
        for run in runs { #expect((micros("store writer", in: run) ?? 0) > 0, "\(run)") }
        let cpu = try #require(lines.first { $0.hasPrefix("CPU per event") }, "\(result.stdout)")
        for part in ["store writer", "worker", "ingest"] {
            #expect((micros(part, in: cpu) ?? 0) > 0, "\(part) in: \(cpu)")
        }
    }

    @Test func hostsBenchMeasuresTheHostsAndTheDatabase() throws {
        let url = try #require(TestPostgres.url, "scripts/start-postgres (scripts/test runs it)")
        let result = try TestEnv.run(TestEnv.switchboard, ["bench", "hosts", "--store", url, "--events", "600", "--runs", "1",
                                                           "--hosts", "1,2", "--work-batch", "100"],
                                     environment: TestPostgres.hostEnvironment)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.contains { $0.contains("SQLite (synchronous=FULL)   1 host : median") }, "\(result.stdout)")
        try expectMachineLine(in: lines, result.stdout)
        let twoHosts = try #require(lines.first { $0.contains("PostgreSQL (fsync on)       2 hosts: median") }, "\(result.stdout)")
        // The server runs on this machine, so its CPU is measured too.
        #expect((micros("hosts", in: twoHosts) ?? 0) > 0, "\(twoHosts)")
        #expect((micros("PostgreSQL", in: twoHosts) ?? 0) > 0, "\(twoHosts)")
    }
}
