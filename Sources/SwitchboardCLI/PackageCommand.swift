import ArgumentParser
import Foundation
import SwitchboardCore
import SwitchboardPackages

/// `switchboard package`: build, sign and verify packages (docs/PACKAGES.md).
struct PackageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "package", abstract: "Build, sign and verify plugin packages (.sbpkg).", subcommands: [Build.self, Sign.self, Verify.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build ID-VERSION.sbpkg from DIR/package.yaml (the same inputs give the same bytes).")
        @Argument(help: "The package directory (holds package.yaml).") var directory: String
        @Option(help: "Where to write the archive.") var out = "."

        func run() throws {
            let built = try packageStep { try PackageBuilder.build(directory: directory, outputDirectory: out) }
            print("\(built.path)\nsha256 \(built.sha256)")
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a package with a publisher key; writes PACKAGE.sig beside it.")
        @Argument(help: "The .sbpkg file.") var package: String
        @Option(help: "The private key file from switchboard keys generate.") var key: String

        func run() throws { print(try packageStep { try PackageSigning.sign(package: package, keyFile: key) }) }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a package's signature against this host's trust store, read it safely and check this host can run it.",
            discussion: "Exits 0 when it verifies, 2 when it is refused (the reason's word first: unsigned, tampered, untrusted, revoked, bad signature, out of scope, mismatch, malformed, incompatible).")
        @Argument(help: "The .sbpkg file (its signature is PACKAGE.sig).") var package: String
        @Option(help: "The trust store (default: trust.json in this directory).") var trust = "trust.json"
        @Flag(help: "Development only: accept an unsigned package (said loudly).") var allowUnsigned = false

        func run() throws {
            let verified = try packageStep { try PackageVerifier.verify(path: package, trust: TrustStore(path: trust), allowUnsigned: allowUnsigned) }
            let m = verified.manifest
            if let key = verified.signedBy {
                print("verified: \(m.id) \(m.version) (\(m.kind)), signed by \(key.publisher) key \(key.keyID), sha256 \(verified.sha256)")
            } else {
                printError("warning: \(m.id) \(m.version) is UNSIGNED and was accepted only because of --allow-unsigned")
                print("accepted unsigned: \(m.id) \(m.version) (\(m.kind)), sha256 \(verified.sha256)")
            }
        }
    }
}

/// `switchboard keys`: publisher signing keys.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "keys", abstract: "Publisher signing keys (Ed25519).", subcommands: [Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a key pair: DIR/PUBLISHER.key (private, 0600) and DIR/PUBLISHER.pub.")
        @Option(help: "The publisher name (the first segment of its package ids).") var publisher: String
        @Option(help: "Where to write the two files.") var out = "."

        func run() throws {
            let key = try packageStep { try PackageSigning.generate(publisher: publisher, outputDirectory: out) }
            print("key \(key.keyID) for \(publisher): \(out)/\(publisher).key (keep it secret), \(out)/\(publisher).pub (give it to hosts)")
        }
    }
}

/// `switchboard trust`: the publisher keys this host trusts, each for its id prefixes.
struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust", abstract: "The publisher keys this host trusts.", subcommands: [Add.self, List.self, Remove.self, Revoke.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Trust a publisher's key (PUBLISHER.pub) for the ids under its prefixes.")
        @Argument(help: "The .pub file.") var keyFile: String
        @Option(help: "An id prefix the key may sign, ending in a dot (repeatable; default: PUBLISHER.).") var prefix: [String] = []
        @Option(help: "The trust store.") var trust = "trust.json"

        func run() throws {
            try packageStep {
                guard let data = FileManager.default.contents(atPath: keyFile), let json = try? JSON.parse(Array(data)) else {
                    throw PackageError(.invalidSource, "\(keyFile) cannot be read")
                }
                let key = try PublisherKey(json: json, source: keyFile)
                var store = try TrustStore(path: trust)
                try store.add(key, prefixes: prefix)
                print("trusted key \(key.keyID) of \(key.publisher) for \((store.entry(keyID: key.keyID)?.prefixes ?? []).map { $0 + "*" }.joined(separator: ", "))")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List trusted keys, their prefixes, and which are revoked.")
        @Option(help: "The trust store.") var trust = "trust.json"

        func run() throws {
            for entry in try packageStep({ try TrustStore(path: trust) }).entries {
                print("\(entry.key.keyID)  \(entry.key.publisher)  \(entry.prefixes.map { $0 + "*" }.joined(separator: ","))  \(entry.revokedReason.map { "REVOKED: \($0)" } ?? "trusted")")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget a key (its packages become untrusted).")
        @Argument var keyID: String
        @Option(help: "The trust store.") var trust = "trust.json"

        func run() throws {
            try packageStep {
                var store = try TrustStore(path: trust)
                try store.remove(keyID: keyID)
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key (kept, so its packages are refused as revoked).")
        @Argument var keyID: String
        @Option(help: "Why (shown in every refusal).") var reason = "revoked"
        @Option(help: "The trust store.") var trust = "trust.json"

        func run() throws {
            try packageStep {
                var store = try TrustStore(path: trust)
                try store.revoke(keyID: keyID, reason: reason)
            }
        }
    }
}

/// Runs a package step; a refusal prints its reason (word first) and exits 2, a bad input file 4, anything else 1.
@discardableResult
func packageStep<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as PackageError {
        printError(error.description)
        switch error.kind {
        case .invalidSource: throw Exit.badConfig
        case .io: throw Exit.unreadable
        default: throw Exit.refused
        }
    } catch {
        printError("\(error)")
        throw Exit.failed
    }
}
