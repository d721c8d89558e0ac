import ArgumentParser
import Foundation
import Logging
import SwitchboardCore
import SwitchboardMarket
import SwitchboardPackages
import SwitchboardRuntime

/// `switchboard market`: package repositories and installs per tenant (docs/PACKAGES.md).
struct MarketCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "market", abstract: "Package repositories (signed indexes) and installs per tenant.",
        subcommands: [AddSource.self, Sources.self, RemoveSource.self, Search.self, Show.self, Publish.self,
                      Install.self, Upgrade.self, Rollback.self, Remove.self, List.self])

    /// Where this host keeps its trust store and sources: beside the configuration, else in this directory.
    struct MarketFiles: ParsableArguments {
        @Option(help: "The configuration file (YAML): its tenants, store and packages directory.") var config: String?
        @Option(help: "The trust store (default: trust.json beside --config, else here).") var trust: String?
        @Option(help: "The package sources (default: sources.json beside the trust store).") var sources: String?

        var trustPath: String { trust ?? HostFiles.trustPath(config: config) }
        var sourcesPath: String { sources ?? HostFiles.sourcesPath(trust: trustPath) }

        func context(actor: String?) throws -> MarketContext {
            guard let config else { throw ValidationError("--config is required: installs are per tenant of a configuration") }
            var logger = Logger(label: "switchboard.market")
            logger.logLevel = .warning
            return MarketContext(configFile: config, trust: try TrustStore(path: trustPath), sources: try PackageSources(path: sourcesPath),
                                 actor: actor ?? "cli:" + (ProcessInfo.processInfo.environment["USER"] ?? "operator"), stores: storeDrivers, logger: logger)
        }
    }

    struct AddSource: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-source", abstract: "Add a repository (a directory or an http(s) URL), pinned to its index key.")
        @Argument(help: "A name for the source.") var name: String
        @Argument(help: "The repository: a directory or an http(s) URL.") var location: String
        @Option(help: "The repository's index key (REPO.pub).") var key: String
        @OptionGroup var files: MarketFiles

        func run() async throws {
            try await marketStep {
                var sources = try PackageSources(path: files.sourcesPath)
                let index = try await sources.add(name: name, location: location, key: try PackageSigning.publicKey(file: key))
                print("added source \(name): \(index.entries.count) package version(s), serial \(index.serial), expires \(index.expires)")
            }
        }
    }

    struct Sources: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "sources", abstract: "List the sources and check each one's index now.")
        @OptionGroup var files: MarketFiles

        func run() async throws {
            try await marketStep {
                var sources = try PackageSources(path: files.sourcesPath)
                for (source, result) in await sources.indexes() {
                    switch result {
                    case .success(let index):
                        print("\(source.name)  \(source.location)  key \(source.key.keyID)  serial \(index.serial)  expires \(index.expires)  \(index.entries.count) version(s)")
                    case .failure(let error):
                        print("\(source.name)  \(source.location)  key \(source.key.keyID)  REFUSED: \(error)")
                    }
                }
            }
        }
    }

    struct RemoveSource: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove-source", abstract: "Forget a source.")
        @Argument var name: String
        @OptionGroup var files: MarketFiles

        func run() async throws {
            try await marketStep {
                var sources = try PackageSources(path: files.sourcesPath)
                try sources.remove(name: name)
            }
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Search the sources' packages (id, description, publisher); the newest version of each.")
        @Argument(help: "Text to look for (all packages when omitted).") var text: String?
        @OptionGroup var files: MarketFiles

        func run() async throws {
            try await marketStep {
                let (available, warnings) = try await catalogue(files)
                let needle = text?.lowercased()
                var seen = Set<String>()
                for package in available.sorted(by: { ($0.entry.id, $0.source) < ($1.entry.id, $1.source) }) where seen.insert(package.entry.id).inserted {
                    let e = package.entry
                    if let needle, !"\(e.id) \(e.description) \(e.publisher)".lowercased().contains(needle) { continue }
                    let newest = available.filter { $0.entry.id == e.id }.map(\.entry).max { a, b in
                        guard let x = a.semanticVersion, let y = b.semanticVersion else { return false }
                        return VersionRange.compare(x, y) < 0
                    } ?? e
                    print("\(e.id)  \(newest.version)  \(e.kind)  \(e.publisher)  \(package.source)  \(e.description)")
                }
                for warning in warnings { printError("warning: \(warning)") }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every version of a package in the sources, with what it needs and whether this host can run it.")
        @Argument var id: String
        @OptionGroup var files: MarketFiles

        func run() async throws {
            try await marketStep {
                let (available, warnings) = try await catalogue(files)
                let versions = available.filter { $0.entry.id == id }
                guard !versions.isEmpty else { throw PackageError(.unresolved, "no source has \(id)") }
                for package in versions {
                    let e = package.entry
                    print("\(e.id) \(e.version) (\(e.kind)) from \(package.source)")
                    print("  \(e.description)")
                    print("  publisher \(e.publisher), licence \(e.licence), signed by key \(e.signature["key_id"]?.stringValue ?? "none")")
                    print("  ABI \(e.abiMajor).\(e.abiMinMinor)+, canonical model \(e.canonicalModel), host \(e.host), platforms \(e.platforms.joined(separator: ", "))")
                    print("  \(e.size) bytes, sha256 \(e.sha256)")
                    for d in e.dependencies { print("  needs \(d.id) \(d.range)") }
                    print("  " + (DependencyResolver.incompatibility(e).map { "cannot run here: \($0)" } ?? "runs on this host"))
                }
                for warning in warnings { printError("warning: \(warning)") }
            }
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a signed package into a repository directory and re-sign its index (serial + 1).")
        @Argument(help: "The .sbpkg file (signed: PACKAGE.sig beside it).") var package: String
        @Option(help: "The repository directory.") var repo: String
        @Option(help: "The repository's private key (signs the index).") var key: String
        @Option(help: "How long the index stays valid (e.g. 90d, 720h).") var expires = "90d"

        func run() async throws {
            guard let millis = DurationText.millis(expires) else { throw ValidationError("--expires \(expires) is not a duration (e.g. 90d)") }
            try await marketStep {
                let index = try RepositoryPublisher.publish(package: package, repository: repo, keyFile: key, expiresInMillis: millis)
                print("published into \(repo): serial \(index.serial), \(index.entries.count) version(s), expires \(index.expires)")
            }
        }
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install a package for a tenant: verify, resolve dependencies, unpack, render its templates, validate, activate.",
            discussion: "ID, ID@VERSION, or a path to an .sbpkg file. A running host takes the change within a second (docs/PACKAGES.md, Hot reload).")
        @Argument(help: "ID, ID@VERSION or FILE.sbpkg") var package: String
        @Option(help: "The tenant (client firm) to install for.") var tenant: String
        @Option(help: "Parameter values (YAML or JSON mapping).") var values: String?
        @Option(name: .customLong("set"), help: "A parameter: NAME=VALUE (repeatable; over --values).") var settings: [String] = []
        @Flag(help: "Development only: accept unsigned packages (each is audited as package.unsigned).") var allowUnsigned = false
        @Option(help: "Who made the change (audit trail).") var actor: String?
        @OptionGroup var files: MarketFiles

        func run() async throws {
            let given = try parameters(values: values, settings: settings)
            let (id, version) = splitVersion(package)
            try await marketStep {
                var context = try files.context(actor: actor)
                context.allowUnsigned = allowUnsigned
                if allowUnsigned { printError("warning: --allow-unsigned: unsigned packages are accepted and audited as such") }
                let started = Clock.monotonicNanoseconds()
                let outcome = try await MarketInstaller.install(id, version: version, tenant: tenant, values: given, context: &context)
                report(outcome, tenant: tenant, millis: (Clock.monotonicNanoseconds() - started) / 1_000_000)
            }
        }
    }

    struct Upgrade: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Install the newest version of an installed package for a tenant, with the values it has.")
        @Argument var id: String
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "Who made the change (audit trail).") var actor: String?
        @OptionGroup var files: MarketFiles

        func run() async throws {
            try await marketStep {
                var context = try files.context(actor: actor)
                let outcome = try await MarketInstaller.install(id, version: nil, tenant: tenant, values: [], context: &context)
                report(outcome, tenant: tenant, millis: nil)
            }
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Return a tenant's package to the version it replaced.")
        @Argument var id: String
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "Who made the change (audit trail).") var actor: String?
        @OptionGroup var files: MarketFiles

        func run() async throws {
            try await marketStep { report(try await MarketInstaller.rollback(id, tenant: tenant, context: try files.context(actor: actor)), tenant: tenant, millis: nil) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a package from a tenant (refused while another of its packages needs it).")
        @Argument var id: String
        @Option(help: "The tenant.") var tenant: String
        @Option(help: "Who made the change (audit trail).") var actor: String?
        @OptionGroup var files: MarketFiles

        func run() async throws {
            try await marketStep { report(try await MarketInstaller.remove(id, tenant: tenant, context: try files.context(actor: actor)), tenant: tenant, millis: nil) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What each tenant runs from packages, and the upgrades the sources offer.")
        @Option(help: "Only this tenant.") var tenant: String?
        @Flag(help: "Do not read the sources (no upgrade column).") var offline = false
        @OptionGroup var files: MarketFiles

        func run() async throws {
            guard let configPath = files.config else { throw ValidationError("--config is required") }
            try await marketStep {
                let config = try ConfigLoader.load(file: configPath, stores: storeDrivers)
                let installed = try InstalledPackages.load(directory: config.packagesDir)
                let available = offline ? [] : ((try? await catalogue(files).0) ?? [])
                for name in installed.tenants.keys.sorted() where tenant == nil || tenant == name {
                    for e in installed.entries(tenant: name) {
                        let newer = available.filter { $0.entry.id == e.id && DependencyResolver.incompatibility($0.entry) == nil }
                            .compactMap { $0.entry.semanticVersion }.filter { v in SemanticVersion(e.version).map { VersionRange.compare(v, $0) > 0 } ?? false }
                            .max { VersionRange.compare($0, $1) < 0 }
                        let signed = e.signedBy.map { "signed by \($0)" } ?? "UNSIGNED"
                        print("\(name)  \(e.id)  \(e.version)  \(e.kind)  \(signed)  installed \(e.installedAt) by \(e.actor)"
                              + (e.previous.first.map { "  (rollback to \($0.version))" } ?? "") + (newer.map { "  upgrade available: \($0)" } ?? ""))
                    }
                }
            }
        }
    }
}

/// Every source's packages; sources that fail are returned as warnings.
private func catalogue(_ files: MarketCommand.MarketFiles) async throws -> ([AvailablePackage], [String]) {
    var sources = try PackageSources(path: files.sourcesPath)
    return await sources.available()
}

private func splitVersion(_ text: String) -> (String, String?) {
    guard !text.hasSuffix(".sbpkg"), let at = text.firstIndex(of: "@") else { return (text, nil) }
    return (String(text[..<at]), String(text[text.index(after: at)...]))
}

/// `--values FILE` (YAML or JSON) then `--set NAME=VALUE`, later ones winning.
private func parameters(values: String?, settings: [String]) throws -> [(String, JSON)] {
    var out: [(String, JSON)] = []
    if let values {
        guard let data = FileManager.default.contents(atPath: values), let text = String(data: data, encoding: .utf8) else {
            printError("\(values) cannot be read")
            throw Exit.unreadable
        }
        do {
            var reader = ConfigReader(file: values)
            guard case .object(let pairs) = reader.json(try ConfigLoader.document(text, file: values)) else {
                printError("\(values): parameter values must be a mapping of name: value")
                throw Exit.badConfig
            }
            out = pairs
        } catch let error as ConfigError {
            printError(error.problems.map(\.description).joined(separator: "\n"))
            throw Exit.badConfig
        }
    }
    for setting in settings {
        guard let equals = setting.firstIndex(of: "="), equals != setting.startIndex else { throw ValidationError("--set \(setting): use NAME=VALUE") }
        out.removeAll { $0.0 == String(setting[..<equals]) }
        out.append((String(setting[..<equals]), .string(String(setting[setting.index(after: equals)...]))))
    }
    return out
}

private func report(_ outcome: MarketInstaller.Outcome, tenant: String, millis: Int64?) {
    for warning in outcome.warnings { printError("warning: \(warning)") }
    for change in outcome.changes {
        let from = change.from.map { " (from \($0.version))" } ?? ""
        print("\(change.action): \(change.entry.id) \(change.entry.version)\(from) for tenant \(tenant)" + (change.entry.signedBy == nil ? " [UNSIGNED]" : ""))
    }
    if let millis { print("done in \(millis) ms; a running host takes it within a second (hot reload)") }
}

/// `packageStep` for async work.
@discardableResult
func marketStep<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let error as PackageError {
        printError(error.description)
        switch error.kind {
        case .invalidSource, .invalidConfiguration, .parameters: throw Exit.badConfig
        case .io: throw Exit.unreadable
        default: throw Exit.refused
        }
    } catch let error as ConfigError {
        printError("configuration errors:\n" + error.problems.map { "  \($0)" }.joined(separator: "\n"))
        throw Exit.badConfig
    } catch let exit as ExitCode {
        throw exit
    } catch let error as ValidationError {
        throw error
    } catch {
        printError("\(error)")
        throw Exit.failed
    }
}
