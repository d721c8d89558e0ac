import Logging
import NIOCore
import PostgresNIO
import Synchronization
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

    /// The value in PostgreSQL's binary format, as both kinds of statement bind it.
    var data: PostgresData {
        switch self {
        case .text(let v): return PostgresData(string: v)
        case .int(let v): return PostgresData(int64: v)
        case .double(let v): return PostgresData(double: v)
        case .bytes(let v): return PostgresData(type: .bytea, value: ByteBuffer(bytes: v))
        case .null: return .null
        case .texts(let v): return PGArray.encode(v, of: .text, as: .textArray) { $0.writeString($1) }
        case .ints(let v): return PGArray.encode(v, of: .int8, as: .int8Array) { $0.writeInteger($1) }
        case .byteArrays(let v): return PGArray.encode(v, of: .bytea, as: .byteaArray) { $0.writeBytes($1) }
        }
    }
}

/// One PostgreSQL connection used synchronously: the store protocol is blocking
/// (its callers are the runtime's threads), so each statement waits for its
/// future. The futures run on the store's own event loops, never the caller's.
final class PGSession: @unchecked Sendable {
    let connection: PostgresConnection
    private let logger: Logger

    /// False: `queryPrepared` sends its statements unnamed too (`prepared_statements=off` in the store URL).
    let preparesStatements: Bool

    init(connection: PostgresConnection, logger: Logger, preparesStatements: Bool = true) {
        self.connection = connection
        self.logger = logger
        self.preparesStatements = preparesStatements
    }

    var isClosed: Bool { broken || connection.isClosed }

    /// Fails the statement this session is waiting for, if any (a promise fails once; later fails are ignored).
    private let interruptCurrent = Mutex<(@Sendable () -> Void)?>(nil)

