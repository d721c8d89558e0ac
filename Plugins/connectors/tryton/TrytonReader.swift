// Incremental reads: each stream pages through its model in
// (last_modified_at, id) order from the committed cursor and emits canonical
// records or events, then the cursor covering them. Event payloads carry the
// record's creation time as updated_at, so reading a record again yields the
// same bytes and the host's event log drops the repeat.
import Foundation
import SwitchboardPluginKit

struct TrytonReader {
    let tryton: TrytonSession
    let config: TrytonConnector.Config
    let host: HostCall

    struct Cursor {
        var at: String?
        var id = 0

        init(_ state: [UInt8]) throws {
            guard !state.isEmpty else { return }
            guard let object = try? JSONSerialization.jsonObject(with: Data(state)) as? [String: Any] else {
                throw PluginError.fatal("saved cursor is not {\"at\", \"id\"}", fieldPath: "state")
            }
            at = object["at"] as? String
            id = object["id"] as? Int ?? 0
        }

        var json: [UInt8] {
            let object: [String: Any] = ["at": at.map { $0 as Any } ?? NSNull(), "id": id]
            return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
        }
    }

    /// Rows of `model` changed after the cursor, oldest first; emits the advanced cursor after `each` ran for all.
    func changed(_ model: String, stream: String, domain: [Any], fields: [String], request: ReadRequest,
                 each: ([[String: Any]], Cursor) throws -> Void) throws {
        var cursor = try Cursor(request.state)
        var filter = domain
        if let at = cursor.at, let when = TrytonValue.dateTime(at) {
            filter.append(["OR", ["last_modified_at", ">", when], [["last_modified_at", "=", when], ["id", ">", cursor.id]]])
        }
        let limit = request.maxRecords > 0 ? min(request.maxRecords, 500) : 200
        let rows = try tryton.model(model, "search_read", [filter, 0, limit, [["last_modified_at", "ASC"], ["id", "ASC"]],
                                                            fields + ["last_modified_at", "create_date"]], host: host) as? [[String: Any]] ?? []
        let start = cursor
        try each(rows, start)
        if let last = rows.last {
            cursor.at = TrytonValue.dateTimeString(last["last_modified_at"])
            cursor.id = last["id"] as? Int ?? cursor.id
        }
        try host.emitState(stream: stream, state: cursor.json)
    }

