// bottlecrm: BottleCRM (django-crm 1.35) as the CRM of the flow (accounts,
// contacts and deals, read incrementally). Deals won
// arrive as signed webhooks (`deal.won`), or, where no webhook is set up, by
// polling the activity feed; both build the same canonical Opportunity from
// the deal as the CRM holds it, so a deal seen both ways is one event in the
// host's log. Writes go back onto the deal as custom fields (the ERP's
// project, invoice number and status, payment).
import Foundation
import SwitchboardPluginKit
import SwitchboardSignedWebhook

final class BottleCRMConnector: ConnectorPlugin {
    static let manifest = PluginManifest(
        id: "bottlecrm", version: "1.0.0", kind: .connector,
        capabilities: [.check, .discover, .read, .write, .webhook, .fetch, .hostEgress, .rawSecrets],
        name: "BottleCRM", description: "BottleCRM accounts and deals: signed webhooks, activity-feed polling, write-back to deals",
        vendor: "Switchboard")

    static let configSchema = """
        {"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,
         "required":["url"],
         "properties":{"url":{"type":"string","description":"BottleCRM's base URL, e.g. https://crm.example.com"},
                       "webhook_tolerance_seconds":{"type":"integer","minimum":1,"maximum":86400,"description":"How old a signed delivery may be (default 300)"},
                       "initial_sync":{"enum":["all","now"],"description":"First poll: every won deal (all, default) or only changes from now on"}}}
        """

    struct Config {
        var url: String
        var toleranceSeconds: Int64 = 300
        var initialSyncAll = true
    }

