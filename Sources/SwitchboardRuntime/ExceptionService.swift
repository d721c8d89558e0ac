import SwitchboardCore
import SwitchboardHost
import SwitchboardStore

/// Operator actions on the exception queue. Every action is audited with its
/// actor and reason. Retrying a rejected record re-validates it against the
/// current configuration and model; it enters the flow only if it now passes.
/// Retrying a failed transaction first re-reads its record from the source
/// when the source can (docs/RUNTIME.md, "Exception queue").
public struct ExceptionService: Sendable {
    public let store: any IntegrationStore
    public let config: SwitchboardConfig
    /// The open connections, to re-read sources; nil: replays use the stored events only.
    public let connections: ConnectionRegistry?

    public init(store: any IntegrationStore, config: SwitchboardConfig, connections: ConnectionRegistry? = nil) {
        self.store = store
        self.config = config
        self.connections = connections
    }

    /// Whether a replay reads the record from its source again first.
    public enum Reread: String, Sendable {
        /// When the source connection can (`fetch`); otherwise, or if the source cannot be read now, the stored event.
        case auto
        /// Always; an item whose source cannot be read now stays open, saying why.
        case always
        /// Never: the stored event as it was received.
        case never
    }

    public struct RetryReport: Sendable {
        public var retried: [Int64] = []
        /// Items that still fail, with why (they stay open).
        public var stillFailing: [(id: Int64, diagnostics: [Diagnostic])] = []
        /// What re-reading the source did, per item it was tried for.
        public var reread: [Int64: String] = [:]
    }

    public func retry(ids: [Int64], actor: String, reason: String, reread mode: Reread = .auto) throws -> RetryReport {
        var report = RetryReport()
        let router = WorkflowRouter(config: config)
        let ingestor = Ingestor(store: store, router: router)
        let source = connections.map { SourceReread(store: store, connections: $0, ingestor: ingestor) }
        for id in ids {
            guard let item = try store.exception(id: id) else { throw StoreError("no exception item \(id)") }
            guard item.status == "open" else { throw StoreError("exception item \(id) is already \(item.status)") }
            if item.workID != nil {
                try replay(item, actor: actor, reason: reason, mode: mode, source: source, report: &report)
                continue
            }
            // A rejected record: validate it again and, if it passes now, ingest it.
            guard let eventID = item.eventID, let event = try store.event(id: eventID) else {
                report.stillFailing.append((id, [Diagnostic("the rejected record is no longer stored")]))
                continue
            }
            let kind: EmitKind = Ingestor.isRecordChange(event.type) ? .record : .event
            let key = kind == .record ? event.entity : event.type
            switch ingestor.convert(tenant: event.tenant, source: event.source, kind: kind, key: key, data: event.payload) {
            case .event(let newEvent, let seen):
                var batch = IngestBatch(events: [newEvent])
                if let seen { batch.seen = [seen] }
                _ = try store.ingest(batch, now: Clock.nowMillis())
                _ = try store.retryExceptions(ids: [id], actor: actor, reason: reason, now: Clock.nowMillis())
                report.retried.append(id)
            case .echo:
                _ = try store.retryExceptions(ids: [id], actor: actor, reason: reason + " (already applied)", now: Clock.nowMillis())
                report.retried.append(id)
            case .rejected(let again):
                report.stillFailing.append((id, again.diagnostics))
            }
        }
        return report
    }

    /// A failed transaction: its record re-read from the source (per `mode`), else its work back in the queue.
    private func replay(_ item: ExceptionItem, actor: String, reason: String, mode: Reread, source: SourceReread?,
                        report: inout RetryReport) throws {
        var note = reason
        if mode != .never, let event = try item.eventID.flatMap({ try store.event(id: $0) }) {
            let readable = source?.canReread(event) == true
            let outcome: SourceReread.Outcome = readable ? source!.reread(event)
                : .unavailable([Diagnostic("connection \(event.source) cannot re-read records here (its plugin does not declare fetch, ABI 1.1)")])
            switch outcome {
            case .replaced(let what):
                // The newer version is in the log with its own work: this item's event is history now.
                _ = try store.closeException(id: item.id, status: "superseded", action: "exception.refetch", actor: actor,
                                             reason: "\(reason); \(what)", now: Clock.nowMillis())
                report.retried.append(item.id)
                report.reread[item.id] = what
                return
            case .unchanged:
                note += "; re-read from \(event.source): unchanged, the stored event is replayed"
                report.reread[item.id] = "unchanged at \(event.source)"
            case .gone(let what):
                report.stillFailing.append((item.id, [Diagnostic("\(what): nothing to replay; discard the item if that is right")]))
                return
            case .unavailable(let why):
                if mode == .always {
                    report.stillFailing.append((item.id, why))
                    return
                }
                if readable {
                    note += "; \(event.source) could not be read (\(why.first?.summary ?? "")), the stored event is replayed"
                    report.reread[item.id] = "not read: \(why.first?.summary ?? "")"
                }
            }
        }
        _ = try store.retryExceptions(ids: [item.id], actor: actor, reason: note, now: Clock.nowMillis())
        report.retried.append(item.id)
    }
}
