import PostgresNIO
import SwitchboardStore

/// A PostgreSQL session as a shared-SQL session: `$n` placeholders, rows locked with `FOR UPDATE`.
extension PGSession: SQLSession {
    var dialect: SQLDialect { .postgres }

    func rows<T>(_ sql: String, _ arguments: [SQLArgument], _ read: (any SQLRow) throws -> T) throws -> [T] {
        try query(dialect.render(sql), arguments.map(PGValue.init)).map { try read(PostgresRow(row: $0)) }
    }

    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLArgument]) throws -> Int {
        try run(dialect.render(sql), arguments.map(PGValue.init))
    }
}

extension PGValue {
    init(_ argument: SQLArgument) {
        switch argument {
        case .int(let v): self = .int(v)
        case .text(let v): self = .text(v)
        case .null: self = .null
        }
    }
}

private struct PostgresRow: SQLRow {
    let row: PostgresRandomAccessRow
    func int(_ column: Int) throws -> Int64 { try row.int(column) }
    func optionalInt(_ column: Int) throws -> Int64? { try row.optionalInt(column) }
    func text(_ column: Int) throws -> String { try row.text(column) }
    func optionalText(_ column: Int) throws -> String? { try row.optionalText(column) }
}
