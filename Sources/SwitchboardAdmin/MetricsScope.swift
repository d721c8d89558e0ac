/// The Prometheus text a tenant-scoped token may see: the series labelled with its tenant, and the host's own
/// series (no tenant label); another tenant's series are left out.
enum MetricsScope {
    static func only(tenant: String, in text: String) -> String {
        let own = "tenant=\"\(escaped(tenant))\""
        return text.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            line.hasPrefix("#") || !line.contains("tenant=\"") || line.contains(own)
        }.joined(separator: "\n")
    }

    /// A label value as the exposition format writes it.
    static func escaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
