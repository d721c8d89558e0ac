import Foundation
import Hummingbird
import SwitchboardCore
import SwitchboardHost
import SwitchboardRuntime
import SwitchboardStore

/// The admin API's handlers: authorisation, scope, validation, then the
/// same services the CLI uses (every mutation audited with the token's name).
struct AdminAPI: Sendable {
    let runtime: Runtime

    static let openAPIDocument: [UInt8] = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else {
            return Array(#"{"error":"openapi.json missing from the build"}"#.utf8)
        }
        return Array(data)
    }()

    var tokens: (any TokenStore)? { runtime.store as? any TokenStore }

    // MARK: auth

    /// Out of scope looks exactly like unknown: a tenant token must not learn other tenants exist.
    func requireVisible(_ tenant: String, to who: Principal) throws {
        guard who.sees(tenant), runtime.config.tenant(tenant) != nil else { throw AdminError.notFound("no tenant \"\(tenant)\"") }
    }

    // MARK: bodies

    /// A JSON object body (content type, size cap and syntax checked).
    func body(_ request: Request, limit: Int = AdminServer.apiBodyLimit) async throws -> JSON {
        let type = request.headers[.contentType]
        guard let type, type.lowercased().hasPrefix("application/json") else { throw AdminError.unsupportedMediaType(type) }
        let bytes = try await collect(request, limit: limit)
        let json: JSON
        do { json = try JSON.parse(bytes) } catch { throw AdminError.badRequest("malformed JSON: \(error)") }
        guard case .object = json else { throw AdminError.badRequest("the body must be a JSON object, got \(json.typeName)") }
        return json
    }

