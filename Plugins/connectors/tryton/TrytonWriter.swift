// Idempotent writes. Each looks for what an earlier attempt made (by a
// natural key kept in Tryton) before creating anything, so the host's
// at-least-once delivery never makes a second customer, project or invoice.
import Foundation
import SwitchboardPluginKit

struct TrytonWriter {
    let tryton: TrytonSession
    let config: TrytonConnector.Config
    let host: HostCall

    func search(_ model: String, _ domain: [Any], limit: Int = 1) throws -> [Int] {
        try tryton.model(model, "search", [domain, 0, limit, NSNull()], host: host) as? [Int] ?? []
    }

    func create(_ model: String, _ values: [String: Any]) throws -> Int {
        guard let id = (try tryton.model(model, "create", [[values]], host: host) as? [Int])?.first else {
            throw PluginError.fatal("Tryton created no \(model)")
        }
        return id
    }

    /// A name as Tryton accepts it: Tryton refuses control characters in a name ("contains some invalid
    /// chars"), so each run of them (a newline, a tab) becomes one space and the ends are trimmed. Safe:
    /// a name's line breaks carry no meaning, and the source keeps its own value (docs/CONNECTORS.md).
    static func name(_ raw: String) -> String {
        var out = ""
        var pendingSpace = false
        for scalar in raw.unicodeScalars {
            if scalar.properties.generalCategory == .control {
                pendingSpace = true
                continue
            }
            if pendingSpace && !out.isEmpty && scalar != " " { out.unicodeScalars.append(" ") }
            pendingSpace = false
            out.unicodeScalars.append(scalar)
        }
        return out.trimmingCharacters(in: .whitespaces)
    }

    /// The party code that ties a Tryton customer to its record elsewhere.
    static func partyCode(source: String, externalID: String) -> String { "\(source)/\(externalID)" }

    // MARK: Account -> party.party

    func upsertParty(_ record: [String: Any], knownID: String) throws -> String {
        guard let source = record["source"] as? String, let externalID = record["external_id"] as? String else {
            throw PluginError.fatal("an Account needs source and external_id", fieldPath: "external_id")
        }
        var values: [String: Any] = [:]
        if let name = record["name"] as? String { values["name"] = Self.name(name) }
        let address = record["billing_address"] as? [String: Any]
        var id = Int(knownID)
        if id == nil { id = try search("party.party", [["code", "=", Self.partyCode(source: source, externalID: externalID)]]).first }
        if let id {
            if !values.isEmpty { _ = try tryton.model("party.party", "write", [[id], values], host: host) }
            if let address { try upsertAddress(party: id, address) }
            return "\(id)"
        }
        guard values["name"] != nil else { throw PluginError.fatal("a new customer needs a name", fieldPath: "name") }
        // Tryton cannot invoice a party without an address ("A value is required for field Invoice Address"): say so
        // now, while the account can be fixed at its source, not at the first invoice weeks later.
        guard let address, !addressValues(address).isEmpty else {
            throw PluginError.fatal("account \(externalID) (\(values["name"] as? String ?? "")) has no billing address: Tryton needs one to "
                                    + "invoice this customer; add it to the account in \(source), then retry the item", fieldPath: "billing_address")
        }
        let code = Self.partyCode(source: source, externalID: externalID)
        values["code"] = code
        values["addresses"] = [["create", [addressValues(address)]]]
        do {
            return "\(try create("party.party", values))"
        } catch {
            // Refused, and the code is taken now: another host (or an earlier attempt whose answer was lost)
            // created this customer between the search and the create ("The code on party must be unique").
            // Get-or-create: take that party and go on, as a search that had found it would have.
            guard let existing = try search("party.party", [["code", "=", code]]).first else { throw error }
            try upsertAddress(party: existing, address)
            return "\(existing)"
        }
    }

    func addressValues(_ address: [String: Any]) -> [String: Any] {
        var values: [String: Any] = [:]
        for key in ["street", "city", "postal_code"] { if let value = address[key] as? String { values[key] = value } }
        return values
    }

    func upsertAddress(party: Int, _ address: [String: Any]) throws {
        let values = addressValues(address)
        guard !values.isEmpty else { return }
        if let existing = try search("party.address", [["party", "=", party]]).first {
            _ = try tryton.model("party.address", "write", [[existing], values], host: host)
        } else {
            _ = try create("party.address", values.merging(["party": party]) { $1 })
        }
    }

