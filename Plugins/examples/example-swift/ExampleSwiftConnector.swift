// example-swift: a connector written with the Swift SDK. It serves a
// generated list of contacts with a resumable cursor, accepts idempotent
// writes, and checks a shared token on webhooks.
//
// Swift plugins must be built by the same Swift toolchain as the host (Swift
// has no stable ABI on Linux); C plugins need nothing but the header.
import Foundation
import SwitchboardPluginKit

final class ExampleSwiftConnector: ConnectorPlugin {
    static let manifest = PluginManifest(
        id: "example-swift", version: "1.0.0", kind: .connector,
        capabilities: [.check, .discover, .read, .write, .webhook],
        name: "Example connector (Swift)", description: "Generated contacts, idempotent writes, token-checked webhooks",
        vendor: "Switchboard")

    static let configSchema = """
        {"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","additionalProperties":false,
         "properties":{"contacts":{"type":"integer","minimum":0,"maximum":100000},
                       "domain":{"type":"string","minLength":1},
                       "webhook_token":{"type":"string","minLength":8}},
         "required":["contacts","domain"]}
        """

    struct Config {
        var contacts: Int
        var domain: String
        var webhookToken: String?
    }

    /// Parses and checks a config, collecting every problem with its field path.
    static func parse(_ bytes: [UInt8]) -> (Config?, [PluginDiagnostic]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            return (nil, [PluginDiagnostic("config is not a JSON object")])
        }
        var problems: [PluginDiagnostic] = []
        for key in object.keys where !["contacts", "domain", "webhook_token"].contains(key) {
            problems.append(PluginDiagnostic("unknown field", fieldPath: key))
        }
        let contacts = object["contacts"] as? Int
        if contacts == nil { problems.append(PluginDiagnostic("required integer is missing", fieldPath: "contacts")) }
        if let contacts, contacts < 0 || contacts > 100_000 {
            problems.append(PluginDiagnostic("must be from 0 to 100000", fieldPath: "contacts"))
        }
        let domain = object["domain"] as? String
        if domain?.isEmpty ?? true { problems.append(PluginDiagnostic("required non-empty string", fieldPath: "domain")) }
        let token = object["webhook_token"] as? String
        if object["webhook_token"] != nil && token == nil { problems.append(PluginDiagnostic("must be a string", fieldPath: "webhook_token")) }
        if let token, token.count < 8 { problems.append(PluginDiagnostic("must be at least 8 characters", fieldPath: "webhook_token")) }
        guard problems.isEmpty, let contacts, let domain else { return (nil, problems) }
        return (Config(contacts: contacts, domain: domain, webhookToken: token), [])
    }

    static func validate(config: [UInt8]) -> [PluginDiagnostic] { parse(config).1 }

    let config: Config
    private var ledger: [String: String] = [:]  // idempotency key -> external id
    private var nextID = 5000

    init(config: [UInt8], host: HostCall) throws {
        let parsed = try configOrThrow(Self.parse(config))
        self.config = parsed
    }

    func checkConnection(host: HostCall) throws {
        host.log(.info, "example-swift source is reachable", fieldsJSON: #"{"contacts":\#(config.contacts)}"#)
    }

    func discover(host: HostCall) throws -> String {
        #"{"streams":[{"name":"contacts","entity":"Contact","cursor":"sequence"}],"writes":["Contact"],"events":["contact.updated"]}"#
    }

    func read(_ request: ReadRequest, host: HostCall) throws {
        guard request.stream == "contacts" else {
            throw PluginError.config("unknown stream (this connector has only \"contacts\")", fieldPath: "stream")
        }
        var next = 0
        if !request.state.isEmpty {
            guard let state = try? JSONSerialization.jsonObject(with: Data(request.state)) as? [String: Any],
                  let saved = state["next"] as? Int else {
                throw PluginError.fatal("saved cursor is not {\"next\": N}", fieldPath: "state.next")
            }
            next = saved
        }
        var emitted = 0
        while next < config.contacts {
            if host.isCancelled { throw PluginError.cancelled }
            next += 1
            let record = #"{"external_id":"con-\#(next)","first_name":"Person","last_name":"\#(next)","email":"person\#(next)@\#(config.domain)","updated_at":"2026-01-01T00:00:00Z"}"#
            try host.emitRecord(entity: "Contact", json: Array(record.utf8))
            emitted += 1
            if request.maxRecords > 0 && emitted >= request.maxRecords { break }
        }
        try host.emitState(stream: "contacts", state: Array(#"{"next":\#(next)}"#.utf8))
    }

    func write(_ request: WriteRequest, host: HostCall) throws -> String {
        guard !request.idempotencyKey.isEmpty else {
            throw PluginError.fatal("a write needs an idempotency key", fieldPath: "idempotency_key")
        }
        if let known = ledger[request.idempotencyKey] { return known }
        // A known external id is an update of that record (a later version of it), not a new one.
        let id: String
        if request.externalID.isEmpty {
            nextID += 1
            id = "c-\(nextID)"
        } else {
            id = request.externalID
        }
        ledger[request.idempotencyKey] = id
        return id
    }

    func handleWebhook(_ request: WebhookRequest, host: HostCall) throws {
        if let token = config.webhookToken, request.header("X-Example-Token") != token {
            throw PluginError.auth("webhook token does not match")
        }
        try host.emitEvent(type: "contact.updated", json: request.body)
    }
}

@_cdecl("switchboard_plugin_manifest")
public func pluginManifest() -> UnsafeRawPointer { PluginExport.manifest(ExampleSwiftConnector.self) }

@_cdecl("switchboard_plugin_init")
public func pluginInit(_ args: UnsafeRawPointer?, _ result: UnsafeMutableRawPointer?) -> Int32 {
    PluginExport.initialize(ExampleSwiftConnector.self, args, result)
}