    func emit(event type: String, _ payload: [String: Any]) throws {
        try host.emitEvent(type: type, json: Array(try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])))
    }

    // MARK: parties -> Account records (master data)

    func parties(_ request: ReadRequest) throws {
        try changed("party.party", stream: "parties", domain: [], fields: ["name", "code", "addresses"], request: request) { rows, _ in
            let addressIDs = rows.compactMap { ($0["addresses"] as? [Int])?.first }
            let addresses = try readByID("party.address", addressIDs, ["street", "city", "postal_code"])
            for row in rows {
                guard let id = row["id"] as? Int, let name = row["name"] as? String else { continue }
                var account: [String: Any] = [
                    "external_id": "\(id)", "name": name,
                    "updated_at": TrytonValue.dateTimeString(row["last_modified_at"]) ?? "",
                ]
                if let code = row["code"] as? String { account["custom"] = ["code": code] }
                if let first = (row["addresses"] as? [Int])?.first, let address = addresses[first] {
                    var billing: [String: Any] = [:]
                    for (field, key) in [("street", "street"), ("city", "city"), ("postal_code", "postal_code")] {
                        if let value = address[field] as? String, !value.isEmpty { billing[key] = value }
                    }
                    if !billing.isEmpty { account["billing_address"] = billing }
                }
                try host.emitRecord(entity: "Account", json: Array(try JSONSerialization.data(withJSONObject: account, options: [.sortedKeys])))
            }
        }
    }

    // MARK: projects -> project.created

    func projects(_ request: ReadRequest) throws {
        try changed("project.work", stream: "projects", domain: [["type", "=", "project"]],
                    fields: ["name", "party", "comment", "project_invoice_method"], request: request) { rows, start in
            for row in rows {
                // Created in this window: a project is announced once (a later change is not a new project).
                guard let id = row["id"] as? Int, let created = TrytonValue.dateTimeString(row["create_date"]),
                      start.at.map({ created >= $0 }) ?? true, let party = row["party"] as? Int else { continue }
                try emit(event: "project.created", projectPayload(id: id, row: row, party: party, created: created))
            }
        }
    }

    func projectPayload(id: Int, row: [String: Any], party: Int, created: String) -> [String: Any] {
        let marker = ProjectMarker(comment: row["comment"] as? String ?? "")
        var project: [String: Any] = [
            "external_id": "\(id)", "updated_at": created, "name": row["name"] as? String ?? "",
            "account": "\(party)", "status": "active",
            "billing_method": (row["project_invoice_method"] as? String) == "timesheet" ? "time_and_materials" : "fixed_price",
        ]
        if let budget = marker.budget { project["budget"] = budget }
        if let opportunity = marker.opportunity {
            project["opportunity"] = opportunity.id
            project["custom"] = ["opportunity_source": opportunity.source]
        }
        return project
    }

    // MARK: timesheets -> time.approved

    func timesheets(_ request: ReadRequest) throws {
        try changed("timesheet.line", stream: "timesheets", domain: [],
                    fields: ["work", "employee.rec_name", "duration", "date", "description"], request: request) { rows, start in
            let fresh = rows.filter { row in
                guard let created = TrytonValue.dateTimeString(row["create_date"]) else { return false }
                return start.at.map { created >= $0 } ?? true
            }
            guard !fresh.isEmpty else { return }
            let works = try projectWorks(ofTimesheetWorks: fresh.compactMap { $0["work"] as? Int })
            for row in fresh {
                guard let id = row["id"] as? Int, let work = row["work"] as? Int, let task = works.task[work],
                      let project = works.root[task] else { continue }
                let hours = TrytonValue.hoursOf(row["duration"])
                let rate = Double(TrytonValue.decimalString(works.price[task]) ?? config.hourlyRate) ?? 0
                var entry: [String: Any] = [
                    "external_id": "\(id)", "updated_at": TrytonValue.dateTimeString(row["create_date"]) ?? "",
                    "project": "\(project)", "resource": (row["employee."] as? [String: Any])?["rec_name"] as? String ?? "unknown",
                    "date": TrytonValue.dateString(row["date"]) ?? "", "hours": Self.decimal(hours), "billable": true,
                    "status": "approved", "rate": ["amount": TrytonValue.money(rate), "currency": config.currency],
                    "billable_amount": ["amount": TrytonValue.money(rate * hours), "currency": config.currency],
                ]
                if task != project { entry["task"] = "\(task)" }
                if let description = row["description"] as? String, !description.isEmpty { entry["description"] = description }
                if let opportunity = works.opportunity[project] { entry["custom"] = ["opportunity": opportunity.id, "opportunity_source": opportunity.source] }
                try emit(event: "time.approved", entry)
            }
        }
    }

    /// For timesheet works: the project.work each belongs to, that work's root project, list prices and opportunity markers.
    func projectWorks(ofTimesheetWorks ids: [Int]) throws -> (task: [Int: Int], root: [Int: Int], price: [Int: Any], opportunity: [Int: ProjectMarker.Reference]) {
        var task: [Int: Int] = [:]
        for (id, row) in try readByID("timesheet.work", ids, ["origin"]) {
            if let origin = row["origin"] as? String, origin.hasPrefix("project.work,"), let work = Int(origin.dropFirst(13)) { task[id] = work }
        }
        var root: [Int: Int] = [:], price: [Int: Any] = [:], opportunity: [Int: ProjectMarker.Reference] = [:]
        var pending = Set(task.values)
        var parent: [Int: Int] = [:]
        // Walk up to the project (tasks nest a few levels at most).
        for _ in 0..<8 where !pending.isEmpty {
            let rows = try readByID("project.work", Array(pending), ["parent", "type", "list_price", "comment"])
            pending = []
            for (id, row) in rows {
                if price[id] == nil { price[id] = row["list_price"] }
                if let up = row["parent"] as? Int, (row["type"] as? String) != "project" {
                    parent[id] = up
                    if rows[up] == nil && root[up] == nil { pending.insert(up) }
                } else {
                    root[id] = id
                    if let reference = ProjectMarker(comment: row["comment"] as? String ?? "").opportunity { opportunity[id] = reference }
                }
            }
        }
        for work in Set(task.values) {
            var at = work
            while root[at] == nil, let up = parent[at] { at = up }
            if let top = root[at] { root[work] = top }
        }
        return (task, root, price, opportunity)
    }

    // MARK: invoices -> invoice.posted, payment.received

    func invoices(_ request: ReadRequest) throws {
        try changed("account.invoice", stream: "invoices", domain: [["type", "=", "out"], ["state", "in", ["posted", "paid"]]],
                    fields: ["number", "state", "party", "total_amount", "tax_amount", "invoice_date", "currency.code", "lines", "reconciled"],
                    request: request) { rows, _ in
            guard !rows.isEmpty else { return }
            let lineIDs = rows.flatMap { $0["lines"] as? [Int] ?? [] }
            let timesheet = try tryton.model("timesheet.line", "search_read", [[["invoice_line", "in", lineIDs]], 0, NSNull(), NSNull(),
                                                                                ["work", "invoice_line"]], host: host) as? [[String: Any]] ?? []
            let works = try projectWorks(ofTimesheetWorks: timesheet.compactMap { $0["work"] as? Int })
            var projectOfLine: [Int: Int] = [:]
            for line in timesheet {
                if let invoiceLine = line["invoice_line"] as? Int, let work = line["work"] as? Int, let task = works.task[work],
                   let project = works.root[task] { projectOfLine[invoiceLine] = project }
            }
            for row in rows {
                guard let id = row["id"] as? Int, let party = row["party"] as? Int,
                      let created = TrytonValue.dateTimeString(row["create_date"]) else { continue }
                let currency = (row["currency."] as? [String: Any])?["code"] as? String ?? config.currency
                let total = TrytonValue.decimalString(row["total_amount"]) ?? "0"
                let project = (row["lines"] as? [Int] ?? []).lazy.compactMap { projectOfLine[$0] }.first
                var custom: [String: Any] = [:]
                if let project, let opportunity = works.opportunity[project] {
                    custom = ["opportunity": opportunity.id, "opportunity_source": opportunity.source]
                }
                var invoice: [String: Any] = [
                    "external_id": "\(id)", "updated_at": created, "account": "\(party)", "number": row["number"] as? String ?? "",
                    "status": "posted", "total": ["amount": total, "currency": currency],
                    "amount_due": ["amount": total, "currency": currency], "custom": custom,
                ]
                if let project { invoice["project"] = "\(project)" }
                if let date = TrytonValue.dateString(row["invoice_date"]) { invoice["issue_date"] = date }
                if let tax = TrytonValue.decimalString(row["tax_amount"]) { invoice["tax"] = ["amount": tax, "currency": currency] }
                try emit(event: "invoice.posted", invoice)
                if (row["state"] as? String) == "paid" {
                    var paymentCustom = custom
                    paymentCustom["invoice_number"] = row["number"] as? String ?? ""
                    try emit(event: "payment.received", [
                        "external_id": "invoice-\(id)", "updated_at": created, "invoice": "\(id)", "account": "\(party)",
                        "amount": ["amount": total, "currency": currency],
                        "received_on": TrytonValue.dateString(row["reconciled"]) ?? TrytonValue.dateString(row["invoice_date"]) ?? "",
                        "custom": paymentCustom,
                    ])
                }
            }
        }
    }

    // MARK: helpers

    func readByID(_ model: String, _ ids: [Int], _ fields: [String]) throws -> [Int: [String: Any]] {
        guard !ids.isEmpty else { return [:] }
        let rows = try tryton.model(model, "read", [Array(Set(ids)), fields], host: host) as? [[String: Any]] ?? []
        var byID: [Int: [String: Any]] = [:]
        for row in rows { if let id = row["id"] as? Int { byID[id] = row } }
        return byID
    }

    static func decimal(_ value: Double) -> String {
        var text = String(format: "%.4f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}

/// What the connector writes into a project's comment so the project can be
/// found again (idempotent create) and traced back to its deal:
/// `opportunity: SOURCE/ID`, `budget: AMOUNT CUR` and `invoiced in: CUR` lines.
struct ProjectMarker {
    struct Reference { var source: String; var id: String }
    var opportunity: Reference?
    var budget: [String: String]?
    /// The currency the project is invoiced in (its deal's); nil: the company's.
    var currency: String?
    static let currencyPrefix = "invoiced in: "

    init(comment: String) {
        for line in comment.split(separator: "\n") {
            if line.hasPrefix("opportunity: ") {
                let value = line.dropFirst("opportunity: ".count)
                if let slash = value.firstIndex(of: "/") {
                    opportunity = Reference(source: String(value[..<slash]), id: String(value[value.index(after: slash)...]))
                }
            } else if line.hasPrefix(Self.currencyPrefix) {
                currency = String(line.dropFirst(Self.currencyPrefix.count))
            } else if line.hasPrefix("budget: ") {
                let parts = line.dropFirst("budget: ".count).split(separator: " ")
                if parts.count == 2 { budget = ["amount": String(parts[0]), "currency": String(parts[1])] }
            }
        }
    }

    static func line(source: String, opportunity: String) -> String { "opportunity: \(source)/\(opportunity)" }
}
