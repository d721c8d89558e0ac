import SwitchboardCore
import Synchronization

/// CPU time the SQLite store's writer thread spends on each kind of operation,
/// for `bench runtime`. Off unless a benchmark turns it on: the thread's CPU
/// clock is a system call, a few hundred nanoseconds per reading.
public enum WriterProfile {
    /// What the writer does, in the order the benchmark prints them.
    public enum Operation: String, CaseIterable, Sendable {
        case ingest, claim, ledger, xref, work = "work row", emitted, commit
    }

    private static let enabled = Atomic<Bool>(false)
    private static let totals = Mutex<[Operation: Int64]>([:])

    /// Starts counting from zero.
    public static func start() {
        totals.withLock { $0 = [:] }
        enabled.store(true, ordering: .relaxed)
    }

    /// Stops counting and returns the writer's CPU nanoseconds by operation.
    public static func stop() -> [Operation: Int64] {
        enabled.store(false, ordering: .relaxed)
        return totals.withLock { $0 }
    }

    static func measure<T>(_ operation: Operation, _ body: () throws -> T) rethrows -> T {
        guard enabled.load(ordering: .relaxed) else { return try body() }
        let started = Clock.threadCPUNanoseconds()
        defer {
            let spent = Clock.threadCPUNanoseconds() - started
            totals.withLock { $0[operation, default: 0] += spent }
        }
        return try body()
    }
}
