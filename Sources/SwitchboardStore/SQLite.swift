import CSQLite
import SwitchboardCore

/// A store operation failed; names the SQL (never its bound values, which may hold customer data).
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var sql: String?
    public init(_ message: String, sql: String? = nil) {
        self.message = message
        self.sql = sql
    }
    public var description: String { sql.map { "\(message) (in: \($0.prefix(120)))" } ?? message }
}

/// SQLITE_TRANSIENT: SQLite copies bound buffers before the bind returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// Process-wide SQLite settings, applied once before the first connection opens.
private let sqliteConfigured: Bool = {
    _ = sb_sqlite_disable_memory_statistics()
    // A group commit's units journal their pages in memory (docs/STORE.md): 32 MiB covers a batch of several
    // thousand items; only a unit larger than that (a migration rewriting a big table) spills to a file.
    _ = sb_sqlite_set_statement_journal_spill(32 << 20)
    return true
}()

/// A thin wrapper over one SQLite connection: prepared statements cached by
/// SQL text, used from one thread at a time (callers serialise).
final class SQLiteConnection: @unchecked Sendable {
    let handle: OpaquePointer
    let path: String
    private var cache: [SQLText: Statement] = [:]

    /// The store's statements have fixed text (values are bound), so a few dozen are cached for good. More than
    /// this means text is being built from values somewhere: the cache starts over rather than grow without end.
    static let maxCachedStatements = 256

    /// How many prepared statements are cached.
    var cachedStatements: Int { cache.count }

    init(path: String, readOnly: Bool = false) throws {
        _ = sqliteConfigured
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw StoreError("\(path): \(message)")
        }
        handle = db
        self.path = path
        sqlite3_busy_timeout(db, 10_000)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    func exec(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(handle, sql, nil, nil, &error) != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(error)
            throw StoreError(message, sql: sql)
        }
    }

    /// A cached prepared statement, reset and ready to bind.
    func prepare(_ sql: String) throws -> Statement {
        let key = SQLText(sql)
        if let cached = cache[key] {
            // Every use resets its statement when done (see run and query); one still mid-flight is reset here.
            if sqlite3_stmt_busy(cached.stmt) != 0 { cached.reset() }
            return cached
        }
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil) == SQLITE_OK, let stmt else {
            throw StoreError(String(cString: sqlite3_errmsg(handle)), sql: sql)
        }
        let statement = Statement(stmt, connection: self, sql: sql)
        // A statement in use is kept alive by its caller; dropped ones finalize when released.
        if cache.count >= Self.maxCachedStatements { cache.removeAll(keepingCapacity: true) }
        cache[key] = statement
        return statement
    }

    /// Runs `sql` with `values` bound, for statements that return no rows.
    @discardableResult
    func run(_ sql: String, _ values: SQLValue...) throws -> Int {
        let statement = try prepare(sql)
        // Reset at once: a statement left mid-flight holds its read snapshot and stops WAL checkpoints.
        defer { statement.reset() }
        try statement.bind(values)
        while try statement.step() {}
        return Int(sqlite3_changes(handle))
    }

    /// All rows of a query, each mapped by `row`.
    func query<T>(_ sql: String, _ values: [SQLValue] = [], _ row: (Statement) throws -> T) throws -> [T] {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bind(values)
        var out: [T] = []
        while try statement.step() { out.append(try row(statement)) }
        return out
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows the last statement inserted, changed or deleted.
    var changes: Int { Int(sqlite3_changes(handle)) }

    func errorMessage() -> String { String(cString: sqlite3_errmsg(handle)) }
}

/// A statement cache key. Hashing all of a few hundred bytes of SQL text on every call showed in
/// `bench runtime` profiles (~1.5% of the writer's samples); the length and both ends tell
/// statements apart, and equality still compares the whole text.
struct SQLText: Hashable {
    let text: String
    init(_ text: String) { self.text = text }

    func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { bytes in
            hasher.combine(bytes.count)
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes.prefix(24))))
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes.suffix(48))))
        }
    }

    static func == (a: SQLText, b: SQLText) -> Bool { a.text == b.text }
}

/// A value to bind.
enum SQLValue {
    case int(Int64)
    case text(String)
    case blob([UInt8])
    case null

    static func optional(_ s: String?) -> SQLValue { s.map { .text($0) } ?? .null }
    static func optional(_ i: Int64?) -> SQLValue { i.map { .int($0) } ?? .null }
}

final class Statement {
    let stmt: OpaquePointer
    unowned let connection: SQLiteConnection
    let sql: String

    init(_ stmt: OpaquePointer, connection: SQLiteConnection, sql: String) {
        self.stmt = stmt
        self.connection = connection
        self.sql = sql
    }

    deinit { sqlite3_finalize(stmt) }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    func bind(_ values: [SQLValue]) throws {
        for (i, value) in values.enumerated() { try bind(value, at: Int32(i + 1)) }
    }

    func bind(_ value: SQLValue, at index: Int32) throws {
        let rc: Int32
        switch value {
        case .int(let v): rc = sqlite3_bind_int64(stmt, index, v)
        case .text(let s):
            // The UTF-8 bytes in place where the string has them contiguous (native strings do): no C-string copy.
            var text = s
            rc = text.withUTF8 { bytes in
                // An empty string is text, not NULL: bind it from a literal rather than a missing base address.
                guard let base = bytes.baseAddress, !bytes.isEmpty else { return sqlite3_bind_text(stmt, index, "", 0, transient) }
                return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                    sqlite3_bind_text(stmt, index, $0, Int32(bytes.count), transient)
                }
            }
        case .blob(let b): rc = b.withUnsafeBytes { sqlite3_bind_blob(stmt, index, $0.baseAddress, Int32($0.count), transient) }
        case .null: rc = sqlite3_bind_null(stmt, index)
        }
        guard rc == SQLITE_OK else { throw StoreError(connection.errorMessage(), sql: sql) }
    }

    /// Steps once: true when a row is available.
    func step() throws -> Bool {
        switch sqlite3_step(stmt) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw StoreError(connection.errorMessage(), sql: sql)
        }
    }

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }

    func optionalInt(_ column: Int32) -> Int64? { isNull(column) ? nil : sqlite3_column_int64(stmt, column) }

    func text(_ column: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, column) else { return "" }
        return String(cString: p)
    }

    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(stmt, column))
        guard count > 0, let p = sqlite3_column_blob(stmt, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: count))
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(stmt, column) == SQLITE_NULL }
}