    /// Ends the statement in flight at once and closes the connection: closing alone does not always answer a
    /// statement that was sent as the connection closed (postgres-nio may never complete it).
    func interrupt() {
        broken = true
        interruptCurrent.withLock { $0 }?()
        connection.close().whenComplete { _ in }
    }

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
        try failIfClosed()
        var bindings = PostgresBindings(capacity: values.count)
        for value in values { bindings.append(value.data) }
        return try wait(connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger))
    }

    /// Runs one of the queue's frequent statements as a named prepared statement of this connection, and
    /// returns its rows. The server parses it once per connection, and plans it once (`pinIndexPlans` asks for
    /// the generic plan): unnamed, each batch was parsed and planned again, and planning `= ANY($n)` over a
    /// batch of ids estimates every element (about a tenth of the server's CPU in `bench hosts`).
    /// `sql` must be one of a fixed set of texts (each is kept for the connection's life), with every
    /// parameter's type fixed by the statement: the server infers them when preparing (write `$1::bigint`
    /// where the context does not say).
    func queryPrepared(_ sql: String, _ values: [PGValue] = []) throws -> [PostgresRandomAccessRow] {
        guard preparesStatements else { return try query(sql, values) }
        try failIfClosed()
        let statement = try prepared[sql] ?? {
            let fresh = try wait(connection.prepare(query: sql))
            prepared[sql] = fresh
            return fresh
        }()
        do {
            return try wait(statement.execute(values.map(\.data))).map { $0.makeRandomAccess() }
        } catch let error as PGError where error.sqlState == "0A000" {
            // "cached plan must not change result type": a migration changed what the statement returns (another
            // host upgraded the schema). Forgotten here, the next use prepares it again.
            prepared[sql] = nil
            _ = statement.deallocate()
            throw error
        }
    }

    /// Runs a frequent statement that returns no rows (see `queryPrepared`).
    func runPrepared(_ sql: String, _ values: [PGValue] = []) throws {
        _ = try queryPrepared(sql, values)
    }

    /// The server process of this session (`pg_backend_pid()`), asked once.
    func backendPID() throws -> Int32 {
        if let pid = cachedPID { return pid }
        let pid = Int32(try query("SELECT pg_backend_pid()::bigint")[0].int(0))
        cachedPID = pid
        return pid
    }

    private var cachedPID: Int32?

    /// Fails at once on a connection that is known to be closed (the server ended the session: an idle holder's
    /// timeout, a terminated backend): postgres-nio may never answer a statement sent on it.
    private func failIfClosed() throws {
        guard connection.isClosed else { return }
        broken = true
        throw PGError.closed
    }

    /// Named prepared statements of this connection, by their text.
    private var prepared: [String: PreparedQuery] = [:]

    /// Waits for a statement's answer. A deadline on every statement: a connection can hang without closing
    /// (a half-open socket after the server crashed, a partition), and a blocked store call would stall the
    /// worker or the poller for good.
    private func wait<T: Sendable>(_ answer: EventLoopFuture<T>) throws -> T {
        let result = answer.eventLoop.makePromise(of: T.self)
        answer.cascade(to: result)
        let deadline = answer.eventLoop.scheduleTask(in: .milliseconds(Self.statementTimeoutMillis)) {
            result.fail(PGError.timedOut(after: Self.statementTimeoutMillis))
        }
        interruptCurrent.withLock { $0 = { result.fail(PGError.interrupted) } }
        defer {
            interruptCurrent.withLock { $0 = nil }
            deadline.cancel()
        }
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

    /// True once the session timed out or was interrupted: the pool drops it instead of reusing it. Atomic:
    /// `interrupt` sets it from the stopping thread while the session's own thread reads it.
    private let brokenFlag = Atomic<Bool>(false)
    private(set) var broken: Bool {
        get { brokenFlag.load(ordering: .relaxed) }
        set { brokenFlag.store(newValue, ordering: .relaxed) }
    }

    /// For the rest of the current transaction, rules out plans that read a whole table to serve a batch of keys:
    /// sequential and bitmap scans, hash and merge joins (`sorts`: sorting too). The queue's statements look rows
    /// up by key in batches; statistics of a young or fast-growing table (every new installation's) let the planner
    /// prefer a full scan, a cost that grows with the table and is paid on every batch. Found in `bench hosts`:
    /// each ledger lookup scanned the whole ledger.
    /// Prepared statements (`queryPrepared`) take their one generic plan in such a transaction, so the plan
    /// they keep is an index plan too.
    func pinIndexPlans(sorts: Bool = false) throws {
        _ = try queryPrepared("""
            SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
                   set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
                   set_config('enable_sort', \(sorts ? "'off'" : "current_setting('enable_sort')"), true),
                   set_config('plan_cache_mode', 'force_generic_plan', true)
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

    static func timedOut(after millis: Int64) -> PGError {
        PGError(sqlState: nil, message: "no answer from the database within \(millis / 1000) s (the connection was closed)")
    }

    static let closed = PGError(sqlState: nil, message: "the connection was closed")
    static let interrupted = PGError(sqlState: nil, message: "the statement was interrupted: the host is stopping")

    private init(sqlState: String?, message: String) {
        self.sqlState = sqlState
        self.message = message
    }

    init(_ error: any Error) {
        if let psql = error as? PSQLError {
            sqlState = psql.serverInfo?[.sqlState]
            let server = psql.serverInfo?[.message]
            // PSQLError's description is deliberately generic; its code names the class (connection closed, timeout...),
            // the underlying error what happened (refused, TLS handshake failed and why). Neither holds bound values.
            message = server ?? (psql.underlying.map { "\(psql.code): \($0)" } ?? "\(psql.code)")
        } else if let legacy = error as? PostgresError {
            // Prepared statements answer through postgres-nio's older API, which reports this type. Only the
            // server's message is kept: its detail may quote a row's values.
            switch legacy {
            case .server(let server):
                sqlState = server.fields[.sqlState]
                message = server.fields[.message] ?? "the server refused the statement"
            case .connectionClosed:
                sqlState = nil
                message = "the connection was closed"
            case .protocol(let text):
                sqlState = nil
                message = "protocol error: \(text)"
            }
        } else {
            sqlState = nil
            message = "\(error)"
        }
    }

    /// Deadlock or serialization failure: the transaction can simply run again.
    var isTransient: Bool { sqlState == "40P01" || sqlState == "40001" }

    /// A unique index refused a row.
    var isUniqueViolation: Bool { sqlState == "23505" }

    var description: String { "postgres: \(message)\(sqlState.map { " (SQLSTATE \($0))" } ?? "")" }
}

extension PostgresRandomAccessRow {
    func int(_ i: Int) throws -> Int64 { try cell(i).decode(Int64.self) }
    func optionalInt(_ i: Int) throws -> Int64? { try cell(i).decode(Int64?.self) }
    func text(_ i: Int) throws -> String { try cell(i).decode(String.self) }
    func optionalText(_ i: Int) throws -> String? { try cell(i).decode(String?.self) }
    func bool(_ i: Int) throws -> Bool { try cell(i).decode(Bool.self) }
    func bytes(_ i: Int) throws -> [UInt8] {
        guard let buffer = try cell(i).decode(ByteBuffer?.self) else { return [] }
        return Array(buffer.readableBytesView)
    }
    func optionalBytes(_ i: Int) throws -> [UInt8]? {
        try cell(i).decode(ByteBuffer?.self).map { Array($0.readableBytesView) }
    }

    /// Column `i` as a one-dimensional array (PGArray): [] for NULL, nil for a NULL element.
    func ints(_ i: Int) throws -> [Int64?] { try PGArray.ints(self[i].bytes) }
    func texts(_ i: Int) throws -> [String?] { try PGArray.texts(self[i].bytes) }
    func byteArrays(_ i: Int) throws -> [[UInt8]?] { try PGArray.bytes(self[i].bytes) }

    /// Column `i`, in the binary format postgres-nio always asks the server for. Rows of a statement prepared
    /// with `prepare(query:)` say "text" (postgres-nio 1.33 keeps the format the statement's description had
    /// before it asked for binary), so the format is set here rather than trusted.
    private func cell(_ i: Int) -> PostgresCell {
        var cell = self[i]
        cell.format = .binary
        return cell
    }
}
