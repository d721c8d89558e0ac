import Foundation
import SwitchboardCore

/// Diagnostics as stored JSON: `[{"severity","summary","detail","field_path"}]`.
public enum DiagnosticCoding {
    /// Secrets are scrubbed on the way in: exception items never hold one.
    public static func encode(_ diagnostics: [Diagnostic]) -> String {
        Redactor.redact(JSON.array(diagnostics.map { d in
            .object([("severity", .string(d.severity.rawValue)), ("summary", .string(d.summary)),
                     ("detail", .string(d.detail)), ("field_path", .string(d.fieldPath))])
        }).text)
    }

    public static func decode(_ text: String) -> [Diagnostic] {
        guard let items = (try? JSON.parse(text))?.arrayValue else { return [] }
        return items.map { item in
            Diagnostic(item["summary"]?.stringValue ?? "", detail: item["detail"]?.stringValue ?? "",
                       fieldPath: item["field_path"]?.stringValue ?? "",
                       severity: Diagnostic.Severity(rawValue: item["severity"]?.stringValue ?? "") ?? .error)
        }
    }
}

/// Step timings as stored JSON.
public enum StepCoding {
    /// `[{"step","ms","status","detail"}]`, written straight to bytes: every finished item is encoded, and
    /// building a JSON tree first cost about a third of the committing thread's CPU in `bench hosts`.
    public static func encode(_ steps: [StepTiming]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(96 * steps.count + 2)
        out.append(UInt8(ascii: "["))
        for (i, s) in steps.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"step":"#.utf8)
            JSON.writeString(s.step, into: &out)
            out.append(contentsOf: #","ms":"#.utf8)
            writeMillis(s.millis, into: &out)
            out.append(contentsOf: #","status":"#.utf8)
            JSON.writeString(s.status, into: &out)
            out.append(contentsOf: #","detail":"#.utf8)
            JSON.writeString(s.detail, into: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [StepTiming] {
        guard let items = (try? JSON.parse(text))?.arrayValue else { return [] }
        return items.map { item in
            StepTiming(step: item["step"]?.stringValue ?? "", millis: Double(item["ms"]?.numberText ?? "0") ?? 0,
                       status: item["status"]?.stringValue ?? "", detail: item["detail"]?.stringValue ?? "")
        }
    }

    /// Milliseconds with three decimals (trailing ".000" left out), written as digits: Double's description is
    /// slow, and building strings for each part cost more than the rest of a step's encoding.
    static func writeMillis(_ v: Double, into out: inout [UInt8]) {
        let micros = Int((v * 1000).rounded())
        if micros < 0 { out.append(UInt8(ascii: "-")) }
        let magnitude = micros.magnitude
        writeDigits(magnitude / 1000, into: &out)
        let fraction = magnitude % 1000
        guard fraction != 0 else { return }
        out.append(UInt8(ascii: "."))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(fraction % 10))
    }

    private static func writeDigits(_ n: UInt, into out: inout [UInt8]) {
        if n >= 10 { writeDigits(n / 10, into: &out) }
        out.append(UInt8(ascii: "0") + UInt8(n % 10))
    }
}