    // MARK: Project -> project.work (a project with tasks, billed on timesheets)

    func upsertProject(_ record: [String: Any], knownID: String) throws -> String {
        guard let source = record["source"] as? String, let name = (record["name"] as? String).map(Self.name), !name.isEmpty else {
            throw PluginError.fatal("a Project needs source and name", fieldPath: "name")
        }
        let opportunity = record["opportunity"] as? String ?? record["external_id"] as? String ?? ""
        let marker = ProjectMarker.line(source: source, opportunity: opportunity)
        if let id = Int(knownID) { return "\(id)" }
        if let existing = try search("project.work", [["type", "=", "project"], ["comment", "ilike", "%\(marker)%"]]).first {
            return "\(existing)"
        }
        guard let account = record["account"] as? String else { throw PluginError.fatal("a Project needs its account", fieldPath: "account") }
        guard let party = try search("party.party", [["code", "=", Self.partyCode(source: source, externalID: account)]]).first
                ?? (Int(account).flatMap { try? search("party.party", [["id", "=", $0]]).first }) else {
            throw PluginError.fatal("customer \(Self.partyCode(source: source, externalID: account)) is not in Tryton: write the Account first",
                                    fieldPath: "account")
        }
        let custom = record["custom"] as? [String: Any] ?? [:]
        let productCode = custom["service_item"] as? String ?? config.serviceProduct
        guard let product = try search("product.product", [["code", "=", productCode]]).first else {
            throw PluginError.fatal("unknown service item \(productCode): Tryton has no product with that code", fieldPath: "custom.service_item")
        }
        let rate = custom["rate"] as? String ?? config.hourlyRate
        let company = tryton.context["company"] as? Int ?? 1
        var comment = marker
        var effort: [String: Any]?
        if let budget = record["budget"] as? [String: Any], let amount = budget["amount"] as? String, let currency = budget["currency"] as? String {
            // The project is invoiced in the deal's currency; its hours are planned in the company's, at Tryton's rate.
            let currencies = TrytonCurrencies(tryton: tryton, host: host)
            let books = try currencies.company()
            let deal = currency == books.code ? books : try currencies.currency(currency, fieldPath: "budget.currency")
            let factor = try currencies.factor(from: deal, to: books, fieldPath: "budget.currency")
            comment += "\nbudget: \(amount) \(currency)\n\(ProjectMarker.currencyPrefix)\(deal.code)"
            if let total = TrytonValue.exact(amount), let hourly = TrytonValue.exact(rate), hourly > 0 {
                var hours = total * factor / hourly, whole = Decimal()
                NSDecimalRound(&whole, &hours, 0, .plain)
                effort = TrytonValue.hours(NSDecimalNumber(decimal: whole).doubleValue)
            }
        }
        let tasks = (custom["tasks"] as? [String]) ?? ["Delivery"]
        func work(_ name: String, type: String) -> [String: Any] {
            ["name": name, "type": type, "company": company, "product": product, "list_price": TrytonValue.decimal(rate),
             "timesheet_available": true]
        }
        var project = work(name, type: "project")
        project["party"] = party
        project["project_invoice_method"] = (record["billing_method"] as? String) == "fixed_price" ? "effort" : "timesheet"
        project["comment"] = comment
        if let effort { project["effort_duration"] = effort }
        if !tasks.isEmpty { project["children"] = [["create", tasks.map { work(Self.name($0), type: "task") }]] }
        return "\(try create("project.work", project))"
    }

    // MARK: Invoice -> project.work.invoice, validate, post

