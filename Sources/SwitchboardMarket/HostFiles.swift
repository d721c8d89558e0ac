import Foundation

/// Where a host keeps its marketplace files: the trust store and the sources beside its configuration file
/// (docs/PACKAGES.md), so the CLI and the admin server read the same ones.
public enum HostFiles {
    /// `trust.json` beside the configuration, else in the working directory.
    public static func trustPath(config: String?) -> String {
        config.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path + "/trust.json" } ?? "trust.json"
    }

    /// `sources.json` beside the trust store.
    public static func sourcesPath(trust: String) -> String {
        URL(fileURLWithPath: trust).deletingLastPathComponent().path + "/sources.json"
    }
}
