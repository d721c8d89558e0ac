import Logging
import SwitchboardCore
import SwitchboardHost
import SwitchboardStore

/// Reads a connection's streams from their committed cursors into the event
/// log. Records and the cursor that covers them commit in one transaction, at
/// every state the connector emits: a crash mid-sync resumes from the last
/// checkpoint and re-reads at most one batch, which the event log dedupes.
struct Poller {
    let store: any IntegrationStore
    let ingestor: Ingestor
    let logger: Logger

    struct Result {
        var outcome = IngestOutcome(inserted: 0, duplicates: 0, rejected: 0)
        var echoes = 0
        var status: OperationStatus = .ok
        var diagnostics: [Diagnostic] = []
        /// The connector filled its batch: there is probably more to read now.
        var more = false
        /// The committed cursor changed (progress even without new records, e.g. a file finished).
        var cursorMoved = false
        /// The store could not write what was read (nothing past the last committed checkpoint was).
        var storeFailure: (any Error)?
    }

    func poll(_ connection: Connection, stream: String, batch: Int, deadlineMillis: Int64) -> Result {
        var result = Result()
        let tenant = connection.tenant
        let state: [UInt8]
        do {
            state = try store.cursor(tenant: tenant, connection: connection.id, stream: stream) ?? []
        } catch {
            result.status = .retry
            result.diagnostics = [Diagnostic("cannot read the cursor: \(error)")]
            return result
        }
        var pending = IngestBatch()
        var received = 0
        var storeError: (any Error)?
        func flush(cursor: [UInt8]?) -> OperationStatus {
            if let cursor {
                pending.cursor = (tenant, connection.id, stream, cursor)
                if cursor != state { result.cursorMoved = true }
            }
            guard !pending.events.isEmpty || !pending.rejected.isEmpty || pending.cursor != nil else { return .ok }
            do {
                let outcome = try store.ingest(pending, now: Clock.nowMillis())
                result.outcome.inserted += outcome.inserted
                result.outcome.duplicates += outcome.duplicates
                result.outcome.rejected += outcome.rejected
                pending = IngestBatch()
                return .ok
            } catch {
                storeError = error
                return .cancelled  // stop the read; nothing past the last checkpoint is lost
            }
        }
        let deadline = Clock.monotonicNanoseconds() + deadlineMillis * 1_000_000
        let outcome = connection.instance.read(stream: stream, state: state, maxRecords: batch, deadline: deadline,
                                               labels: ["stream": stream, "trace": "read-\(stream)"]) { item in
            switch item.kind {
            case .record, .event:
                received += 1
                switch ingestor.convert(tenant: tenant, source: connection.id, kind: item.kind, key: item.keyString, data: item.dataBytes) {
                case .event(let event, let seen):
                    pending.events.append(event)
                    if let seen { pending.seen.append(seen) }
                case .rejected(let record):
                    pending.rejected.append(record)
                case .echo:
                    result.echoes += 1
                }
                return .ok
            case .state:
                return flush(cursor: item.dataBytes)
            default:
                return .ok
            }
        }
        if let storeError {
            result.storeFailure = storeError
            result.status = .retry
            result.diagnostics = [Diagnostic("store write failed during read: \(storeError)")]
            return result
        }
        // Items after the last state still go in (no cursor move): a re-read dedupes them.
        _ = flush(cursor: nil)
        result.status = outcome.status
        result.diagnostics = outcome.diagnostics
        result.more = outcome.isOK && batch > 0 && received >= batch
        if !outcome.isOK && outcome.status != .cancelled {
            logger.warning("read failed", metadata: ["tenant": "\(tenant)", "connection": "\(connection.id)", "stream": "\(stream)",
                                                      "status": "\(outcome.status)", "error": "\(outcome.summary)"])
        }
        return result
    }
}
