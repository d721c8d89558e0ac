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
