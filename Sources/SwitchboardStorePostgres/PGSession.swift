import Logging
import NIOCore
import PostgresNIO
import SwitchboardStore

/// A value bound to a statement parameter ($1, $2, ...).
enum PGValue {
    case text(String)
    case int(Int64)
    case double(Double)
    case bytes([UInt8])
    case null
    case texts([String])
    case ints([Int64])
    case byteArrays([[UInt8]])

    static func optional(_ value: String?) -> PGValue { value.map { .text($0) } ?? .null }
    static func optional(_ value: Int64?) -> PGValue { value.map { .int($0) } ?? .null }
}

/// One PostgreSQL connection used synchronously: the store protocol is blocking
/// (its callers are the runtime's threads), so each statement waits for its
/// future. The futures run on the store's own event loops, never the caller's.
final class PGSession: @unchecked Sendable {
    let connection: PostgresConnection
    private let logger: Logger

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    var isClosed: Bool { broken || connection.isClosed }

    /// Runs a statement and returns its rows.
    func query(_ sql: String, _ values: [PGValue] = []) throws -> [PostgresRandomAccessRow] {
        try execute(sql, values).rows.map { $0.makeRandomAccess() }
    }

    /// Runs a statement and returns how many rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [PGValue] = []) throws -> Int {
        try execute(sql, values).metadata.rows ?? 0
    }

    private func execute(_ sql: String, _ values: [PGValue]) throws -> PostgresQueryResult {
        var bindings = PostgresBindings(capacity: values.count)
        for value in values {
            switch value {
            case .text(let v): bindings.append(v)
            case .int(let v): bindings.append(v)
            case .double(let v): bindings.append(v)
            case .bytes(let v): bindings.append(ByteBuffer(bytes: v))
            case .null: bindings.appendNull()
            case .texts(let v): bindings.append(v)
            case .ints(let v): bindings.append(v)
            case .byteArrays(let v): bindings.append(v.map { ByteBuffer(bytes: $0) })
            }
        }
        // A deadline on every statement: a connection can hang without closing (a half-open socket after the
        // server crashed, a partition), and a blocked store call would stall the worker or the poller for good.
        let query = connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        let result = query.eventLoop.makePromise(of: PostgresQueryResult.self)
        query.cascade(to: result)
        let deadline = query.eventLoop.scheduleTask(in: .milliseconds(Self.statementTimeoutMillis)) {
            result.fail(PGError.timedOut(after: Self.statementTimeoutMillis))
        }
        defer { deadline.cancel() }
        do {
            return try result.futureResult.wait()
        } catch let error as PGError {
            // The connection's state is unknown after a timeout: close it, so the pool opens a new one.
            broken = true
            let closing: EventLoopFuture<Void> = connection.close()
            _ = closing
            throw error
        } catch {
            throw PGError(error)
        }
    }

    /// How long one statement may take before its connection is given up.
    static let statementTimeoutMillis: Int64 = 30_000

    /// True once the session timed out: the pool drops it instead of reusing it.
    private(set) var broken = false

    /// For the rest of the current transaction, rules out plans that read a whole table to serve a batch of keys:
    /// sequential and bitmap scans, hash and merge joins (`sorts`: sorting too). The queue's statements look rows
    /// up by key in batches; statistics of a young or fast-growing table (every new installation's) let the planner
    /// prefer a full scan, a cost that grows with the table and is paid on every batch. Found in `bench hosts`:
    /// each ledger lookup scanned the whole ledger.
    func pinIndexPlans(sorts: Bool = false) throws {
        _ = try query("""
            SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
                   set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
                   set_config('enable_sort', \(sorts ? "'off'" : "current_setting('enable_sort')"), true)
            """)
    }

    /// Runs `body` in one transaction; a deadlock or serialization failure retries the whole body (up to 5 times).
    func transaction<T>(_ body: (PGSession) throws -> T) throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            try run("BEGIN")
            do {
                let result = try body(self)
                try run("COMMIT")
                return result
            } catch let error as PGError where error.isTransient && attempt < 5 {
                _ = try? run("ROLLBACK")
            } catch {
                if !isClosed { _ = try? run("ROLLBACK") }
                throw error
            }
        }
    }
}

/// A PostgreSQL failure as the store reports it: the server's message and SQLSTATE, never the statement's values.
struct PGError: Error, CustomStringConvertible {
    let sqlState: String?
    let message: String
    let connectionLost: Bool

    static func timedOut(after millis: Int64) -> PGError {
        PGError(sqlState: nil, message: "no answer from the database within \(millis / 1000) s (the connection was closed)", connectionLost: true)
    }

    private init(sqlState: String?, message: String, connectionLost: Bool) {
        self.sqlState = sqlState
        self.message = message
        self.connectionLost = connectionLost
    }

    init(_ error: any Error) {
        if let psql = error as? PSQLError {
            sqlState = psql.serverInfo?[.sqlState]
            let server = psql.serverInfo?[.message]
            // PSQLError's description is deliberately generic; its code names the class (connection closed, timeout...),
            // the underlying error what happened (refused, TLS handshake failed and why). Neither holds bound values.
            message = server ?? (psql.underlying.map { "\(psql.code): \($0)" } ?? "\(psql.code)")
            connectionLost = psql.code == .serverClosedConnection || psql.code == .connectionError
                || psql.code == .clientClosedConnection || psql.code == .uncleanShutdown
        } else {
            sqlState = nil
            message = "\(error)"
            connectionLost = false
        }
    }

    /// Deadlock or serialization failure: the transaction can simply run again.
    var isTransient: Bool { sqlState == "40P01" || sqlState == "40001" }

    /// A unique index refused a row.
    var isUniqueViolation: Bool { sqlState == "23505" }

    var description: String { "postgres: \(message)\(sqlState.map { " (SQLSTATE \($0))" } ?? "")" }
}

extension PostgresRandomAccessRow {
    func int(_ i: Int) throws -> Int64 { try self[i].decode(Int64.self) }
    func optionalInt(_ i: Int) throws -> Int64? { try self[i].decode(Int64?.self) }
    func text(_ i: Int) throws -> String { try self[i].decode(String.self) }
    func optionalText(_ i: Int) throws -> String? { try self[i].decode(String?.self) }
    func bool(_ i: Int) throws -> Bool { try self[i].decode(Bool.self) }
    func bytes(_ i: Int) throws -> [UInt8] {
        guard let buffer = try self[i].decode(ByteBuffer?.self) else { return [] }
        return Array(buffer.readableBytesView)
    }
    func optionalBytes(_ i: Int) throws -> [UInt8]? {
        try self[i].decode(ByteBuffer?.self).map { Array($0.readableBytesView) }
    }
}
