import Foundation
import SwitchboardCore
import SwitchboardHost
import SwitchboardStore

/// Runs one work item through its workflow's steps and says what became of
/// it. Writes are idempotent: each has a key derived from the business event
/// (not the delivery), checked against the ledger before the plugin is called
/// and passed to the plugin, so a replay or a retry never writes twice.
struct WorkflowExecutor {
    let config: SwitchboardConfig
    let registry: ConnectionRegistry
    let router: WorkflowRouter
    let store: any IntegrationStore
    var recentWrites: RecentWrites? = nil

    /// Why a step stopped the item.
    struct Failure: Error {
        var status: OperationStatus
        var reason: String
        var connection: String?
        var diagnostics: [Diagnostic]
        var retryAfterMillis: Int64?
    }

    /// What the steps did so far (kept even when a later step fails, so finished writes are never redone).
    struct Progress {
        var steps: [StepTiming] = []
        var ledger: [LedgerEntry] = []
        var xref: [XrefKey] = []
        var emitted: [NewEvent] = []
        var lastConnection: String?
        /// The batch's view of the idempotency ledger (it also holds this item's own writes).
        let ledgerView: BatchLedger
        /// What plugin log lines during this item carry (made once per item, not per plugin call).
        let labels: [String: String]
    }

    /// The idempotency keys the declared write steps of these items will use (plugin-issued writes are looked up as they come).
    func ledgerKeys(for items: [ClaimedWork]) -> [String] {
        var keys: [String] = []
        // Fields are read in place: copying each item out of the array retained all of its fields (see Runtime.run).
        items.withUnsafeBufferPointer { items in
            for i in items.indices {
                guard let tenant = config.tenant(items[i].tenant), router.masterGroup(tenant: tenant.id, workflow: items[i].workflow) == nil,
                      let workflow = tenant.workflows.first(where: { $0.id == items[i].workflow }) else { continue }
                for (index, step) in workflow.steps.enumerated() {
                    if case .write = step {
                        keys.append(BatchLedger.key(tenant: tenant.id, step: "\(workflow.id)|\(index)", type: items[i].event.type,
                                                    source: items[i].event.source, externalID: items[i].event.externalID))
                    }
                }
            }
        }
        return keys
    }

    func run(_ item: ClaimedWork, now: Millis, random: inout some RandomNumberGenerator, ledger: BatchLedger? = nil) -> WorkOutcome {
        var progress = Progress(ledgerView: ledger ?? BatchLedger(store: store), labels: labels(item))
        do {
            guard let tenant = config.tenant(item.tenant) else {
                throw Failure(status: .config, reason: "unknown_tenant", diagnostics: [Diagnostic("tenant \(item.tenant) is no longer configured")])
            }
            let document = try JSON.parse(item.event.payload)
            if let group = router.masterGroup(tenant: tenant.id, workflow: item.workflow) {
                try syncMasterData(item, group: group, tenant: tenant, record: document, progress: &progress)
            } else if let workflow = tenant.workflows.first(where: { $0.id == item.workflow }) {
                try runSteps(item, workflow: workflow, tenant: tenant, document: document, progress: &progress)
            } else {
                throw Failure(status: .config, reason: "unknown_workflow",
                              diagnostics: [Diagnostic("workflow \(item.workflow) is no longer configured for tenant \(item.tenant)")])
            }
            return WorkOutcome(workID: item.id, disposition: .done, connection: progress.lastConnection, steps: progress.steps,
                               ledger: progress.ledger, xref: progress.xref, emitted: progress.emitted)
        } catch let failure as Failure {
            return outcome(for: failure, item: item, progress: progress, now: now, random: &random)
        } catch {
            let failure = Failure(status: .fatal, reason: "invalid_payload", diagnostics: [Diagnostic("\(error)")])
            return outcome(for: failure, item: item, progress: progress, now: now, random: &random)
        }
    }