    static func parse(_ bytes: [UInt8]) -> (Config?, [PluginDiagnostic]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            return (nil, [PluginDiagnostic("config is not a JSON object")])
        }
        var problems: [PluginDiagnostic] = []
        for key in object.keys where !["url", "webhook_tolerance_seconds", "initial_sync"].contains(key) {
            problems.append(PluginDiagnostic("unknown field", fieldPath: key))
        }
        var config = Config(url: "")
        if let url = object["url"] as? String, url.hasPrefix("http://") || url.hasPrefix("https://") {
            config.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        } else {
            problems.append(PluginDiagnostic("required: BottleCRM's base URL (http:// or https://)", fieldPath: "url"))
        }
        if let tolerance = object["webhook_tolerance_seconds"] {
            if let number = tolerance as? Int, !(tolerance is Bool), (1...86_400).contains(number) {
                config.toleranceSeconds = Int64(number)
            } else {
                problems.append(PluginDiagnostic("must be a whole number of seconds from 1 to 86400", fieldPath: "webhook_tolerance_seconds"))
            }
        }
        if let initial = object["initial_sync"] {
            switch initial as? String {
            case "all": config.initialSyncAll = true
            case "now": config.initialSyncAll = false
            default: problems.append(PluginDiagnostic("must be all or now", fieldPath: "initial_sync"))
            }
        }
        return problems.isEmpty ? (config, []) : (nil, problems)
    }

    static func validate(config: [UInt8]) -> [PluginDiagnostic] { parse(config).1 }

    let config: Config
    /// Custom-field definitions known to exist on deals (created once, on first write).
    var definedFields: Set<String> = []

    init(config: [UInt8], host: HostCall) throws {
        let parsed = try configOrThrow(Self.parse(config))
        self.config = parsed
    }

    func api(_ host: HostCall) -> BottleCRMAPI { BottleCRMAPI(baseURL: config.url, host: host) }

    func checkConnection(host: HostCall) throws {
        _ = try api(host).get("/api/opportunities/pipelines/")
    }

    func discover(host: HostCall) throws -> String {
        """
        {"streams":[{"name":"opportunities","entity":"Opportunity","events":["opportunity.won"],"cursor":"activity-feed"},
                    {"name":"accounts","entity":"Account","cursor":"activity-feed"},
                    {"name":"contacts","entity":"Contact","cursor":"activity-feed"}],
         "writes":["Opportunity","Account"],
         "webhooks":["deal.won","account.created","account.updated"]}
        """
    }

    // MARK: - Fetch (one record as the CRM holds it now: replays re-read their source)

    func fetch(_ request: FetchRequest, host: HostCall) throws {
        let mapper = BottleCRMMapper(api: api(host))
        switch request.entity {
        case "Opportunity":
            // The same record a webhook or a poll builds; the won event only while the deal is still won.
            guard let deal = try mapper.opportunity(id: request.externalID) else { return }
            if request.eventType == "opportunity.won" && deal.stage == "won" {
                try host.emitEvent(type: "opportunity.won", json: deal.json)
            } else {
                try host.emitRecord(entity: "Opportunity", json: deal.json)
            }
        case "Account": try host.emitRecord(entity: "Account", json: try mapper.account(id: request.externalID))
        case "Contact": try host.emitRecord(entity: "Contact", json: try mapper.contact(id: request.externalID))
        default: throw PluginError.config("bottlecrm fetches Opportunity, Account and Contact, not \(request.entity)", fieldPath: "entity")
        }
    }

    // MARK: - Webhooks

    func handleWebhook(_ request: WebhookRequest, host: HostCall) throws {
        let secret: [UInt8]
        do { secret = try host.secret("webhook_secret") } catch {
            throw PluginError.config("the webhook secret (secrets.webhook_secret) is not available", fieldPath: "secrets.webhook_secret")
        }
        let now = host.unixNanoseconds / 1_000_000_000
        let header = request.header("X-BottleCRM-Signature")
        var verdict = SignedWebhook.verify(header: header, body: request.body, secret: secret, now: now, toleranceSeconds: config.toleranceSeconds,
                                           headerName: "X-BottleCRM-Signature")
        // During a rotation's overlap window the host also holds the replaced secret (webhook_secret.previous):
        // deliveries the CRM signed before the rotation still verify until the window ends.
        if case .rejected = verdict, let previous = try? host.secret("webhook_secret.previous"), !previous.isEmpty,
           SignedWebhook.verify(header: header, body: request.body, secret: previous, now: now,
                                toleranceSeconds: config.toleranceSeconds) == .authentic {
            verdict = .authentic
        }
        if case .rejected(let why) = verdict {
            host.log(.warning, "webhook rejected: \(why)", fieldsJSON: #"{"delivery":"\#(Self.escape(request.header("X-BottleCRM-Delivery") ?? ""))"}"#)
            throw PluginError.auth("webhook rejected: \(why)")
        }
        guard let delivery = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any],
              let event = delivery["event"] as? String, let data = delivery["data"] as? [String: Any], let id = Self.string(data["id"]) else {
            throw PluginError.fatal("the delivery is not {event, data: {id, ...}}", fieldPath: "body")
        }
        let mapper = BottleCRMMapper(api: api(host))
        switch event {
        case "deal.won":
            // The deal as the CRM holds it now: the same record a poll would build.
            if let won = try mapper.opportunity(id: id), won.stage == "won" {
                try host.emitEvent(type: "opportunity.won", json: won.json)
            }
        case "account.created", "account.updated":
            try host.emitRecord(entity: "Account", json: try mapper.account(id: id))
        default:
            host.log(.debug, "ignored webhook event \(event)")
        }
    }

    // MARK: - Polling (the fallback when webhooks are not set up)

    func read(_ request: ReadRequest, host: HostCall) throws {
        let entityType: String
        switch request.stream {
        case "opportunities": entityType = "Opportunity"
        case "accounts": entityType = "Account"
        case "contacts": entityType = "Contact"
        default: throw PluginError.config("unknown stream \(request.stream) (opportunities, accounts, contacts)", fieldPath: "stream")
        }
        let poller = ActivityPoller(api: api(host), host: host, stream: request.stream, entityType: entityType, initialAll: config.initialSyncAll)
        try poller.poll(state: request.state)
    }

    // MARK: - Writes

    /// Updates a deal (the ERP's references land in its custom fields) or an account. Never creates a deal:
    /// deals are born in the CRM. The deal is `externalID`, else the record's `external_id`.
    func write(_ request: WriteRequest, host: HostCall) throws -> String {
        guard let record = try? JSONSerialization.jsonObject(with: Data(request.record)) as? [String: Any] else {
            throw PluginError.fatal("the record is not a JSON object")
        }
        let id = request.externalID.isEmpty ? (record["external_id"] as? String ?? "") : request.externalID
        guard !id.isEmpty else { throw PluginError.fatal("which deal? the record has no external_id", fieldPath: "external_id") }
        let client = api(host)
        switch request.entity {
        case "Opportunity":
            let fields = (record["custom"] as? [String: Any] ?? [:]).filter { $0.key.hasPrefix("sb_") }
            guard !fields.isEmpty else { return id }
            try ensureDefinitions(Array(fields.keys), client)
            // custom_fields is replaced as a whole: merge with what the deal holds.
            let current = try client.get("/api/opportunities/\(id)/")
            var merged = ((current["opportunity_obj"] as? [String: Any])?["custom_fields"] as? [String: Any]) ?? [:]
            for (key, value) in fields { merged[key] = value }
            _ = try client.patch("/api/opportunities/\(id)/", ["custom_fields": merged])
            return id
        case "Account":
            var body: [String: Any] = [:]
            if let name = record["name"] as? String { body["name"] = name }
            if let address = record["billing_address"] as? [String: Any] {
                for (canonical, crm) in [("street", "address_line"), ("city", "city"), ("postal_code", "postcode"), ("country", "country")] {
                    if let value = address[canonical] as? String { body[crm] = value }
                }
            }
            if !body.isEmpty { _ = try client.patch("/api/accounts/\(id)/", body) }
            return id
        default:
            throw PluginError.config("the bottlecrm connector writes Opportunity and Account, not \(request.entity)", fieldPath: "entity")
        }
    }

    /// BottleCRM keeps only custom fields the org has defined: define ours (text) once.
    func ensureDefinitions(_ keys: [String], _ client: BottleCRMAPI) throws {
        let missing = keys.filter { !definedFields.contains($0) }
        guard !missing.isEmpty else { return }
        let list = try client.get("/api/custom-fields/")
        for definition in list["definitions"] as? [[String: Any]] ?? [] where (definition["target_model"] as? String) == "Opportunity" {
            if let key = definition["key"] as? String { definedFields.insert(key) }
        }
        for key in missing where !definedFields.contains(key) {
            let label = key.dropFirst(3).replacingOccurrences(of: "_", with: " ").capitalized
            _ = try client.post("/api/custom-fields/", ["target_model": "Opportunity", "key": key, "label": label, "field_type": "text"])
            definedFields.insert(key)
        }
    }

    static func string(_ value: Any?) -> String? {
        if let text = value as? String { return text }
        if let number = value as? NSNumber { return number.stringValue }
        return nil
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}

@_cdecl("switchboard_plugin_manifest")
public func pluginManifest() -> UnsafeRawPointer { PluginExport.manifest(BottleCRMConnector.self) }

@_cdecl("switchboard_plugin_init")
public func pluginInit(_ args: UnsafeRawPointer?, _ result: UnsafeMutableRawPointer?) -> Int32 {
    PluginExport.initialize(BottleCRMConnector.self, args, result)
}
