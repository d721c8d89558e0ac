import SwitchboardCore

/// A store whose cold paths are the shared SQL: it says only how to run a read and a write transaction,
/// and the exception queue, the audit trail and the token methods of the store protocols come from here,
/// the same for every backend.
public protocol SharedSQLStore: Sendable {
    /// Runs `body` on a connection that reads (no transaction is held open for writes).
    func readingSQL<T>(_ body: (any SQLSession) throws -> T) throws -> T
    /// Runs `body` in one write transaction: all of it commits, or none.
    func writingSQL<T>(_ body: @escaping (any SQLSession) throws -> T) throws -> T
}

extension SharedSQLStore {
    // MARK: exception queue

    public func exceptions(_ filter: ExceptionFilter) throws -> [ExceptionItem] {
        try readingSQL { try ExceptionQueueSQL.list(filter, in: $0) }
    }

    public func exception(id: Int64) throws -> ExceptionItem? {
        try readingSQL { try ExceptionQueueSQL.one(id: id, in: $0) }
    }

    public func openExceptionCount(tenant: String) throws -> Int {
        try readingSQL { try ExceptionQueueSQL.openCount(tenant: tenant, in: $0) }
    }

    public func retryExceptions(ids: [Int64], actor: String, reason: String, now: Millis) throws -> [ExceptionItem] {
        try writingSQL { try ExceptionQueueSQL.retry(ids: ids, actor: actor, reason: reason, now: now, in: $0) }
    }

    public func closeException(id: Int64, status: String, action: String, actor: String, reason: String, now: Millis) throws -> ExceptionItem {
        try writingSQL { try ExceptionQueueSQL.close(id: id, status: status, action: action, actor: actor, reason: reason, now: now, in: $0) }
    }

    public func supersedeExceptions(by done: [DoneWork], now: Millis) throws -> [Int64] {
        guard !done.isEmpty else { return [] }
        return try writingSQL { try ExceptionQueueSQL.supersede(by: done, now: now, in: $0) }
    }

    public func discardException(id: Int64, actor: String, reason: String, now: Millis) throws -> ExceptionItem {
        try writingSQL { try ExceptionQueueSQL.discard(id: id, actor: actor, reason: reason, now: now, in: $0) }
    }

    public func assignException(id: Int64, to assignee: String, actor: String, now: Millis) throws -> ExceptionItem {
        try writingSQL { try ExceptionQueueSQL.assign(id: id, to: assignee, actor: actor, now: now, in: $0) }
    }

    // MARK: audit trail

    public func audit(actor: String, action: String, target: String, detail: String, now: Millis) throws {
        try writingSQL { try AuditTrailSQL.append(actor: actor, action: action, target: target, detail: detail, now: now, in: $0) }
    }

    public func auditEntries(limit: Int) throws -> [AuditEntry] {
        try readingSQL { try AuditTrailSQL.entries(limit: limit, in: $0) }
    }

    public func verifyAudit() throws -> AuditVerification {
        try readingSQL { try AuditTrailSQL.verify(in: $0) }
    }

    // MARK: tokens

    public func createToken(_ token: APITokenRow, actor: String) throws {
        try writingSQL { try TokensSQL.create(token, actor: actor, in: $0) }
    }

    public func token(hash: String) throws -> APITokenRow? {
        try readingSQL { try TokensSQL.find(hash: hash, in: $0) }
    }

    public func tokens() throws -> [APITokenRow] {
        try readingSQL { try TokensSQL.all(in: $0) }
    }

    public func revokeToken(name: String, actor: String, now: Millis) throws -> Bool {
        try writingSQL { try TokensSQL.revoke(name: name, actor: actor, now: now, in: $0) }
    }
}
