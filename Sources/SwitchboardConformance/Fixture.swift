import Foundation
import SwitchboardCore
import SwitchboardEgress
import SwitchboardRuntime
import Yams

/// A partner's description of the remote system a connector talks to (docs/CONFORMANCE.md):
/// the config and egress to open the plugin with, test values for the vault, what the read and
/// write checks use, and the scripted exchanges and stateful collections the fixture server answers with.
public struct Fixture: Sendable {
    /// A scripted answer: the first exchange whose request matches is answered.
    public struct Exchange: Sendable {
        public var method: String?
        public var path: String
        public var query: [String: String] = [:]
        public var headers: [String: String] = [:]
        public var bodyContains: String?
        public var status = 200
        public var responseHeaders: [(String, String)] = []
        public var body: [UInt8] = []
        /// Answers this many times, then never matches again (nil: always).
        public var times: Int?
    }

    /// A small REST resource with json-server's conventions.
    public struct Collection: Sendable {
        public var path: String
        public var idField = "id"
        public var idempotencyHeader: String?
        public var records: [JSON] = []
    }

    public var file: String
    /// The plugin's config, `{{fixture_url}}` not yet replaced.
    public var config: JSON?
    public var egress: EgressPolicy?
    public var vault: [String: String] = [:]
    /// Secrets the plugin reads itself (`host.secret`, for a plugin that logs in on its own): name ->
    /// `vault:NAME` (a value of `vault:`) or `env:VAR`. Given, the plugin runs as a connection allowed raw secrets.
    public var secrets: [String: String] = [:]
    public var readStream: String?
    public var minRecords = 1
    public var writeEntity: String?
    public var writeCollection: String?
    /// A record that exists at the target: for a connector that only updates (never creates), the write
    /// checks write to it (by its external id) and expect nothing new at the target.
    public var writeExternalID: String?
    /// Fields the target needs beyond the canonical required ones, set over the runner's sample record.
    public var writeRecord: [(String, JSON)] = []
    public var collections: [Collection] = []
    public var exchanges: [Exchange] = []
    /// Headers every request must carry (the credentials the host injects); a request without them gets 401.
    public var requireHeaders: [String: String] = [:]

    /// Whether the runner serves this fixture on loopback (else: a test instance reached through egress.allow).
    public var served: Bool { !collections.isEmpty || !exchanges.isEmpty }

    /// Reads a fixture file; every problem with its file:line:column.
    public static func load(file: String) throws(ConfigError) -> Fixture {
        guard let data = FileManager.default.contents(atPath: file), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(problems: [.init(location: nil, message: "\(file): cannot read the fixture file")])
        }
        let root = try ConfigLoader.document(text, file: file)
        var reader = ConfigReader(file: file)
        let fixture = reader.fixture(root)
        guard reader.problems.isEmpty, let fixture else { throw ConfigError(problems: reader.problems) }
        return fixture
    }

    /// The config with the fixture server's URL in place of `{{fixture_url}}`.
    public func config(fixtureURL: String) -> [UInt8]? {
        config.map { Array(String(decoding: $0.bytes, as: UTF8.self).replacingOccurrences(of: "{{fixture_url}}", with: fixtureURL).utf8) }
    }
}