    /// Invoices the project's approved time and posts the invoice. The
    /// invoice is found from the time entries it covers, so a retry posts the
    /// invoice an earlier attempt created instead of making another.
    func invoiceTime(_ record: [String: Any]) throws -> String {
        guard let projectRef = record["project"] as? String, let project = Int(projectRef) else {
            throw PluginError.fatal("an Invoice to create needs the Tryton project id", fieldPath: "project")
        }
        let lines = record["lines"] as? [[String: Any]] ?? []
        let entries = lines.flatMap { ($0["time_entries"] as? [String]) ?? [] }.compactMap(Int.init)
        guard !entries.isEmpty else { throw PluginError.fatal("an Invoice needs the time entries it bills", fieldPath: "lines[0].time_entries") }
        // Checked before anything is made: a missing rate leaves no company-currency draft behind for someone to post.
        let conversion = try invoiceConversion(project: project)
        var invoices = try invoicesCovering(entries)
        if invoices.isEmpty {
            _ = try tryton.model("project.work", "invoice", [[project]], host: host)
            invoices = try invoicesCovering(entries)
        }
        guard let invoice = invoices.first else {
            throw PluginError.fatal("Tryton made no invoice for time entries \(entries.map(String.init).joined(separator: ", ")) of project \(project)",
                                    detail: "is the time on a billable project (invoice method: timesheet) with a product and a customer?",
                                    fieldPath: "lines[0].time_entries")
        }
        for id in invoices {
            let state = (try tryton.model("account.invoice", "read", [[id], ["state"]], host: host) as? [[String: Any]])?.first?["state"] as? String
            if state == "draft", let conversion { try convert(invoice: id, conversion) }
            if state == "draft" { _ = try tryton.model("account.invoice", "validate_invoice", [[id]], host: host) }
            if state == "draft" || state == "validated" { _ = try tryton.model("account.invoice", "post", [[id]], host: host) }
        }
        return "\(invoice)"
    }

    typealias Conversion = (currency: TrytonCurrencies.Currency, factor: Decimal)

    /// For a project invoiced in a currency other than the company's: that currency and the factor from the
    /// company's (project_invoice drafts every invoice in the company's currency); nil when no conversion is due.
    func invoiceConversion(project: Int) throws -> Conversion? {
        let comment = (try tryton.model("project.work", "read", [[project], ["comment"]], host: host) as? [[String: Any]])?.first?["comment"]
        guard let code = ProjectMarker(comment: comment as? String ?? "").currency else { return nil }
        let currencies = TrytonCurrencies(tryton: tryton, host: host)
        let books = try currencies.company()
        guard code != books.code else { return nil }
        let target = try currencies.currency(code, fieldPath: "project")
        return (target, try currencies.factor(from: books, to: target, fieldPath: "project"))
    }

    /// Turns a draft invoice in the company's currency into one in `conversion.currency`: the same lines, each
    /// unit price converted at Tryton's rate (to Tryton's 4 price digits). Tryton posts it with the company-currency
    /// amounts beside it. Done once: an invoice already in that currency is left as it is.
    func convert(invoice: Int, _ conversion: Conversion) throws {
        let row = (try tryton.model("account.invoice", "read", [[invoice], ["currency", "lines"]], host: host) as? [[String: Any]])?.first ?? [:]
        guard row["currency"] as? Int != conversion.currency.id else { return }
        let lineIDs = row["lines"] as? [Int] ?? []
        let lines = try tryton.model("account.invoice.line", "read", [lineIDs, ["unit_price"]], host: host) as? [[String: Any]] ?? []
        var lineWrites: [Any] = []
        for line in lines {
            guard let id = line["id"] as? Int, let price = TrytonValue.decimalString(line["unit_price"]).flatMap(TrytonValue.exact) else { continue }
            lineWrites.append(["write", [id], ["currency": conversion.currency.id,
                                               "unit_price": TrytonValue.decimal(TrytonValue.fixed(price * conversion.factor, places: 4))]] as [Any])
        }
        // One write: Tryton requires an invoice's lines to be in its currency, so both change together.
        _ = try tryton.model("account.invoice", "write", [[invoice], ["currency": conversion.currency.id, "lines": lineWrites]], host: host)
    }

    func invoicesCovering(_ entries: [Int]) throws -> [Int] {
        let rows = try tryton.model("timesheet.line", "read", [entries, ["invoice_line"]], host: host) as? [[String: Any]] ?? []
        let lineIDs = rows.compactMap { $0["invoice_line"] as? Int }
        guard !lineIDs.isEmpty else { return [] }
        let lines = try tryton.model("account.invoice.line", "read", [lineIDs, ["invoice"]], host: host) as? [[String: Any]] ?? []
        return Array(Set(lines.compactMap { $0["invoice"] as? Int })).sorted()
    }
}
