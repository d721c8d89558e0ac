import Dispatch
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import SwitchboardCore
import SwitchboardStore

/// A fixed-size pool of sessions on the store's own event loops. A session whose
/// connection broke is dropped and a new one is opened on the next use.
final class PGPool: @unchecked Sendable {
    let settings: PostgresSettings
    let group: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let slots: DispatchSemaphore
    private let lock = Lock()
    private var idle: [PGSession] = []
    private var all: [PGSession] = []

    private let size: Int

    init(settings: PostgresSettings, size: Int, logger: Logger) {
        self.settings = settings
        self.size = size
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        slots = DispatchSemaphore(value: size)
    }

    /// Opens a session outside the pool (the scheduler's lock lives on its own).
    func connect() throws -> PGSession {
        do {
            let connection = try PostgresConnection.connect(on: group.next(), configuration: settings.configuration, id: 1, logger: logger).wait()
            let session = PGSession(connection: connection, logger: logger, preparesStatements: settings.preparesStatements)
            // Short statements only: JIT compilation cost up to a quarter second on plans whose estimates ran high.
            try session.run("SET jit = off")
            return session
        } catch {
            throw StoreError("cannot connect to the PostgreSQL store at \(settings.redactedURL): \(PGError(error).message)")
        }
    }

    /// Opens sessions until the pool holds all it may, and leaves them idle.
    func fill() throws {
        while lock.withLock({ all.count < size }) {
            let session = try connect()
            lock.withLock {
                all.append(session)
                idle.append(session)
            }
        }
    }

    /// Runs `body` on a pooled session (waiting for a free one).
    @discardableResult
    func with<T>(_ body: (PGSession) throws -> T) throws -> T {
        let session = try acquire()
        defer { giveBack(session) }
        return try body(session)
    }

    /// Sessions taken out by `checkOut`.
    private var checkedOut = 0

    /// Takes a session out of the pool until `checkIn` (a held claim's transaction lives on it), unless that
    /// would leave fewer than `reserve` sessions for everything else: then nil, and the caller does without.
    func checkOut(leaving reserve: Int) throws -> PGSession? {
        guard lock.withLock({ () -> Bool in
            guard checkedOut + reserve < size else { return false }
            checkedOut += 1
            return true
        }) else { return nil }
        do {
            return try acquire()
        } catch {
            lock.withLock { checkedOut -= 1 }
            throw error
        }
    }

    /// Returns a session taken by `checkOut` (a closed one is dropped, and replaced on a later use).
    func checkIn(_ session: PGSession) {
        lock.withLock { checkedOut -= 1 }
        giveBack(session)
    }

    /// Waits for a slot and takes an open session (a new one when no idle one is left).
    private func acquire() throws -> PGSession {
        slots.wait()
        // A session whose server went away (restart, failover) is dropped before use: a statement sent on a
        // closed connection may never be answered (the statement deadline covers the race that remains).
        var reusable: PGSession?
        while let candidate = lock.withLock({ idle.popLast() }) {
            if !candidate.isClosed {
                reusable = candidate
                break
            }
            lock.withLock { all.removeAll { $0 === candidate } }
            try? candidate.connection.close().wait()
        }
        do {
            return try reusable ?? {
                let fresh = try connect()
                lock.withLock { all.append(fresh) }
                return fresh
            }()
        } catch {
            slots.signal()
            throw error
        }
    }

    /// Puts a session back in the pool and frees its slot; a closed one is dropped.
    private func giveBack(_ session: PGSession) {
        if session.isClosed {
            lock.withLock { all.removeAll { $0 === session } }
            try? session.connection.close().wait()
        } else {
            lock.withLock { idle.append(session) }
        }
        slots.signal()
    }

    func transaction<T>(_ body: (PGSession) throws -> T) throws -> T {
        try with { try $0.transaction(body) }
    }

    /// Closes every session's connection, in use or idle: a statement waiting on one fails at once (its
    /// transaction rolls back on the server), and the pool opens new sessions on later use.
    func interruptAll() {
        let sessions = lock.withLock { all }
        for session in sessions { session.interrupt() }
    }

    func close() {
        let sessions = lock.withLock { () -> [PGSession] in
            defer { all = []; idle = [] }
            return all
        }
        for session in sessions { try? session.connection.close().wait() }
        try? group.syncShutdownGracefully()
    }
}
