import Crypto
import Foundation
import SwitchboardCore
import SwitchboardPackages
import Testing
import ZIPFoundation

/// Packages (docs/PACKAGES.md): the reproducible archive, signatures, the trust store, and every refusal
/// the contract names — each a clear error that says which and what to do, with nothing written anywhere.
@Suite struct PackageTests {
    /// A connector package directory around the example C plugin, its key pair, and a trust store trusting it.
    struct Fixture {
        let dir: String
        let source: String
        let keys: String
        let key: PublisherKey
        var trust: TrustStore

        init(id: String = "northwind.projects", version: String = "1.2.0", host: String = ">=1.0.0 <2.0.0", abiMajor: Int = 1,
             platform: String = PackageVerifier.currentPlatform) throws {
            dir = TestEnv.tempDir("sbpkg")
            source = dir + "/src"
            keys = dir + "/keys"
            try FileManager.default.createDirectory(atPath: source + "/build", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: TestEnv.product("libsbplugin-example-c.so"), toPath: source + "/build/libsbplugin-projects.so")
            try """
                id: \(id)
                version: \(version)
                kind: connector
                publisher: northwind
                description: Projects from the Northwind PSA
                licence: Apache-2.0
                abi: { major: \(abiMajor), min_minor: 0 }
                canonical_model: 1
                host: "\(host)"
                dependencies: [ { id: northwind.common, range: ">=1.0.0 <2.0.0" } ]
                plugins:
                  \(platform): [ build/libsbplugin-projects.so ]
                """.write(toFile: source + "/package.yaml", atomically: true, encoding: .utf8)
            key = try PackageSigning.generate(publisher: "northwind", outputDirectory: keys)
            trust = try TrustStore(path: dir + "/trust.json")
            try trust.add(key, prefixes: [])
        }

        func build(into out: String? = nil) throws -> (path: String, sha256: String) {
            try PackageBuilder.build(directory: source, outputDirectory: out ?? dir + "/out")
        }

        func buildAndSign() throws -> String {
            let built = try build()
            _ = try PackageSigning.sign(package: built.path, keyFile: keys + "/northwind.key")
            return built.path
        }
    }

    func refusal(_ body: () throws -> Void) -> PackageError? {
        do { try body() } catch let error as PackageError { return error } catch { Issue.record("not a PackageError: \(error)") }
        return nil
    }