    /// Classifies a failure: retry with backoff, park (AUTH), or the exception queue.
    func outcome(for failure: Failure, item: ClaimedWork, progress: Progress, now: Millis,
                 random: inout some RandomNumberGenerator) -> WorkOutcome {
        let policy = failure.connection.flatMap { config.tenant(item.tenant)?.connection($0)?.retry } ?? RetryPolicy()
        let attempt = item.attempts + 1
        let disposition: WorkOutcome.Disposition
        var diagnostics = failure.diagnostics
        switch failure.status {
        case .retry, .cancelled:
            let age = now - (item.firstTriedAt ?? item.createdAt)
            if attempt >= policy.maxAttempts {
                disposition = .exception(reason: "max_attempts")
                diagnostics.append(Diagnostic("gave up after \(attempt) attempts (retry.max_attempts \(policy.maxAttempts))"))
            } else if age >= policy.maxAgeMillis {
                disposition = .exception(reason: "max_age")
                diagnostics.append(Diagnostic("gave up after \(age / 1000) s (retry.max_age \(policy.maxAgeMillis / 1000) s)"))
            } else {
                let delay = failure.retryAfterMillis ?? policy.delay(afterAttempt: attempt, random: &random)
                disposition = .retry(at: now + delay, status: failure.status)
            }
        case .auth:
            disposition = .parked
        case .ok, .fatal, .config:
            disposition = .exception(reason: failure.status == .config ? "config" : failure.reason)
        }
        return WorkOutcome(workID: item.id, disposition: disposition, connection: failure.connection, diagnostics: diagnostics,
                           steps: progress.steps, ledger: progress.ledger, xref: progress.xref, emitted: [])
    }

    func runSteps(_ item: ClaimedWork, workflow: WorkflowConfig, tenant: TenantConfig, document: JSON, progress: inout Progress) throws {
        var doc = document
        // The text of `doc` as a plugin sent it, while `doc` is exactly what that text parses to.
        var docText: ArraySlice<UInt8>?
        for (index, step) in workflow.steps.enumerated() {
            let started = Clock.monotonicNanoseconds()
            func timed(_ status: String, _ detail: String = "") {
                progress.steps.append(StepTiming(step: step.name, millis: Double(Clock.monotonicNanoseconds() - started) / 1e6, status: status, detail: detail))
            }
            do {
                switch step {
                case .map(let mapping):
                    doc = mapping.apply(to: doc)
                    docText = nil
                    timed("OK")
                case .call(let pluginID, _, _):
                    guard let plugin = registry.stepPlugin(tenant: tenant.id, workflow: workflow.id, step: index) else {
                        throw Failure(status: .config, reason: "config", diagnostics: [Diagnostic("plugin \(pluginID) is not open")])
                    }
                    let finished = try call(plugin, item: item, workflow: workflow, step: index, document: &doc, text: &docText,
                                            progress: &progress)
                    timed("OK")
                    if finished { return }
                case .write(let connection, let entity):
                    let id = try write(doc, text: docText, entity: entity, to: connection, item: item, tenant: tenant,
                                       key: "\(workflow.id)|\(index)", partial: false, progress: &progress)
                    timed("OK", "\(entity) \(id) at \(connection)")
                }
            } catch let failure as Failure {
                timed(failure.status.description, failure.diagnostics.first?.summary ?? "")
                throw failure
            }
        }
    }

