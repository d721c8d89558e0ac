import SwitchboardCore
import SwitchboardStore

/// One token bucket row per rate-limited connection, refilled and drawn in one
/// statement: hosts calling the same API share its limit. A negative balance
/// is a queue: each caller waits its turn (-tokens / rate seconds).
extension PostgresStore: SharedRateLimits {
    public func reserveToken(key: String, ratePerSecond: Double, burst: Double, now: Millis) throws -> Double {
        try pool.with { db in
            let rows = try db.query("""
                INSERT INTO rate_limits AS r (key, tokens, refilled_at) VALUES ($1, $3::float8 - 1, $2)
                ON CONFLICT (key) DO UPDATE SET
                    tokens = LEAST($3::float8, r.tokens + GREATEST($2 - r.refilled_at, 0) * $4::float8 / 1000.0) - 1,
                    refilled_at = GREATEST(r.refilled_at, $2)
                RETURNING tokens
                """, [.text(key), .int(now), .double(burst), .double(ratePerSecond)])
            let tokens = try rows[0][0].decode(Double.self)
            return tokens >= 0 ? 0 : -tokens / ratePerSecond
        }
    }

    public func returnToken(key: String) throws {
        try pool.with { db in _ = try db.run("UPDATE rate_limits SET tokens = tokens + 1 WHERE key = $1", [.text(key)]) }
    }
}
