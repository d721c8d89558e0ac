import CSQLite

/// Multi-row statements: a batch of rows written with one statement per chunk of rows, not one per row.
/// Each statement run costs SQLite a VM start, a bind round and a reset, and costs Swift a cache lookup
/// and an argument array; per row that was about as much as the b-tree work of a small row.
extension SQLiteConnection {
    /// The chunk sizes a batch is cut into: full chunks of the largest, the rest in halving steps. A statement
    /// shape therefore has at most this many texts, all prepared once, whatever the batch sizes.
    static let rowChunks = [64, 16, 4, 1]

    /// Runs `sql(tuples)` once per chunk of `rows`, where `tuples` is `tuple` repeated once per row of the chunk,
    /// comma-separated (`(?, ?), (?, ?)`). `bind` binds one row's values in the order of `tuple`'s parameters;
    /// `ran` is called after each chunk's statement ran, with the chunk's range in `rows`. Rows are written in order.
    func forEachChunk<Row>(_ rows: [Row], tuple: String, sql: (String) -> String, bind: (Row, inout RowBinder) throws -> Void,
                           ran: (Statement, Range<Int>) throws -> Void) throws {
        var start = 0
        while start < rows.count {
            let size = Self.rowChunks.first { $0 <= rows.count - start }!
            let statement = try prepare(sql(Array(repeating: tuple, count: size).joined(separator: ", ")))
            defer { statement.reset() }
            var binder = RowBinder(statement: statement)
            for r in rows[start..<start + size] { try bind(r, &binder) }
            try ran(statement, start..<start + size)
            start += size
        }
    }

    /// `forEachChunk` for statements that return rows (`RETURNING`): all of them, mapped by `row`.
    func runRows<Row, T>(_ rows: [Row], tuple: String, sql: (String) -> String, bind: (Row, inout RowBinder) throws -> Void,
                         returning row: (Statement) throws -> T) throws -> [T] {
        var out: [T] = []
        try forEachChunk(rows, tuple: tuple, sql: sql, bind: bind) { statement, _ in
            while try statement.step() { out.append(try row(statement)) }
        }
        return out
    }

    /// `runRows` for statements that return nothing; returns how many rows they changed.
    @discardableResult
    func runRows<Row>(_ rows: [Row], tuple: String, sql: (String) -> String, bind: (Row, inout RowBinder) throws -> Void) throws -> Int {
        // sqlite3_changes counts the last statement only: the connection's running total covers every chunk.
        let before = sqlite3_total_changes64(handle)
        _ = try runRows(rows, tuple: tuple, sql: sql, bind: bind) { _ in () }
        return Int(sqlite3_total_changes64(handle) - before)
    }
}

/// Binds a multi-row statement's values in parameter order.
struct RowBinder {
    let statement: Statement
    private(set) var index: Int32 = 1

    init(statement: Statement) { self.statement = statement }

    mutating func callAsFunction(_ value: SQLValue) throws {
        try statement.bind(value, at: index)
        index += 1
    }
}
