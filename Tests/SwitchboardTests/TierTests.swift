import Foundation
import Testing

/// Tests/TIERS sorts every suite into one tier (scripts/test-tier runs a tier alone): a suite added
/// without a tier, in two tiers, or a tier naming a suite that no longer exists fails here.
@Suite struct TierTests {
    @Test func everySuiteIsInExactlyOneTier() throws {
        let tiers = try String(contentsOfFile: TestEnv.repoRoot + "/Tests/TIERS", encoding: .utf8)
        var tierOf: [String: [String]] = [:]
        for line in tiers.split(separator: "\n") where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let tier = String(line[..<colon])
            for suite in line[line.index(after: colon)...].split(separator: " ") { tierOf[String(suite), default: []].append(tier) }
        }
        #expect(Set(tierOf.values.flatMap { $0 }) == ["unit", "store", "sandbox", "real", "e2e"])
        let directory = TestEnv.repoRoot + "/Tests/SwitchboardTests"
        var suites: [String: String] = [:]
        // The attribute, its traits (on one line), then the type it marks, on that line or the next.
        let declaration = try Regex(#"@Suite(?:\([^\n]*?\))?\s*(?:final class|struct|enum) (\w+)"#)
        for file in try FileManager.default.contentsOfDirectory(atPath: directory) where file.hasSuffix(".swift") {
            let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
            for match in text.matches(of: declaration) {
                if let name = match.output[1].substring { suites[String(name)] = file }
            }
        }
        #expect(suites.count > 40, "the scan found only \(suites.count) suites")
        for (suite, file) in suites.sorted(by: { $0.key < $1.key }) {
            #expect(tierOf[suite]?.count == 1, "\(suite) (\(file)) is in \(tierOf[suite] ?? []) of Tests/TIERS: give it exactly one tier")
        }
        for suite in tierOf.keys where suites[suite] == nil {
            Issue.record("Tests/TIERS names \(suite), which no file in Tests/SwitchboardTests declares")
        }
    }
}
