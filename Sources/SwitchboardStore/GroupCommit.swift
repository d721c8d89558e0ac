import Foundation
import SwitchboardCore

/// The single writer of an SQLite store. Callers on any thread hand it a
/// unit of work and block until it is durable; the writer runs every unit
/// queued meanwhile inside one transaction (one fsync for all of them), each
/// in its own savepoint so one failing unit does not undo the others.
final class GroupCommit: @unchecked Sendable {
    private let connection: SQLiteConnection
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var stopped = false
    private let maxBatch: Int

    private final class Job {
        let body: (SQLiteConnection) throws -> Void
        var error: (any Error)?
        var done = false
        init(_ body: @escaping (SQLiteConnection) throws -> Void) { self.body = body }
    }

    init(connection: SQLiteConnection, maxBatch: Int = 256) {
        self.connection = connection
        self.maxBatch = maxBatch
        // The thread holds the writer until stop() lets its loop end.
        let name = "switchboard.store.writer"
        let thread = Thread {
            ThreadName.setCurrent(name)
            self.loop()
        }
        thread.name = name
        thread.start()
    }

    /// Runs `body` in the next group transaction and returns once it committed.
    @discardableResult
    func write<T>(_ body: @escaping (SQLiteConnection) throws -> T) throws -> T {
        nonisolated(unsafe) var result: T?
        let job = Job { result = try body($0) }
        condition.lock()
        guard !stopped else {
            condition.unlock()
            throw StoreError("the store is closed")
        }
        queue.append(job)
        condition.broadcast()
        while !job.done { condition.wait() }
        condition.unlock()
        if let error = job.error { throw error }
        return result!
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped {
                condition.unlock()
                return
            }
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            condition.unlock()

            commit(batch)

            condition.lock()
            for job in batch { job.done = true }
            condition.broadcast()
            condition.unlock()
        }
    }

    private func commit(_ batch: [Job]) {
        do {
            try connection.exec("BEGIN IMMEDIATE")
        } catch {
            for job in batch { job.error = error }
            return
        }
        for job in batch {
            do {
                try connection.exec("SAVEPOINT unit")
                try job.body(connection)
                try connection.exec("RELEASE unit")
            } catch {
                job.error = error
                try? connection.exec("ROLLBACK TO unit")
                try? connection.exec("RELEASE unit")
            }
        }
        do {
            try WriterProfile.measure(.commit) { try connection.exec("COMMIT") }
        } catch {
            try? connection.exec("ROLLBACK")
            for job in batch where job.error == nil { job.error = error }
        }
    }
}
