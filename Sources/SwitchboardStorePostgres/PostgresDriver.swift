import SwitchboardStore

/// The PostgreSQL store: `postgres://USER@HOST:PORT/DB`, shared by several hosts (docs/STORE-POSTGRES.md);
/// the password comes from the environment when the store opens, never from the URL.
public struct PostgresDriver: StoreDriver {
    public init() {}
    public var prefixes: [String] { ["postgres://", "postgresql://"] }
    public var form: String { "postgres://USER@HOST:PORT/DATABASE" }

    public func normalize(url: String, resolve: (String) -> String) throws -> String {
        _ = try PostgresSettings(url: url, environment: [:])
        return url
    }

    public func open(url: String, forHost: Bool) throws -> any FullStore {
        let store = try PostgresStore.open(url: url)
        if forHost { try store.openPool() }
        return store
    }
}