extension ConfigReader {
    mutating func fixture(_ root: Node) -> Fixture? {
        guard let top = mapping(root, "the fixture", allowed: ["config", "egress", "vault", "secrets", "require_headers", "read", "write",
                                                                 "collections", "exchanges"]) else { return nil }
        var fixture = Fixture(file: file)
        fixture.config = top["config"].map { json($0) }
        fixture.egress = top["egress"].flatMap { egressPolicy($0, requireAllow: false) }
        if let v = top["vault"], case .mapping(let m) = v {
            for (key, value) in m { if let k = key.string, let s = string(value, "vault.\(k)", parent: v) { fixture.vault[k] = s } }
        } else if let v = top["vault"] { fail(v, "vault must be a mapping of secret name to test value") }
        fixture.requireHeaders = stringMap(top["require_headers"], "require_headers")
        fixture.secrets = stringMap(top["secrets"], "secrets")
        for (name, reference) in fixture.secrets where !reference.hasPrefix("vault:") && !reference.hasPrefix("env:") {
            fail(top["secrets"]!, "secrets.\(name) must be a reference (vault:NAME or env:VARIABLE), never the value itself")
        }
        if let r = top["read"], let m = mapping(r, "read", allowed: ["stream", "min_records"]) {
            if m["stream"] != nil { fixture.readStream = string(m["stream"], "read.stream", parent: r) }
            if let n = m["min_records"], let v = int(n, "read.min_records", range: 1...1_000_000) { fixture.minRecords = v }
        }
        if let w = top["write"], let m = mapping(w, "write", allowed: ["entity", "collection", "external_id", "record"]) {
            if let r = m["record"] {
                if case .object(let members) = json(r) { fixture.writeRecord = members } else { fail(r, "write.record must be a mapping of fields") }
            }
            if m["external_id"] != nil { fixture.writeExternalID = string(m["external_id"], "write.external_id", parent: w) }
            if let n = m["entity"], let entity = string(n, "write.entity", parent: w) {
                if CanonicalModel.entity(entity) == nil { fail(n, "write.entity \"\(entity)\" is not a canonical entity") } else { fixture.writeEntity = entity }
            }
            if m["collection"] != nil { fixture.writeCollection = string(m["collection"], "write.collection", parent: w) }
        }
        if let c = top["collections"], case .mapping(let m) = c {
            for (key, value) in m {
                guard let path = key.string, path.hasPrefix("/") else { fail(key, "a collection is named by its path, starting with /"); continue }
                guard let spec = mapping(value, "collections.\(path)", allowed: ["id", "idempotency_header", "records"]) else { continue }
                var collection = Fixture.Collection(path: path)
                if spec["id"] != nil, let id = string(spec["id"], "collections.\(path).id", parent: value) { collection.idField = id }
                if spec["idempotency_header"] != nil { collection.idempotencyHeader = string(spec["idempotency_header"], "collections.\(path).idempotency_header", parent: value) }
                for (i, record) in (spec["records"].flatMap { sequence($0, "collections.\(path).records") } ?? []).enumerated() {
                    let value = json(record)
                    guard case .object = value else { fail(record, "collections.\(path).records[\(i)] must be a mapping (a JSON object)"); continue }
                    collection.records.append(value)
                }
                fixture.collections.append(collection)
            }
        } else if let c = top["collections"] { fail(c, "collections must be a mapping of path to collection") }
        for (i, node) in (top["exchanges"].flatMap { sequence($0, "exchanges") } ?? []).enumerated() {
            if let exchange = exchange(node, index: i) { fixture.exchanges.append(exchange) }
        }
        if let path = fixture.writeCollection, !fixture.collections.contains(where: { $0.path == path }) {
            fail(top["write"]!, "write.collection \(path) is not one of the collections")
        }
        return fixture
    }

    private mutating func exchange(_ node: Node, index i: Int) -> Fixture.Exchange? {
        let what = "exchanges[\(i)]"
        guard let e = mapping(node, what, allowed: ["request", "response", "times"]) else { return nil }
        guard let requestNode = e["request"] else {
            fail(node, "\(what).request is required")
            return nil
        }
        guard let request = mapping(requestNode, "\(what).request", allowed: ["method", "path", "query", "headers", "body_contains"]),
              let path = string(request["path"], "\(what).request.path", parent: requestNode) else { return nil }
        var exchange = Fixture.Exchange(path: path)
        if request["method"] != nil { exchange.method = string(request["method"], "\(what).request.method", parent: requestNode)?.uppercased() }
        exchange.query = stringMap(request["query"], "\(what).request.query")
        exchange.headers = stringMap(request["headers"], "\(what).request.headers")
        if request["body_contains"] != nil { exchange.bodyContains = string(request["body_contains"], "\(what).request.body_contains", parent: requestNode) }
        if let t = e["times"] { exchange.times = int(t, "\(what).times", range: 1...1_000_000) }
        guard let responseNode = e["response"] else {
            fail(node, "\(what).response is required")
            return nil
        }
        guard let response = mapping(responseNode, "\(what).response", allowed: ["status", "headers", "json", "body"]) else { return nil }
        if let s = response["status"], let status = int(s, "\(what).response.status", range: 100...599) { exchange.status = status }
        exchange.responseHeaders = stringMap(response["headers"], "\(what).response.headers").sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if response["json"] != nil && response["body"] != nil { fail(responseNode, "\(what).response has both json and body: give one") }
        if let j = response["json"] {
            exchange.body = json(j).bytes
            if !exchange.responseHeaders.contains(where: { $0.0.lowercased() == "content-type" }) {
                exchange.responseHeaders.append(("Content-Type", "application/json"))
            }
        } else if let b = response["body"], case .scalar(let s) = b {
            exchange.body = Array(s.string.utf8)
        }
        return exchange
    }

    private mutating func stringMap(_ node: Node?, _ what: String) -> [String: String] {
        guard let node else { return [:] }
        guard case .mapping(let m) = node else {
            fail(node, "\(what) must be a mapping")
            return [:]
        }
        var out: [String: String] = [:]
        for (key, value) in m {
            guard let k = key.string, case .scalar(let s) = value else { fail(value, "\(what) values must be strings"); continue }
            out[k] = s.string
        }
        return out
    }
}
