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
    func with<T>(_ body: (PGSession) throws -> T) throws -> T {
        slots.wait()
        defer { slots.signal() }
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
        let session = try reusable ?? {
            let fresh = try connect()
            lock.withLock { all.append(fresh) }
            return fresh
        }()
        do {
            let result = try body(session)
            lock.withLock { idle.append(session) }
            return result
        } catch {
            if session.isClosed {
                lock.withLock { all.removeAll { $0 === session } }
                try? session.connection.close().wait()
            } else {
                lock.withLock { idle.append(session) }
            }
            throw error
        }
    }

    func transaction<T>(_ body: (PGSession) throws -> T) throws -> T {
        try with { try $0.transaction(body) }
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