    /// Runs a workflow plugin's commands; true when one of them ended the workflow (`skip`).
    /// `text` becomes the text of a `{"set":...}` command the document was set from (nil when it was set otherwise).
    func call(_ plugin: any PluginHandle, item: ClaimedWork, workflow: WorkflowConfig, step: Int, document: inout JSON,
              text: inout ArraySlice<UInt8>?, progress: inout Progress) throws -> Bool {
        var commands: [[UInt8]] = []
        let input = document.bytes
        let outcome = input.withUnsafeBytes { bytes in
            plugin.onEvent(type: item.event.type, event: bytes, deadline: deadline(), labels: progress.labels) { emitted in
                commands.append(emitted.dataBytes)
                return .ok
            }
        }
        guard outcome.isOK else {
            throw Failure(status: outcome.status, reason: outcome.status == .fatal ? "fatal" : outcome.status.description.lowercased(),
                          connection: nil, diagnostics: outcome.diagnostics.map { prefixed($0, "plugin \(plugin.pluginID)") },
                          retryAfterMillis: outcome.retryAfterMillis)
        }
        guard let tenant = config.tenant(item.tenant) else { return true }
        for (index, raw) in commands.enumerated() {
            let path = "commands[\(index)]"
            guard let command = try? JSON.parse(raw), let (verb, body) = command.objectValue?.first, command.objectValue?.count == 1 else {
                throw Failure(status: .fatal, reason: "invalid_command",
                              diagnostics: [Diagnostic("plugin \(plugin.pluginID) emitted a command that is not {\"verb\": {...}}", fieldPath: path)])
            }
            switch verb {
            case "set":
                document = body
                text = Self.setValueText(raw)
            case "skip":
                return true
            case "write":
                guard let connection = body["connection"]?.stringValue, let entity = body["entity"]?.stringValue, let record = body["record"] else {
                    throw Failure(status: .fatal, reason: "invalid_command",
                                  diagnostics: [Diagnostic("write needs connection, entity and record", fieldPath: path + ".write")])
                }
                guard tenant.connection(connection) != nil else {
                    throw Failure(status: .config, reason: "config",
                                  diagnostics: [Diagnostic("plugin \(plugin.pluginID) writes to unknown connection \"\(connection)\"",
                                                           fieldPath: path + ".write.connection")])
                }
                let key = body["key"]?.stringValue ?? "\(index)"
                _ = try write(record, entity: entity, to: connection, item: item, tenant: tenant,
                              key: "\(workflow.id)|\(step)|\(key)", partial: body["partial"]?.boolValue ?? false, progress: &progress)
            case "emit":
                guard let type = body["event"]?.stringValue, let record = body["record"] else {
                    throw Failure(status: .fatal, reason: "invalid_command",
                                  diagnostics: [Diagnostic("emit needs event and record", fieldPath: path + ".emit")])
                }
                let source = body["source"]?.stringValue ?? CanonicalID.workflowSource(workflow.id)
                let ingestor = Ingestor(store: store, router: router)
                switch ingestor.convert(tenant: tenant.id, source: source, kind: .event, key: type, data: record.bytes) {
                case .event(let event, _): progress.emitted.append(event)
                case .rejected(let rejected):
                    throw Failure(status: .fatal, reason: "schema_invalid",
                                  diagnostics: rejected.diagnostics.map { prefixed($0, "emitted \(type)") })
                case .echo: break
                }
            default:
                throw Failure(status: .fatal, reason: "invalid_command",
                              diagnostics: [Diagnostic("unknown command \"\(verb)\" (set, skip, write, emit)", fieldPath: path)])
            }
        }
        return false
    }

    /// The value's text in a `{"set":VALUE}` command written without spaces around it (as plugins write it), or nil.
    static func setValueText(_ raw: [UInt8]) -> ArraySlice<UInt8>? {
        let prefix = #"{"set":"#.utf8
        guard raw.count > prefix.count + 1, raw.starts(with: prefix), raw.last == UInt8(ascii: "}") else { return nil }
        return raw[prefix.count..<raw.count - 1]
    }

