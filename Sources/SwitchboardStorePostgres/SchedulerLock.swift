import SwitchboardCore
import SwitchboardStore

/// The scheduler election: the host whose dedicated session holds
/// `pg_try_advisory_lock(key)` runs polling. The lock lives as long as that
/// session, so a host that dies (kill -9, network loss) releases it and another
/// host takes it on its next try. Session-level TCP keepalives bound how long
/// PostgreSQL takes to notice a host that vanished without closing its socket.
final class SchedulerLock: @unchecked Sendable {
    private let pool: PGPool
    private let key: Int64
    private let hostID: String
    private let lock = Lock()
    private var session: PGSession?
    private var held = false
    private var lastCheck: Int64 = 0
    /// Called once each time this host becomes the scheduler.
    var onAcquire: (@Sendable () -> Void)?

    /// A holder re-checks its session at most this often; a non-holder retries at most this often.
    static let checkEveryNanos: Int64 = 500_000_000

    init(pool: PGPool, key: Int64, hostID: String) {
        self.pool = pool
        self.key = key
        self.hostID = hostID
    }

    func holds() -> Bool {
        let (acquired, result) = lock.withLock { () -> (Bool, Bool) in
            let now = Clock.monotonicNanoseconds()
            guard now - lastCheck >= Self.checkEveryNanos else { return (false, held) }
            lastCheck = now
            do {
                if let session, !session.isClosed, held {
                    _ = try session.query("SELECT 1")
                    return (false, true)
                }
                if session == nil || session!.isClosed {
                    if let old = session { try? old.connection.close().wait() }
                    session = nil
                    held = false
                    let fresh = try pool.connect()
                    try fresh.run("SET tcp_keepalives_idle = 5")
                    try fresh.run("SET tcp_keepalives_interval = 2")
                    try fresh.run("SET tcp_keepalives_count = 3")
                    session = fresh
                }
                held = try session!.query("SELECT pg_try_advisory_lock($1)", [.int(key)])[0].bool(0)
                return (held, held)
            } catch {
                // Lost the session (database restarted, network): not the scheduler until a new session wins the lock.
                if let old = session { try? old.connection.close().wait() }
                session = nil
                held = false
                return (false, false)
            }
        }
        if acquired { onAcquire?() }
        return result
    }

    /// Gives the lock up (a clean stop): another host takes over at once.
    func release() {
        lock.withLock {
            if let session { try? session.connection.close().wait() }
            session = nil
            held = false
        }
    }
}
