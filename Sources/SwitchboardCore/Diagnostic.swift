/// One problem reported by a plugin or found by the host: what is wrong,
/// why, and which input field is at fault (Terraform-style diagnostics).
public struct Diagnostic: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable { case error, warning, info }

    public var severity: Severity
    public var summary: String
    public var detail: String
    /// The field at fault, e.g. `auth.client_id` or `lines[2].amount`; empty when none.
    public var fieldPath: String

    public init(_ summary: String, detail: String = "", fieldPath: String = "", severity: Severity = .error) {
        self.severity = severity
        self.summary = summary
        self.detail = detail
        self.fieldPath = fieldPath
    }

    public var description: String {
        var text = fieldPath.isEmpty ? summary : "\(fieldPath): \(summary)"
        if !detail.isEmpty { text += " (\(detail))" }
        return text
    }
}

/// How much of a plugin's diagnostic the host keeps: enough to explain any real failure, bounded so
/// a runaway message (50 MB) costs neither the call's deadline nor the exception queue's storage.
public enum DiagnosticLimits {
    public static let summaryBytes = 4 * 1024
    public static let detailBytes = 16 * 1024
    public static let fieldPathBytes = 512
    /// Diagnostics kept per call; past it one line says how many more were dropped.
    public static let perCall = 100

    /// The text of `bytes`, cut at `limit` bytes (on a character boundary) and marked when cut.
    public static func text(_ bytes: UnsafeRawBufferPointer, limit: Int) -> String {
        guard bytes.count > limit else { return String(decoding: bytes, as: UTF8.self) }
        var end = limit
        // Back off continuation bytes (10xxxxxx) so a multi-byte character is not split.
        while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<end]), as: UTF8.self)
            + " … [truncated: \(bytes.count) bytes in all]"
    }

    /// `text` for a Swift string already in memory.
    public static func text(_ string: String, limit: Int) -> String {
        var copy = string
        return copy.withUTF8 { text(UnsafeRawBufferPointer($0), limit: limit) }
    }
}
