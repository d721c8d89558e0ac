/// One kind of store the host can open, chosen by the scheme of the configuration's `store:` URL.
/// The composition root (the CLI) lists the drivers that exist; the runtime and the configuration
/// loader see only this protocol, so a new backend is a new driver, not a change to either.
public protocol StoreDriver: Sendable {
    /// The URL prefixes this driver opens ("sqlite:", "postgres://").
    var prefixes: [String] { get }
    /// How a URL of this kind is written, for errors ("sqlite:PATH").
    var form: String { get }
    /// Checks a URL without connecting and returns it as the configuration keeps it; `resolve` turns a
    /// path relative to the configuration file into an absolute one. A thrown error's description says
    /// what is wrong and never holds a secret (a password in the URL is named, not shown).
    func normalize(url: String, resolve: (String) -> String) throws -> String
    /// Opens the store. `forHost`: a runtime that will work the queue, which takes its connections now;
    /// a command that asks a question or two takes them as it needs them.
    func open(url: String, forHost: Bool) throws -> any FullStore
}

/// The drivers a process knows, in the order they are tried.
public struct StoreDrivers: Sendable {
    public let drivers: [any StoreDriver]

    public init(_ drivers: [any StoreDriver]) { self.drivers = drivers }

    /// The embedded store alone: what a process gets unless its composition root names more.
    public static let embedded = StoreDrivers([SQLiteDriver()])

    /// The driver for a URL, nil when none opens it.
    public func driver(for url: String) -> (any StoreDriver)? {
        drivers.first { driver in driver.prefixes.contains { url.hasPrefix($0) } }
    }

    /// The forms of URL these drivers open, for an error ("use sqlite:PATH or postgres://...").
    public var forms: String { drivers.map(\.form).joined(separator: " or ") }

    public func open(url: String, forHost: Bool = false) throws -> any FullStore {
        guard let driver = driver(for: url) else { throw UnsupportedStore(url: url, forms: forms) }
        return try driver.open(url: url, forHost: forHost)
    }
}

/// A store URL no known driver opens.
public struct UnsupportedStore: Error, CustomStringConvertible {
    public var url: String
    public var forms: String
    public var description: String { "store \"\(url.split(separator: "@").last ?? "")\" is not supported (use \(forms))" }
}

/// The embedded SQLite store: `sqlite:PATH`, one host.
public struct SQLiteDriver: StoreDriver {
    public init() {}
    public var prefixes: [String] { ["sqlite:"] }
    public var form: String { "sqlite:PATH" }
    public func normalize(url: String, resolve: (String) -> String) throws -> String { "sqlite:" + resolve(String(url.dropFirst(7))) }
    public func open(url: String, forHost: Bool) throws -> any FullStore { try SQLiteStore.open(url: url) }
}
