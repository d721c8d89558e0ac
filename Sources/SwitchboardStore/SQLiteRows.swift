import CSQLite

/// Multi-row statements: a batch of rows written with one statement per chunk of rows, not one per row.
/// Each statement run costs SQLite a VM start, a bind round and a reset, and costs Swift a cache lookup
/// and an argument array; per row that was about as much as the b-tree work of a small row.
///
/// A batch is cut into chunks of `RowStatement.chunkSizes` rows: full chunks of the largest, the rest in
/// smaller steps. A statement shape therefore has one fixed text per chunk size, made once and prepared once,
/// whatever the batch sizes.
struct RowStatement: Sendable {
    static let chunkSizes = [64, 16, 4, 1]
    /// The statement's text for each chunk size, in `chunkSizes`' order.
    let texts: [String]

    /// `sql` receives `tuple` repeated once per row of a chunk, comma-separated (`(?, ?), (?, ?)`).
    init(tuple: String, _ sql: (String) -> String) {
        texts = Self.chunkSizes.map { sql(Array(repeating: tuple, count: $0).joined(separator: ", ")) }
    }
}

extension SQLiteConnection {
    /// Runs `statement` once per chunk of `count` rows. `bind` binds row `i`'s values in the order of the tuple's
    /// parameters; `ran` is called after each chunk's statement ran, with the chunk's rows. Rows are written in order.
    func forEachChunk(_ statement: RowStatement, count: Int, bind: (Int, inout RowBinder) throws -> Void,
                      ran: (Statement, Range<Int>) throws -> Void) throws {
        var start = 0
        while start < count {
            let which = RowStatement.chunkSizes.firstIndex { $0 <= count - start }!
            let chunk = start..<start + RowStatement.chunkSizes[which]
            let prepared = try prepare(statement.texts[which])
            defer { prepared.reset() }
            var binder = RowBinder(statement: prepared)
            for i in chunk { try bind(i, &binder) }
            try ran(prepared, chunk)
            start = chunk.upperBound
        }
    }

    /// Runs a single-row statement once per row, prepared once and bound by index (no argument array per row):
    /// for statements whose multi-row form is slower. `UPDATE ... FROM (VALUES ...)` materialises its rows and
    /// joins them, slower per row than an update by id (docs/PERFORMANCE.md, "Figures behind choices").
    @discardableResult
    func runEach(_ sql: String, count: Int, bind: (Int, inout RowBinder) throws -> Void) throws -> Int {
        let statement = try prepare(sql)
        var changed = 0
        for i in 0..<count {
            defer { statement.reset() }
            var binder = RowBinder(statement: statement)
            try bind(i, &binder)
            while try statement.step() {}
            changed += changes
        }
        return changed
    }

    /// `forEachChunk` for statements that return nothing; returns how many rows they changed.
    @discardableResult
    func runRows(_ statement: RowStatement, count: Int, bind: (Int, inout RowBinder) throws -> Void) throws -> Int {
        var changed = 0
        try forEachChunk(statement, count: count, bind: bind) { prepared, _ in
            while try prepared.step() {}
            changed += changes
        }
        return changed
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