    /// Upserts one canonical record at a connection, idempotently. Returns the external id. `text`, when given, is
    /// the text `document` was parsed from: the record sent is then that text with the envelope appended, when
    /// the envelope is all the record lacks (one serialisation less per write).
    func write(_ document: JSON, text: ArraySlice<UInt8>? = nil, entity: String, to connectionID: String, item: ClaimedWork, tenant: TenantConfig, key: String,
               partial: Bool, progress: inout Progress) throws -> String {
        progress.lastConnection = connectionID
        guard let connection = registry.connection(tenant: tenant.id, id: connectionID) else {
            throw Failure(status: .config, reason: "config", connection: connectionID,
                          diagnostics: [Diagnostic("connection \(connectionID) is not open")])
        }
        // Stamp the envelope the mapping may not set: whose record, from where, which one, when.
        let onlyEnvelopeMissing = text != nil && document["tenant"] == nil && document["source"] == nil
            && document["external_id"] != nil && document["updated_at"] != nil
        var record = document
        record.set("tenant", .string(tenant.id))
        if record["source"] == nil { record.set("source", .string(item.event.source)) }
        if record["external_id"] == nil { record.set("external_id", .string(item.event.externalID)) }
        if record["updated_at"] == nil { record.set("updated_at", .string(Clock.iso8601(unixMillis: Clock.nowMillis()))) }
        let problems = CanonicalValidator.validate(record: record, entity: entity, partial: partial)
        guard problems.isEmpty else {
            throw Failure(status: .fatal, reason: "mapping_invalid", connection: connectionID,
                          diagnostics: problems.map { prefixed($0, "\(entity) for \(connectionID)") })
        }
        let ledgerKey = BatchLedger.key(tenant: tenant.id, step: key, event: item.event)
        let origin = (source: record["source"]?.stringValue ?? item.event.source, externalID: record["external_id"]?.stringValue ?? "")
        // Records linked across systems (master data) may carry a canonical id from elsewhere; others derive it from their origin.
        let tracked = router.tracksContent(tenant: tenant.id, entity: entity, connection: origin.source)
            || router.tracksContent(tenant: tenant.id, entity: entity, connection: connectionID)
        let known = tracked ? try? store.xref(tenant: tenant.id, entity: entity, connection: origin.source, externalID: origin.externalID) : nil
        let canonicalID = known?.canonicalID ?? CanonicalID.make(entity: entity, source: origin.source, externalID: origin.externalID)
        // No xref at the origin means this record was never linked (every write of a tracked record records its origin).
        let atTarget = known == nil ? nil
            : (try? store.xref(tenant: tenant.id, entity: entity, canonicalID: canonicalID))?.first { $0.connection == connectionID }
        let ledgerView = progress.ledgerView
        let written = ledgerView.written(ledgerKey)
        // A business event is written once. A record changed at its source is written once per version: one written
        // before is updated (its events run one at a time, in order, so the ledger holds the earlier write), unless
        // this event or a newer one was written already (a redelivery; an older version run late by a host that lost
        // its lease). Rows from before the ledger kept events (no event id) count as older.
        let recordChange = Ingestor.isRecordChange(item.event.type)
        if let written, !recordChange || (written.eventID ?? 0) >= item.event.id { return written.externalID }
        let update = written != nil
        let targetID = atTarget?.externalID ?? written?.externalID
        let idempotencyKey = BatchLedger.idempotencyKey(ledgerKey: ledgerKey,
                                                        updatingTo: update ? Ingestor.version(ofDedupeKey: item.event.dedupeKey) : nil)
        let targetTracked = router.tracksContent(tenant: tenant.id, entity: entity, connection: connectionID)
        // What the target holds after this write, as far as we know: its last known content with our fields on top.
        func contentAfterWrite() -> [UInt8] {
            var merged = atTarget?.content.flatMap { try? JSON.parse($0) } ?? .object([])
            for (field, value) in Ingestor.content(of: record).objectValue ?? [] { merged = merged.setting(field, value) }
            return Ingestor.content(of: merged).bytes
        }
        let targetContent = targetTracked ? contentAfterWrite() : nil
        // The plugin's own text with the envelope appended is the stamped record, when the envelope is all it lacked.
        let sent = onlyEnvelopeMissing ? text.map { Ingestor.appendingEnvelope(to: $0, tenant: tenant.id, source: item.event.source) } : nil
        let outcome = connection.instance.write(entity: entity, idempotencyKey: idempotencyKey,
                                                externalID: targetID ?? "", record: sent ?? record.bytes, deadline: deadline(),
                                                labels: progress.labels) { externalID in
            // Registered while the plugin call still holds the instance: no read of it can see the record first.
            if let targetContent {
                recentWrites?.record(XrefKey(tenant: tenant.id, entity: entity, canonicalID: canonicalID, connection: connectionID,
                                             externalID: externalID, content: targetContent))
            }
        }
        guard outcome.0.isOK, let externalID = outcome.1 else {
            let status = outcome.0.status
            throw Failure(status: status, reason: status == .fatal ? "fatal" : status.description.lowercased(), connection: connectionID,
                          diagnostics: outcome.0.diagnostics.map { prefixed($0, "\(connectionID) (\(connection.plugin.descriptor.id))") },
                          retryAfterMillis: outcome.0.retryAfterMillis)
        }
        // A record's row keeps its first external id and takes this event (the newest written).
        let row = LedgerWrite(externalID: written?.externalID ?? externalID, eventID: recordChange ? item.event.id : nil)
        // A first write expects its ledger row and its links to be new: the store may skip conflict handling for them
        // (a hint only; it still ends right if a row was there, e.g. a target that answered with an id it gave before).
        progress.ledger.append(LedgerEntry(key: ledgerKey, tenant: tenant.id, connection: connectionID, entity: entity,
                                           externalID: row.externalID, eventID: row.eventID, expectedNew: !update))
        ledgerView.record(ledgerKey, row)
        // Content is kept only where echoes can come back (master data).
        progress.xref.append(XrefKey(tenant: tenant.id, entity: entity, canonicalID: canonicalID, connection: connectionID,
                                     externalID: externalID, content: targetContent, expectedNew: !update && atTarget == nil))
        // The origin's side of the link, so the xref shows the record's ids in both systems (not only where we wrote it).
        // Stored for linked records only: an untracked record's canonical id names its origin, and the store reads it from there.
        if tracked && known == nil && origin.source != connectionID && !origin.externalID.isEmpty && !CanonicalID.isWorkflowSource(origin.source) {
            progress.xref.append(XrefKey(tenant: tenant.id, entity: entity, canonicalID: canonicalID, connection: origin.source,
                                         externalID: origin.externalID, content: nil, expectedNew: true))
        }
        return externalID
    }

