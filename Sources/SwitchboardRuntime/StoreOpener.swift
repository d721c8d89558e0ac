import SwitchboardStore
import SwitchboardStorePostgres

/// Opens the store a configuration names: `sqlite:PATH` (embedded, one host) or
/// `postgres://USER@HOST:PORT/DB` (shared by several hosts; password from the environment).
public enum Stores {
    public static func open(url: String) throws -> any FullStore {
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") { return try PostgresStore.open(url: url) }
        return try SQLiteStore.open(url: url)
    }
}
