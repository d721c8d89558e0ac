import Foundation
import SwitchboardCore

/// The outcome of one conformance check.
public struct CheckResult: Sendable {
    public enum Status: String, Sendable { case passed, failed, skipped }

    public var name: String
    public var status: Status
    /// One line: what was checked, or what went wrong.
    public var summary: String
    /// Every finding, one per line (field paths, inputs, outcomes).
    public var details: [String]
    public var seconds: Double

    public init(name: String, status: Status, summary: String, details: [String] = [], seconds: Double = 0) {
        self.name = name
        self.status = status
        self.summary = summary
        self.details = details
        self.seconds = seconds
    }
}

/// Everything `switchboard plugin test` found about one plugin file.
public struct ConformanceReport: Sendable {
    public var path: String
    public var pluginID: String?
    public var checks: [CheckResult]

    public var failed: [CheckResult] { checks.filter { $0.status == .failed } }
    public var passed: Bool { failed.isEmpty }

    /// The human-readable report.
    public var text: String {
        var lines = ["Conformance report for \(pluginID.map { "\($0) (\(path))" } ?? path)"]
        for check in checks {
            let mark = switch check.status { case .passed: "PASS"; case .failed: "FAIL"; case .skipped: "SKIP" }
            let name = check.name.padding(toLength: max(30, check.name.count), withPad: " ", startingAt: 0)
            lines.append("  \(mark)  \(name) \(String(format: "%6.2f", check.seconds))s  \(check.summary)")
            for detail in check.details.prefix(12) { lines.append("          - \(detail)") }
            if check.details.count > 12 { lines.append("          - ... \(check.details.count - 12) more") }
        }
        let counts = Dictionary(grouping: checks, by: \.status).mapValues(\.count)
        let skipped = counts[.skipped] ?? 0
        lines.append("\(counts[.passed] ?? 0) passed, \(counts[.failed] ?? 0) failed, \(skipped) skipped: "
                     + (!passed ? "the plugin does NOT conform"
                        : skipped == 0 ? "the plugin conforms"
                        : "the plugin conforms in every check exercised; \(skipped) were not exercised (SKIP above), so nothing is proved there"))
        // Names, summaries and details carry the plugin's own text: each line printed inert.
        return lines.map(TerminalText.line).joined(separator: "\n")
    }

    /// JUnit XML, one testcase per check (CI systems render it).
    public var junit: String {
        func escape(_ s: String) -> String {
            var out = ""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&quot;"
                case "\n", "\t": out.unicodeScalars.append(scalar)
                default:
                    // XML 1.0 forbids most control characters, even escaped.
                    if scalar.value < 0x20 { out += "?" } else { out.unicodeScalars.append(scalar) }
                }
            }
            return out
        }
        let suite = escape(pluginID ?? path)
        let total = checks.reduce(0) { $0 + $1.seconds }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuites><testsuite name=\"switchboard-plugin-test: \(suite)\" tests=\"\(checks.count)\" failures=\"\(failed.count)\" "
        xml += "skipped=\"\(checks.filter { $0.status == .skipped }.count)\" time=\"\(String(format: "%.3f", total))\">\n"
        for check in checks {
            xml += "  <testcase classname=\"\(suite)\" name=\"\(escape(check.name))\" time=\"\(String(format: "%.3f", check.seconds))\""
            switch check.status {
            case .passed: xml += "/>\n"
            case .skipped: xml += "><skipped message=\"\(escape(check.summary))\"/></testcase>\n"
            case .failed:
                xml += "><failure message=\"\(escape(check.summary))\">\(escape(check.details.joined(separator: "\n")))</failure></testcase>\n"
            }
        }
        xml += "</testsuite></testsuites>\n"
        return xml
    }
}
