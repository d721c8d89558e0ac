/// The small SQL surface both stores share for their cold paths (the exception queue's state
/// machine, the audit trail, admin tokens): those statements are written once, over this
/// protocol, and each backend adapts its connection to it. The measured hot path (queue,
/// claims, group commit) stays per backend and does not go through here.
///
/// Statements use `?` placeholders in order; the dialect writes them as its backend wants.
public protocol SQLSession {
    var dialect: SQLDialect { get }
    /// The rows of a query, each read by `read`.
    func rows<T>(_ sql: String, _ arguments: [SQLArgument], _ read: (any SQLRow) throws -> T) throws -> [T]
    /// Runs a statement and returns the number of rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLArgument]) throws -> Int
}

/// One value bound to a shared statement.
public enum SQLArgument: Sendable, Equatable {
    case int(Int64)
    case text(String)
    case null

    public static func optional(_ text: String?) -> SQLArgument { text.map { .text($0) } ?? .null }
}

/// One row of a result, read by column index (0-based).
public protocol SQLRow {
    func int(_ column: Int) throws -> Int64
    func optionalInt(_ column: Int) throws -> Int64?
    func text(_ column: Int) throws -> String
    func optionalText(_ column: Int) throws -> String?
}

/// What differs between the backends in the shared statements, and nothing else.
public struct SQLDialect: Sendable {
    public enum Placeholders: Sendable { case question, dollarNumbered }

    /// How the backend writes the n-th placeholder: SQLite `?`, PostgreSQL `$n`.
    public var placeholders: Placeholders
    /// Appended to a SELECT of a row the transaction will change: PostgreSQL's ` FOR UPDATE` (several hosts
    /// write at once: two operators acting on one item, two hosts appending to the audit chain); nothing on
    /// SQLite, whose one writer already holds the only write transaction.
    public var lockRows: String
    /// Extra assignments when a work item goes back to the queue: PostgreSQL's claim column (`lease_owner`);
    /// SQLite keeps its leases in memory.
    public var requeueAssignments: String

    public static let sqlite = SQLDialect(placeholders: .question, lockRows: "", requeueAssignments: "")
    public static let postgres = SQLDialect(placeholders: .dollarNumbered, lockRows: " FOR UPDATE", requeueAssignments: ", lease_owner = NULL")

    /// The statement as this backend takes it: each `?` outside a quoted literal becomes its placeholder.
    public func render(_ sql: String) -> String {
        guard placeholders == .dollarNumbered else { return sql }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var quote: Character?
        var n = 0
        for c in sql {
            if let q = quote {
                if c == q { quote = nil }
                out.append(c)
            } else if c == "'" || c == "\"" {
                quote = c
                out.append(c)
            } else if c == "?" {
                n += 1
                out += "$\(n)"
            } else {
                out.append(c)
            }
        }
        return out
    }
}

// MARK: the SQLite connection as a shared-SQL session

extension SQLiteConnection: SQLSession {
    var dialect: SQLDialect { .sqlite }

    func rows<T>(_ sql: String, _ arguments: [SQLArgument], _ read: (any SQLRow) throws -> T) throws -> [T] {
        try query(sql, arguments.map(SQLValue.init)) { try read(SQLiteRow(statement: $0)) }
    }

    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLArgument]) throws -> Int {
        _ = try query(sql, arguments.map(SQLValue.init)) { _ in () }
        return changes
    }
}

extension SQLValue {
    init(_ argument: SQLArgument) {
        switch argument {
        case .int(let v): self = .int(v)
        case .text(let v): self = .text(v)
        case .null: self = .null
        }
    }
}

struct SQLiteRow: SQLRow {
    let statement: Statement
    func int(_ column: Int) -> Int64 { statement.int(Int32(column)) }
    func optionalInt(_ column: Int) -> Int64? { statement.optionalInt(Int32(column)) }
    func text(_ column: Int) -> String { statement.text(Int32(column)) }
    func optionalText(_ column: Int) -> String? { statement.optionalText(Int32(column)) }
}