    /// Master data: the fields this change touched that its source owns go to every other connection of the group.
    func syncMasterData(_ item: ClaimedWork, group: MasterDataConfig, tenant: TenantConfig, record: JSON, progress: inout Progress) throws {
        let source = item.event.source
        let changed = (try? JSON.parse(item.event.meta ?? "{}"))?["changed"]?.arrayValue?.compactMap(\.stringValue)
            ?? (Ingestor.content(of: record).objectValue?.map(\.0) ?? [])
        let owned = changed.filter { group.owner(of: $0) == source }
        for target in group.connections where target != source {
            let started = Clock.monotonicNanoseconds()
            guard !owned.isEmpty else {
                progress.steps.append(StepTiming(step: "sync \(group.entity) to \(target)", millis: 0, status: "SKIPPED",
                                                 detail: "no changed field is owned by \(source)"))
                continue
            }
            var update = JSON.object([])
            for field in ["tenant", "source", "external_id", "updated_at"] + owned {
                if let value = record[field] { update = update.setting(field, value) }
            }
            let id = try write(update, entity: group.entity, to: target, item: item, tenant: tenant,
                               key: "\(group.workflowID)|\(target)|\(item.event.dedupeKey)", partial: true, progress: &progress)
            progress.steps.append(StepTiming(step: "sync \(group.entity) to \(target)", millis: Double(Clock.monotonicNanoseconds() - started) / 1e6,
                                             status: "OK", detail: "\(owned.joined(separator: ", ")) -> \(id)"))
        }
        // What this change did to fields another connection owns: restored or raised, never skipped in silence. Only
        // a change measured against what was known at the source counts: a record's first read is not an edit.
        let meta = try? JSON.parse(item.event.meta ?? "{}")
        let measured = meta?["first"]?.boolValue == true ? [] : meta?["changed"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let found = conflicts(measured, group: group, record: record, source: source, tenant: tenant.id, externalID: item.event.externalID)
        if !found.isEmpty { try handle(found, group: group, item: item, tenant: tenant, record: record, progress: &progress) }
    }

    func deadline() -> Int64 { Clock.monotonicNanoseconds() + config.worker.deadlineMillis * 1_000_000 }

    /// What a plugin's log lines during this item carry: the workflow and the transaction.
    func labels(_ item: ClaimedWork) -> [String: String] { ["workflow": item.workflow, "trace": "work-\(item.id)"] }

    func prefixed(_ d: Diagnostic, _ prefix: String) -> Diagnostic {
        var copy = d
        copy.summary = "\(prefix): \(d.summary)"
        return copy
    }
}