    func collect(_ request: Request, limit: Int) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw AdminError.tooLarge(limit) }
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch {
            throw AdminError.tooLarge(limit)
        }
    }

    static func requiredString(_ body: JSON, _ field: String) throws -> String {
        guard let value = body[field] else { throw AdminError.badRequest("\(field): required") }
        guard let text = value.stringValue else { throw AdminError.badRequest("\(field): must be a string, got \(value.typeName)") }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw AdminError.badRequest("\(field): must not be empty or blank")
        }
        return text
    }

    // MARK: health

    func ready() throws -> Response {
        do {
            _ = try runtime.store.hasUnfinishedWork()
        } catch {
            throw AdminError(status: .serviceUnavailable, code: "store_unavailable", message: "the store does not answer")
        }
        guard !runtime.isStopping else { throw AdminError(status: .serviceUnavailable, code: "stopping", message: "the runtime is stopping") }
        return JSON.object([("status", .string("ready"))]).response()
    }

    // MARK: tenants and connections

    func tenants(_ who: Principal) throws -> Response {
        let visible = runtime.config.tenants.filter { who.sees($0.id) }
        let list: [JSON] = try visible.map { t in
            .object([("id", .string(t.id)), ("name", .string(t.name)), ("connections", .number("\(t.connections.count)")),
                     ("open_exceptions", .number("\(try runtime.store.openExceptionCount(tenant: t.id))"))])
        }
        return JSON.object([("tenants", .array(list))]).response()
    }

    func stats(_ who: Principal, tenant: String) throws -> Response {
        let s = try runtime.store.stats(tenant: tenant)
        let byReason: [(String, JSON)] = s.exceptionsByReason.sorted { $0.key < $1.key }.map { reason, value in
            (reason, .object([("count", .number("\(value.count)")),
                              ("blocked", .object(value.blocked.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))]))
        }
        func percentile(_ percent: Int) -> JSON { Percentile.of(s.latenciesMillis, percent).map { .number("\($0)") } ?? .null }
        return JSON.object([
            ("tenant", .string(tenant)), ("events", .number("\(s.events)")), ("pending", .number("\(s.pending)")),
            ("running", .number("\(s.running)")), ("done", .number("\(s.done)")), ("parked", .number("\(s.parked)")),
            ("open_exceptions", .number("\(s.openExceptions)")), ("exceptions_by_reason", .object(byReason)),
            ("latency_ms", .object([("p50", percentile(50)), ("p95", percentile(95))])),
        ]).response()
    }

    func connections(_ who: Principal, tenant: String) throws -> Response {
        let paused = Dictionary(try runtime.store.pausedConnections().filter { $0.tenant == tenant }.map { ($0.connection, $0.reason) },
                                uniquingKeysWith: { $1 })
        let list: [JSON] = runtime.registry.all.filter { $0.tenant == tenant }.map { c in
            var fields: [(String, JSON)] = [
                ("id", .string(c.id)), ("plugin", .string(c.plugin.descriptor.id)), ("version", .string(c.plugin.descriptor.version)),
                ("isolation", .string(c.startFailure != nil ? "failed" : c.sandboxHealth == nil ? "inprocess" : "sandbox")),
                ("paused", .bool(paused[c.id] != nil)), ("degraded", .bool(c.degraded)),
            ]
            if c.plugin.has(.webhook) {
                fields.append(("webhooks", .object([
                    ("refused_last_minute", .number("\(c.refusals.recent())")), ("refused_total", .number("\(c.refusals.total)")),
                    ("degraded", .bool(c.refusals.degraded())), ("last_refusal", c.refusals.lastReason.map { .string($0) } ?? .null),
                ])))
            }
            if let reason = paused[c.id] { fields.append(("paused_reason", .string(reason))) }
            if let failure = c.startFailure { fields.append(("start_failure", .string(Redactor.redact(failure)))) }
            if let worker = c.containment { fields.append(("containment", .string(worker))) }
            if let h = c.sandboxHealth {
                fields.append(("health", .object([
                    ("degraded", .bool(h.degraded)), ("circuit_open", .bool(h.circuitOpen)), ("restarts", .number("\(h.restarts)")),
                    ("failures", .object(h.failures.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key.rawValue, .number("\($0.value)")) })),
                    ("last_failure", h.lastFailure.map { .string(Redactor.redact($0)) } ?? .null),
                ])))
            }
            return .object(fields)
        }
        return JSON.object([("connections", .array(list))]).response()
    }

    func setPaused(_ who: Principal, tenant: String, connection: String, paused: Bool, reason: String) throws -> Response {
        guard runtime.registry.connection(tenant: tenant, id: connection) != nil else {
            throw AdminError.notFound("no connection \"\(connection)\" in tenant \(tenant)")
        }
        let now = Clock.nowMillis()
        let released = try runtime.store.setConnectionPaused(tenant: tenant, connection: connection, paused: paused, reason: reason, now: now)
        try runtime.store.audit(actor: actor(who), action: paused ? "connection.pause" : "connection.resume",
                                target: "\(tenant)/\(connection)", detail: reason, now: now)
        return JSON.object([("connection", .string(connection)), ("paused", .bool(paused)), ("released", .number("\(released)"))]).response()
    }

    // MARK: exceptions

    func exceptions(_ who: Principal, tenant: String, query: Parameters) throws -> Response {
        var filter = ExceptionFilter(tenant: tenant)
        if let status = query.get("status") {
            guard ["open", "retried", "discarded", "superseded", "all"].contains(status) else {
                throw AdminError.badRequest("status: must be open, retried, discarded, superseded or all")
            }
            filter.status = status == "all" ? nil : status
        }
        filter.reason = query.get("reason")
        filter.connection = query.get("connection")
        filter.workflow = query.get("workflow")
        filter.assignee = query.get("assignee")
        if let limit = query.get("limit") {
            guard let n = Int(limit), (1...10_000).contains(n) else { throw AdminError.badRequest("limit: must be a whole number from 1 to 10000") }
            filter.limit = n
        }
        let items = try runtime.store.exceptions(filter)
        return JSON.object([("exceptions", .array(items.map(Self.itemJSON)))]).response()
    }

    func item(_ who: Principal, tenant: String, id: String?) throws -> ExceptionItem {
        guard let id, let number = Int64(id) else { throw AdminError.badRequest("id: must be a whole number") }
        guard let item = try runtime.store.exception(id: number), item.tenant == tenant else {
            throw AdminError.notFound("no exception item \(id) in tenant \(tenant)")
        }
        return item
    }

    func act(_ action: String, _ who: Principal, tenant: String, id: String?, body: JSON) throws -> Response {
        let item = try item(who, tenant: tenant, id: id)
        // A retry may re-read the source through its plugin: the generation is held until it is done.
        return try runtime.holding { generation in try act(action, who, item: item, tenant: tenant, body: body, generation: generation) }
    }

    private func act(_ action: String, _ who: Principal, item: ExceptionItem, tenant: String, body: JSON, generation: Generation) throws -> Response {
        let service = ExceptionService(store: runtime.store, config: generation.config, connections: generation.registry)
        let now = Clock.nowMillis()
        do {
            switch action {
            case "retry":
                let mode: ExceptionService.Reread
                switch body["reread"] {
                case nil: mode = .auto
                case .string(let text)? where ExceptionService.Reread(rawValue: text) != nil: mode = ExceptionService.Reread(rawValue: text)!
                default: throw AdminError.badRequest("reread: must be auto, always or never")
                }
                let report = try service.retry(ids: [item.id], actor: actor(who), reason: try Self.requiredString(body, "reason"), reread: mode)
                let failing = report.stillFailing.first?.diagnostics.map(\.description) ?? []
                return JSON.object([("id", .number("\(item.id)")), ("retried", .bool(!report.retried.isEmpty)),
                                    ("still_failing", .array(failing.map { .string($0) })),
                                    ("reread", report.reread[item.id].map { .string($0) } ?? .null)]).response()
            case "discard":
                let updated = try runtime.store.discardException(id: item.id, actor: actor(who), reason: try Self.requiredString(body, "reason"), now: now)
                return Self.itemJSON(updated).response()
            default:
                let updated = try runtime.store.assignException(id: item.id, to: try Self.requiredString(body, "to"), actor: actor(who), now: now)
                return Self.itemJSON(updated).response()
            }
        } catch let error as StoreError {
            // e.g. "already discarded": the client's request does not fit the item's state.
            throw AdminError(status: .conflict, code: "conflict", message: error.description)
        }
    }

    static func itemJSON(_ item: ExceptionItem) -> JSON {
        var fields: [(String, JSON)] = [
            ("id", .number("\(item.id)")), ("tenant", .string(item.tenant)), ("status", .string(item.status)),
            ("reason", .string(item.reason)), ("event_type", .string(item.eventType)), ("external_id", .string(item.externalID)),
            ("workflow", item.workflow.map { .string($0) } ?? .null), ("connection", item.connection.map { .string($0) } ?? .null),
            ("attempts", .number("\(item.attempts)")), ("assignee", item.assignee.map { .string($0) } ?? .null),
            ("diagnostics", .array(item.diagnostics.map { d in
                .object([("summary", .string(d.summary)), ("detail", .string(d.detail)), ("field_path", .string(d.fieldPath))])
            })),
            ("created_at", .number("\(item.createdAt)")),
            ("first_tried_at", item.firstTriedAt.map { .number("\($0)") } ?? .null),
            ("last_tried_at", item.lastTriedAt.map { .number("\($0)") } ?? .null),
        ]
        if let amount = item.amount, let currency = item.currency {
            fields.append(("impact", .object([("amount", .string(amount)), ("currency", .string(currency))])))
        }
        return .object(fields)
    }

    func actor(_ who: Principal) -> String { "api:\(who.name)" }

    // MARK: connection check, workflows, transactions, xref, plugins, audit

    func check(_ who: Principal, tenant: String, connection: String) throws -> Response {
        let outcome = try runtime.holding { generation in
            guard let c = generation.registry.connection(tenant: tenant, id: connection) else {
                throw AdminError.notFound("no connection \"\(connection)\" in tenant \(tenant)")
            }
            guard c.plugin.has(.check) else { throw AdminError.badRequest("plugin \(c.plugin.descriptor.id) has no check_connection") }
            return c.instance.checkConnection(deadline: Clock.monotonicNanoseconds() + 30_000_000_000, labels: ["trace": "api-check"])
        }
        try runtime.store.audit(actor: actor(who), action: "connection.check", target: "\(tenant)/\(connection)", detail: outcome.status.description,
                                now: Clock.nowMillis())
        return JSON.object([("connection", .string(connection)), ("status", .string(outcome.status.description)),
                            ("diagnostics", .array(outcome.diagnostics.map { .string(Redactor.redact($0.description)) }))]).response()
    }

    func workflows(_ who: Principal, tenant: String) throws -> Response {
        guard let t = runtime.config.tenant(tenant) else { throw AdminError.notFound("no tenant \"\(tenant)\"") }
        let list: [JSON] = t.workflows.map { w in
            .object([("id", .string(w.id)), ("steps", .array(w.steps.map { .string($0.name) }))])
        }
        let master: [JSON] = t.masterData.map { m in
            .object([("entity", .string(m.entity)), ("connections", .array(m.connections.map { .string($0) }))])
        }
        return JSON.object([("workflows", .array(list)), ("master_data", .array(master))]).response()
    }

    var transactionStore: any TransactionStore {
        get throws {
            guard let store = runtime.store as? any TransactionStore else {
                throw AdminError(status: .notImplemented, code: "not_supported", message: "this store cannot search transactions")
            }
            return store
        }
    }

    func transactions(_ who: Principal, tenant: String, query: Parameters) throws -> Response {
        var filter = TransactionFilter(tenant: tenant)
        if let status = query.get("status") {
            guard ["pending", "running", "done", "parked", "exception"].contains(status) else {
                throw AdminError.badRequest("status: must be pending, running, done, parked or exception")
            }
            filter.status = status
        }
        filter.entity = query.get("entity")
        filter.workflow = query.get("workflow")
        for (name, keyPath) in [("since", \TransactionFilter.since), ("until", \TransactionFilter.until)] {
            if let text = query.get(name) {
                guard let millis = Int64(text), millis >= 0 else { throw AdminError.badRequest("\(name): must be milliseconds since the epoch") }
                filter[keyPath: keyPath] = millis
            }
        }
        if let limit = query.get("limit") {
            guard let n = Int(limit), (1...10_000).contains(n) else { throw AdminError.badRequest("limit: must be a whole number from 1 to 10000") }
            filter.limit = n
        }
        let list = try transactionStore.transactions(filter)
        return JSON.object([("transactions", .array(list.map { Self.transactionJSON($0, steps: false) }))]).response()
    }

    func transaction(_ who: Principal, tenant: String, id: String?) throws -> TransactionSummary {
        guard let id, let number = Int64(id) else { throw AdminError.badRequest("id: must be a whole number") }
        guard let t = try transactionStore.transaction(id: number), t.tenant == tenant else {
            throw AdminError.notFound("no transaction \(id) in tenant \(tenant)")
        }
        return t
    }

    static func transactionJSON(_ t: TransactionSummary, steps: Bool) -> JSON {
        var fields: [(String, JSON)] = [
            ("id", .number("\(t.id)")), ("workflow", .string(t.workflow)), ("event_type", .string(t.eventType)), ("entity", .string(t.entity)),
            ("external_id", .string(t.externalID)), ("status", .string(t.status)), ("attempts", .number("\(t.attempts)")),
            ("received_at", .number("\(t.receivedAt)")), ("finished_at", t.finishedAt.map { .number("\($0)") } ?? .null),
            ("latency_ms", t.latencyMillis.map { .number("\($0)") } ?? .null), ("connection", t.connection.map { .string($0) } ?? .null),
            ("last_status", t.lastStatus.map { .string($0) } ?? .null), ("last_error", t.lastError.map { .string($0) } ?? .null),
        ]
        if let amount = t.amount, let currency = t.currency {
            fields.append(("amount", .object([("amount", .string(amount)), ("currency", .string(currency))])))
        }
        if steps {
            fields.append(("steps", .array(t.steps.map { s in
                .object([("step", .string(s.step)), ("ms", .number(String(format: "%.3f", s.millis))), ("status", .string(s.status)),
                         ("detail", .string(Redactor.redact(s.detail)))])
            })))
        }
        return .object(fields)
    }

    func xref(_ who: Principal, tenant: String, query: Parameters) throws -> Response {
        guard let entity = query.get("entity"), CanonicalModel.entity(entity) != nil else {
            throw AdminError.badRequest("entity: required, a canonical entity such as Account")
        }
        // Exactly one way to name the record (the document's `record` parameter: one of two exploded objects).
        let canonicalID = query.get("canonical_id"), connection = query.get("connection"), externalID = query.get("external_id")
        let byCanonical = canonicalID != nil && connection == nil && externalID == nil
        let byExternal = canonicalID == nil && connection != nil && externalID != nil
        guard byCanonical || byExternal, [canonicalID, connection, externalID].allSatisfy({ $0 == nil || !$0!.isEmpty }) else {
            throw AdminError.badRequest("give canonical_id, or connection and external_id (one of the two, none empty)")
        }
        let keys: [XrefKey]
        if let canonical = canonicalID {
            keys = try runtime.store.xref(tenant: tenant, entity: entity, canonicalID: canonical)
        } else if let connection, let external = externalID {
            guard let key = try runtime.store.xref(tenant: tenant, entity: entity, connection: connection, externalID: external) else {
                throw AdminError.notFound("no \(entity) \(external) at \(connection) in tenant \(tenant)")
            }
            keys = try runtime.store.xref(tenant: tenant, entity: entity, canonicalID: key.canonicalID)
        } else {
            throw AdminError.badRequest("give canonical_id, or connection and external_id")
        }
        guard let first = keys.first else { throw AdminError.notFound("no such \(entity) in tenant \(tenant)") }
        return JSON.object([("entity", .string(entity)), ("canonical_id", .string(first.canonicalID)),
                            ("ids", .array(keys.map { .object([("connection", .string($0.connection)), ("external_id", .string($0.externalID))]) }))]).response()
    }

    func plugins(_ who: Principal) throws -> Response {
        let list: [JSON] = runtime.registry.catalog.plugins.map { p in
            .object([("id", .string(p.descriptor.id)), ("version", .string(p.descriptor.version)), ("kind", .string(p.descriptor.kind.rawValue)),
                     ("capabilities", .array(p.descriptor.capabilities.map { .string($0) })),
                     ("trusted", .bool(runtime.config.trustedPlugins.contains(p.descriptor.id)))])
        }
        let refused: [JSON] = runtime.registry.catalog.refused.map { .object([("code", .string($0.code)), ("error", .string($0.description))]) }
        return JSON.object([("plugins", .array(list)), ("refused", .array(refused))]).response()
    }

    /// The audit trail spans tenants (vault rotation, tokens), so only partner-scoped tokens read it.
    func audit(_ who: Principal, query: Parameters) throws -> Response {
        guard who.tenant == nil else {
            throw AdminError(status: .forbidden, code: "forbidden", message: "the audit trail needs a partner-scoped token")
        }
        var limit = 100
        if let text = query.get("limit") {
            guard let n = Int(text), (1...10_000).contains(n) else { throw AdminError.badRequest("limit: must be a whole number from 1 to 10000") }
            limit = n
        }
        let entries = try runtime.store.auditEntries(limit: limit)
        return JSON.object([("entries", .array(entries.map { e in
            .object([("seq", .number("\(e.seq)")), ("at", .number("\(e.at)")), ("actor", .string(e.actor)), ("action", .string(e.action)),
                     ("target", .string(e.target)), ("detail", .string(Redactor.redact(e.detail)))])
        }))]).response()
    }

    /// Runs blocking work on a Dispatch thread and awaits it.
    static func offloaded<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    // MARK: tokens (admin)

    /// Admins manage tokens within their own scope: a tenant admin only for its tenant, never above its own role.
    func tokenList(_ who: Principal) throws -> Response {
        guard let tokens else { throw AdminError(status: .notImplemented, code: "not_supported", message: "this store keeps no tokens") }
        let visible = try tokens.tokens().filter { who.tenant == nil || $0.tenant == who.tenant }
        return JSON.object([("tokens", .array(visible.map { t in
            .object([("name", .string(t.name)), ("role", .string(t.role)), ("tenant", t.tenant.map { .string($0) } ?? .null),
                     ("prefix", .string(t.prefix)), ("created_at", .number("\(t.createdAt)")),
                     ("revoked", .bool(t.revokedAt != nil))])
        }))]).response()
    }

    func tokenCreate(_ who: Principal, body: JSON) throws -> Response {
        guard let tokens else { throw AdminError(status: .notImplemented, code: "not_supported", message: "this store keeps no tokens") }
        let name = try Self.requiredString(body, "name")
        guard PluginDescriptor.isValidID(name) else { throw AdminError.badRequest("name: must match [a-z0-9][a-z0-9._-]{0,63}") }
        guard let role = AdminRole(rawValue: try Self.requiredString(body, "role")) else {
            throw AdminError.badRequest("role: must be viewer, operator or admin")
        }
        let tenant: String?
        switch body["tenant"] {
        case nil, .null?: tenant = nil
        case .string(let t)?: tenant = t
        default: throw AdminError.badRequest("tenant: must be a tenant id or null (the partner)")
        }
        if let tenant, runtime.config.tenant(tenant) == nil || !who.sees(tenant) { throw AdminError.notFound("no tenant \"\(tenant)\"") }
        guard who.tenant == nil || tenant == who.tenant else {
            throw AdminError(status: .forbidden, code: "forbidden", message: "a tenant admin creates tokens for its own tenant only")
        }
        guard role <= who.role else { throw AdminError(status: .forbidden, code: "forbidden", message: "cannot grant a role above your own") }
        let (token, row) = AdminTokens.make(name: name, role: role, tenant: tenant, now: Clock.nowMillis())
        do { try tokens.createToken(row, actor: actor(who)) } catch let error as StoreError {
            throw AdminError(status: .conflict, code: "conflict", message: error.description)
        }
        // The token is shown once, here; only its hash is stored.
        return JSON.object([("name", .string(name)), ("role", .string(role.rawValue)), ("tenant", tenant.map { .string($0) } ?? .null),
                            ("token", .string(token))]).response(.created)
    }

    func tokenRevoke(_ who: Principal, name: String) throws -> Response {
        guard let tokens else { throw AdminError(status: .notImplemented, code: "not_supported", message: "this store keeps no tokens") }
        guard let row = try tokens.tokens().first(where: { $0.name == name && (who.tenant == nil || $0.tenant == who.tenant) }) else {
            throw AdminError.notFound("no token \"\(name)\"")
        }
        guard try tokens.revokeToken(name: row.name, actor: actor(who), now: Clock.nowMillis()) else {
            throw AdminError(status: .conflict, code: "conflict", message: "token \"\(name)\" is already revoked")
        }
        return JSON.object([("name", .string(name)), ("revoked", .bool(true))]).response()
    }

    // MARK: webhooks

    func hook(_ request: Request, tenant: String, connection: String) async throws -> Response {
        guard runtime.config.tenant(tenant) != nil, let c = runtime.registry.connection(tenant: tenant, id: connection),
              c.plugin.has(.webhook) else {
            throw AdminError.notFound("no webhook endpoint for \(tenant)/\(connection)")
        }
        let body = try await collect(request, limit: AdminServer.hookBodyLimit)
        let headers = request.headers.map { (name: $0.name.rawName, value: $0.value) }
        let method = request.method.rawValue, url = request.uri.description
        // The plugin call and the durable write block; run them off the cooperative pool, so many
        // deliveries wait on one fsync together (group commit) instead of two at a time.
        let receipt: WebhookReceipt
        do {
            receipt = try await Self.offloaded {
                // The delivery runs on the generation current now (held until it is stored), not the one looked up above.
                try runtime.holding { generation in
                    guard let held = generation.registry.connection(tenant: tenant, id: connection), held.plugin.has(.webhook) else {
                        throw AdminError.notFound("no webhook endpoint for \(tenant)/\(connection)")
                    }
                    return try runtime.receiveWebhook(held, method: method, url: url, headers: headers, body: body)
                }
            }
        } catch let unavailable as StoreUnavailable {
            throw AdminError(status: .serviceUnavailable, code: "store_unavailable", message: unavailable.description,
                             headers: [.retryAfter: "\(unavailable.retryAfterSeconds)"])
        }
        let outcome = receipt.outcome, stored = receipt.stored
        switch outcome.status {
        case .ok:
            guard let stored else { throw AdminError(status: .internalServerError, code: "internal", message: "nothing stored") }
            return JSON.object([("accepted", .number("\(stored.inserted)")), ("duplicates", .number("\(stored.duplicates)")),
                                ("rejected", .number("\(stored.rejected)"))]).response(.accepted)
        case .auth:
            throw AdminError(status: .unauthorized, code: "signature_rejected", message: outcome.diagnostics.first?.summary ?? "the delivery was not authentic")
        case .config, .fatal:
            throw AdminError.badRequest(outcome.diagnostics.first?.summary ?? "the connection rejected the delivery")
        case .retry, .cancelled:
            throw AdminError(status: .serviceUnavailable, code: "retry", message: "the connection cannot take the delivery now; send it again",
                             headers: [.retryAfter: "\(max(1, (outcome.retryAfterMillis ?? 1000) / 1000))"])
        }
    }
}
