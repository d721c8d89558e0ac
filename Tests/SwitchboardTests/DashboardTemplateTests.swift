@testable import SwitchboardAdmin
import Testing

/// The dashboard's HTML comes from Mustache templates (Sources/SwitchboardAdmin/templates), which escape every
/// value: a client's name, a record id or a plugin's diagnostic cannot write markup into an operator's page.
@Suite struct DashboardTemplateTests {
    static let hostile = #"<script>alert("x")</script>&'"#

    @Test(arguments: ["signin", "tenants", "tenant", "transaction", "packages"])
    func everyPageRendersInTheLayoutAndEscapesValues(template: String) throws {
        let row: [String: Any] = ["id": Self.hostile, "name": Self.hostile, "reason": Self.hostile, "record": Self.hostile, "why": Self.hostile,
                                  "state": Self.hostile, "plugin": Self.hostile, "step": Self.hostile, "detail": Self.hostile, "when": Self.hostile,
                                  "label": Self.hostile, "value": 1, "actions": true]
        let context: [String: Any] = [
            "title": Self.hostile, "tenant": Self.hostile, "name": Self.hostile, "notice": Self.hostile, "error": Self.hostile,
            "lastError": Self.hostile, "event": Self.hostile, "record": Self.hostile,
            "brand": ["name": Self.hostile, "primary": "#0a7d4f", "accent": "#f0a020", "logo": Self.hostile],
            "user": ["name": Self.hostile, "role": "viewer"],
            "tenants": [row], "counts": [row], "buckets": [row], "reasons": [row], "items": [row], "connections": [row], "latest": [row],
            "steps": [row], "installed": [row], "catalogue": [row], "sources": [row], "history": [row],
        ]
        let html = try #require(DashboardTemplates.library.render(context, withTemplate: template), "template \(template) is registered")
        #expect(html.hasPrefix("<!doctype html>") && html.hasSuffix("</html>\n"), "inside the layout")
        #expect(!html.contains("<script>") && !html.contains(#"alert("x")"#), "a value wrote markup:\n\(html.prefix(2000))")
        #expect(html.contains("&lt;script&gt;"), "the value is shown, escaped")
    }
}