    @Test func aSignedPackageVerifiesAndTheSameInputsGiveTheSameBytes() throws {
        let fixture = try Fixture()
        let first = try fixture.build(into: fixture.dir + "/a"), second = try fixture.build(into: fixture.dir + "/b")
        #expect(first.sha256 == second.sha256, "reproducible digest")
        #expect(FileManager.default.contents(atPath: first.path) == FileManager.default.contents(atPath: second.path))
        #expect(first.path.hasSuffix("/northwind.projects-1.2.0.sbpkg"))
        _ = try PackageSigning.sign(package: first.path, keyFile: fixture.keys + "/northwind.key")
        let verified = try PackageVerifier.verify(path: first.path, trust: fixture.trust)
        #expect(verified.manifest.id == "northwind.projects" && verified.manifest.version == "1.2.0" && verified.signedBy?.keyID == fixture.key.keyID)
        #expect(verified.manifest.plugins[PackageVerifier.currentPlatform] == ["plugins/\(PackageVerifier.currentPlatform)/libsbplugin-projects.so"])
        #expect(verified.manifest.dependencies.map(\.id) == ["northwind.common"])
        let plugin = try #require(verified.contents.files["plugins/\(PackageVerifier.currentPlatform)/libsbplugin-projects.so"])
        #expect(Data(plugin) == FileManager.default.contents(atPath: fixture.source + "/build/libsbplugin-projects.so"))
        // The private key never lands anywhere but its own 0600 file.
        let mode = try FileManager.default.attributesOfItem(atPath: fixture.keys + "/northwind.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func eachSignatureFailureIsRefusedSayingWhich() throws {
        var fixture = try Fixture()
        let path = try fixture.buildAndSign()
        let pristine = try #require(FileManager.default.contents(atPath: path))
        // A flipped byte: the digest no longer matches the signature.
        var flipped = pristine
        flipped[flipped.count / 2] ^= 0x01
        try flipped.write(to: URL(fileURLWithPath: path))
        #expect(refusal { _ = try PackageVerifier.verify(path: path, trust: fixture.trust) }?.kind == .tampered)
        try pristine.write(to: URL(fileURLWithPath: path))
        // Unsigned: refused, unless the development switch accepts it (and says so).
        let signature = try #require(FileManager.default.contents(atPath: path + ".sig"))
        try FileManager.default.removeItem(atPath: path + ".sig")
        let unsigned = refusal { _ = try PackageVerifier.verify(path: path, trust: fixture.trust) }
        #expect(unsigned?.kind == .unsigned && unsigned?.message.contains("--allow-unsigned") == true, "\(String(describing: unsigned))")
        #expect(try PackageVerifier.verify(path: path, trust: fixture.trust, allowUnsigned: true).signedBy == nil)
        // Signed by another key of the same publisher, which this host does not hold: untrusted.
        let other = try PackageSigning.generate(publisher: "northwind", outputDirectory: fixture.dir + "/other-keys")
        _ = try PackageSigning.sign(package: path, keyFile: fixture.dir + "/other-keys/northwind.key")
        let untrusted = refusal { _ = try PackageVerifier.verify(path: path, trust: fixture.trust) }
        #expect(untrusted?.kind == .untrusted && untrusted?.message.contains(other.keyID) == true && untrusted?.message.contains("trust add") == true)
        // A signature that names the trusted key but was made by the other one: bad signature.
        var forged = try #require(try? JSON.parse(Array(FileManager.default.contents(atPath: path + ".sig")!))).objectValue!
        forged = forged.map { $0.0 == "key_id" ? ("key_id", .string(fixture.key.keyID)) : $0 }
        try Data(JSON.object(forged).bytes).write(to: URL(fileURLWithPath: path + ".sig"))
        #expect(refusal { _ = try PackageVerifier.verify(path: path, trust: fixture.trust) }?.kind == .badSignature)
        // The real signature again, then its key revoked: revoked (not unknown).
        try signature.write(to: URL(fileURLWithPath: path + ".sig"))
        #expect(try PackageVerifier.verify(path: path, trust: fixture.trust).signedBy != nil)
        try fixture.trust.revoke(keyID: fixture.key.keyID, reason: "laptop stolen 2026-12-01")
        let revoked = refusal { _ = try PackageVerifier.verify(path: path, trust: try TrustStore(path: fixture.dir + "/trust.json")) }
        #expect(revoked?.kind == .revoked && revoked?.message.contains("laptop stolen") == true, "\(String(describing: revoked))")
    }

    @Test func aKeyOnlySignsUnderItsPrefixes() throws {
        let fixture = try Fixture(id: "contoso.projects")
        // northwind's key signs a contoso package: trusted key, wrong scope.
        var source = try String(contentsOfFile: fixture.source + "/package.yaml", encoding: .utf8)
        source = source.replacingOccurrences(of: "publisher: northwind", with: "publisher: contoso")
        try source.write(toFile: fixture.source + "/package.yaml", atomically: true, encoding: .utf8)
        let path = try fixture.buildAndSign()
        let scoped = refusal { _ = try PackageVerifier.verify(path: path, trust: fixture.trust) }
        #expect(scoped?.kind == .outOfScope && scoped?.message.contains("northwind.*") == true, "\(String(describing: scoped))")
    }

    @Test(arguments: [
        ("another ABI major", 2, ">=1.0.0 <2.0.0", "needs plugin ABI 2"),
        ("a newer host", 1, ">=3.0.0", "runs on host versions >=3.0.0"),
    ])
    func aPackageThisHostCannotRunIsIncompatible(label: String, abi: Int, host: String, text: String) throws {
        let fixture = try Fixture(host: host, abiMajor: abi)
        let refused = refusal { _ = try PackageVerifier.verify(path: try fixture.buildAndSign(), trust: fixture.trust) }
        #expect(refused?.kind == .incompatible && refused?.message.contains(text) == true, "\(label): \(String(describing: refused))")
    }

    @Test func aPackageForAnotherPlatformIsIncompatible() throws {
        let other = PackageVerifier.currentPlatform == "linux-x86_64" ? "linux-aarch64" : "linux-x86_64"
        let fixture = try Fixture(platform: other)
        let refused = refusal { _ = try PackageVerifier.verify(path: try fixture.buildAndSign(), trust: fixture.trust) }
        #expect(refused?.kind == .incompatible && refused?.message.contains("no plugin for \(PackageVerifier.currentPlatform)") == true)
    }

    /// Hostile archives, each signed by the trusted key (so only the reader stands in the way).
    @Test(arguments: ["dotdot", "absolute", "symlink", "duplicate", "bomb", "oversize", "unlisted"])
    func aHostileArchiveIsRefusedBeforeAnythingIsWritten(kind: String) throws {
        let fixture = try Fixture()
        let good = try fixture.build()
        let path = fixture.dir + "/hostile-\(kind).sbpkg"
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
        // The good archive's entries first (its manifest leads), then the hostile one.
        let source = try Archive(url: URL(fileURLWithPath: good.path), accessMode: .read)
        for entry in source {
            var data = Data()
            _ = try source.extract(entry) { data.append($0) }
            try archive.addEntry(with: entry.path, type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { p, n in
                data.subdata(in: Int(p)..<Int(p) + n)
            }
        }
        func add(_ name: String, _ data: Data, type: Entry.EntryType = .file, compression: CompressionMethod = .deflate) throws {
            try archive.addEntry(with: name, type: type, uncompressedSize: Int64(data.count), compressionMethod: compression) { p, n in
                data.subdata(in: Int(p)..<Int(p) + n)
            }
        }
        let expected: String
        switch kind {
        case "dotdot": try add("plugins/../../etc/cron.d/evil", Data("x".utf8)); expected = "escapes the package"
        case "absolute": try add("/etc/cron.d/evil", Data("x".utf8)); expected = "escapes the package"
        case "symlink": try add("plugins/link", Data("/etc/shadow".utf8), type: .symlink); expected = "symbolic link"
        case "duplicate": try add("manifest.json", Data("{}".utf8)); expected = "appears twice"
        case "bomb": try add("bomb.bin", Data(count: 48 << 20)); expected = "compression bomb"
        case "oversize": try add("big.bin", Data((0..<(65 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }), compression: .none)
            expected = "larger than 64 MiB"
        default: try add("extra.txt", Data("not in the manifest".utf8)); expected = "does not list"
        }
        // `package sign` reads the archive first and refuses it too; a hostile publisher signs the bytes by hand,
        // following the documented message (docs/PACKAGES.md), which this also checks.
        #expect(refusal { _ = try PackageSigning.sign(package: path, keyFile: fixture.keys + "/northwind.key") }?.kind == .malformed)
        try Self.signByHand(path, id: "northwind.projects", version: "1.2.0", keyFile: fixture.keys + "/northwind.key")
        let refused = refusal { _ = try PackageVerifier.verify(path: path, trust: fixture.trust) }
        #expect(refused?.kind == .malformed && refused?.message.contains(expected) == true, "\(kind): \(String(describing: refused))")
    }

    /// A signature made from the contract alone: Ed25519 over `switchboard-package-v1\nID\nVERSION\nSHA256\n`.
    static func signByHand(_ path: String, id: String, version: String, keyFile: String) throws {
        let key = try #require(try? JSON.parse(Array(FileManager.default.contents(atPath: keyFile)!)))
        let privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: Data(base64Encoded: key["private_key"]!.stringValue!)!)
        let sha = SHA256.hash(data: FileManager.default.contents(atPath: path)!).map { String(format: "%02x", $0) }.joined()
        let signature = try privateKey.signature(for: Data("switchboard-package-v1\n\(id)\n\(version)\n\(sha)\n".utf8))
        try Data(JSON.object([("algorithm", .string("ed25519")), ("id", .string(id)), ("key_id", .string(key["key_id"]!.stringValue!)),
                              ("sha256", .string(sha)), ("signature", .string(signature.base64EncodedString())), ("version", .string(version))]).bytes)
            .write(to: URL(fileURLWithPath: path + ".sig"))
    }

    @Test func aBrokenPackageSourceIsReportedWhereItIsWrong() throws {
        let fixture = try Fixture()
        try """
            id: Northwind.Projects
            version: 1.2
            kind: plugin
            publisher: northwind
            abi: { major: 0 }
            canonical_model: 1
            host: "~1.0"
            plugins:
              linux-sparc: [ x.so ]
            colour: blue
            """.write(toFile: fixture.source + "/package.yaml", atomically: true, encoding: .utf8)
        let refused = refusal { _ = try fixture.build() }
        let text = refused?.message ?? ""
        #expect(refused?.kind == .invalidSource)
        for expected in ["package.yaml:1:5: id \"Northwind.Projects\" must be PUBLISHER.NAME", "package.yaml:2:10: version \"1.2\" is not a semantic version",
                         "package.yaml:3:7: kind must be connector, workflow or accelerator", "abi.major must be a whole number >= 1",
                         "package.yaml:7:7: host \"~1.0\" is not a version range", "platform \"linux-sparc\" is not one of",
                         "package.yaml:10:1: unknown field \"colour\"", "description is required"] {
            #expect(text.contains(expected), "missing \"\(expected)\" in:\n\(text)")
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.dir + "/out"), "nothing written")
    }

    /// The commands, end to end: keys generate, package build, sign, trust add, verify; a refusal exits 2 with its reason first.
    @Test func theCommandsWorkAsDocumented() throws {
        let fixture = try Fixture()
        let work = fixture.dir + "/cli"
        func sb(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
            let r = try TestEnv.run(TestEnv.switchboard, arguments, currentDirectory: work)
            return (r.status, r.stdout, r.stderr)
        }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        #expect(try sb(["keys", "generate", "--publisher", "northwind", "--out", "keys"]).status == 0)
        let built = try sb(["package", "build", fixture.source, "--out", "dist"])
        #expect(built.status == 0 && built.out.contains("dist/northwind.projects-1.2.0.sbpkg"), "\(built)")
        #expect(try sb(["package", "sign", "dist/northwind.projects-1.2.0.sbpkg", "--key", "keys/northwind.key"]).status == 0)
        let untrusted = try sb(["package", "verify", "dist/northwind.projects-1.2.0.sbpkg"])
        #expect(untrusted.status == 2 && untrusted.err.hasPrefix("untrusted: "), "\(untrusted)")
        #expect(try sb(["trust", "add", "keys/northwind.pub"]).status == 0)
        let verified = try sb(["package", "verify", "dist/northwind.projects-1.2.0.sbpkg"])
        #expect(verified.status == 0 && verified.out.hasPrefix("verified: northwind.projects 1.2.0"), "\(verified)")
        #expect(try sb(["trust", "list"]).out.contains("northwind.*"))
    }
}
