import SwitchboardCore
import SwitchboardStore

/// The scheduler election: the host whose dedicated session holds
/// `pg_try_advisory_lock(key)` runs polling. The lock lives as long as that
/// session, so a host that dies (kill -9, network loss) releases it and another
/// host takes it on its next try. Session-level TCP keepalives bound how long
/// PostgreSQL takes to notice a host that vanished without closing its socket.
///
/// A host that is alive but stuck would keep its session, and the lock, for
/// ever. So the holder's poller touches its session before every poll (a
/// `SELECT 1` at most every half second), which PostgreSQL records as the
/// session's `query_start`; a host that fails to win the lock ends the
/// holder's session (`pg_terminate_backend`, allowed between sessions of one
/// role) once that is older than the stall bound, and wins the lock next try.
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
    /// Called when this host ended a stuck scheduler's session: its session name (`switchboard-scheduler:HOST`) and how long it was silent.
    var onTakeOver: (@Sendable (_ holder: String, _ silentMillis: Int64) -> Void)?

    /// A holder re-checks its session at most this often; a non-holder retries at most this often.
    static let checkEveryNanos: Int64 = 500_000_000

    init(pool: PGPool, key: Int64, hostID: String) {
        self.pool = pool
        self.key = key
        self.hostID = hostID
    }

    /// Whether this host is the scheduler; see `HostCoordination.holdsSchedulerLock(takeOverAfterMillis:)`.
    func holds(takeOverAfterMillis: Int64?) -> Bool {
        var tookOver: (holder: String, silentMillis: Int64)?
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
                    // Names the session in pg_stat_activity: operators (and a host taking over) see whose it is.
                    _ = try fresh.query("SELECT set_config('application_name', $1, false)", [.text("switchboard-scheduler:\(hostID)")])
                    session = fresh
                }
                held = try session!.query("SELECT pg_try_advisory_lock($1)", [.int(key)])[0].bool(0)
                if !held, let takeOverAfterMillis { tookOver = try endStuckHolder(silentFor: takeOverAfterMillis) }
                return (held, held)
            } catch {
                // Lost the session (database restarted, network): not the scheduler until a new session wins the lock.
                if let old = session { try? old.connection.close().wait() }
                session = nil
                held = false
                return (false, false)
            }
        }
        if let tookOver { onTakeOver?(tookOver.holder, tookOver.silentMillis) }
        if acquired { onAcquire?() }
        return result
    }

    /// Ends the lock holder's session if it has been silent for longer than `silentFor`; returns whose it was.
    /// Check and termination are one statement, so a holder that just showed a sign of life is left alone.
    private func endStuckHolder(silentFor millis: Int64) throws -> (holder: String, silentMillis: Int64)? {
        // A bigint advisory key is stored as two 32-bit halves: classid (high) and objid (low), objsubid 1.
        let rows = try session!.query("""
            SELECT a.application_name, (extract(epoch FROM now() - a.query_start) * 1000)::bigint, pg_terminate_backend(a.pid)
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid::bigint = $1 AND l.objid::bigint = $2
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND a.pid <> pg_backend_pid() AND now() - a.query_start > make_interval(secs => $3)
            """, [.int(key >> 32), .int(key & 0xFFFF_FFFF), .double(Double(millis) / 1000)])
        guard let row = rows.first, try row.bool(2) else { return nil }
        return (try row.text(0), try row.int(1))
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
