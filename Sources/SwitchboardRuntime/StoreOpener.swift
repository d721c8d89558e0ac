import SwitchboardStore
import SwitchboardStorePostgres

/// Opens the store a configuration names: `sqlite:PATH` (embedded, one host) or
/// `postgres://USER@HOST:PORT/DB` (shared by several hosts; password from the environment).
public enum Stores {
    /// `forHost`: the store of a runtime that will work the queue, which opens its whole connection pool now
    /// (`PostgresStore.openPool`); a command that asks a question or two opens connections as it needs them.
    public static func open(url: String, forHost: Bool = false) throws -> any FullStore {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            let store = try PostgresStore.open(url: url)
            if forHost { try store.openPool() }
            return store
        }
        return try SQLiteStore.open(url: url)
    }
}
