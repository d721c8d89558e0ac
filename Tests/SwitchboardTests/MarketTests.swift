import Foundation
import Logging
import SwitchboardCore
import SwitchboardMarket
import SwitchboardPackages
import SwitchboardRuntime
import SwitchboardStore
import Synchronization
import Testing

/// The marketplace (docs/PACKAGES.md, "Repositories and the signed index", "Install per tenant"): a signed index
/// a host pins, dependency resolution, install per tenant with rendered templates, upgrade and rollback — and every
/// bad input the issue names refused with nothing half-installed.
@Suite struct MarketTests {
    /// A publisher (`acme`), a repository with its own key, and a host configuration with two tenants.
    struct Fixture {
        let dir: String
        let keys: String
        let repo: String
        let config: String
        let trustPath: String
        let sourcesPath: String
        var packagesDir: String { dir + "/host/packages" }

        init() throws {
            dir = TestEnv.tempDir("market")
            keys = dir + "/keys"
            repo = dir + "/repo"
            for sub in ["host", "plugins", "src"] { try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
            _ = try PackageSigning.generate(publisher: "acme", outputDirectory: keys)
            _ = try PackageSigning.generate(publisher: "repo", outputDirectory: keys)
            trustPath = dir + "/host/trust.json"
            sourcesPath = dir + "/host/sources.json"
            var trust = try TrustStore(path: trustPath)
            try trust.add(try PackageSigning.publicKey(file: keys + "/acme.pub"), prefixes: [])
            try FileManager.default.copyItem(atPath: TestEnv.product("libsbplugin-testkit.so"), toPath: dir + "/plugins/libsbplugin-testkit.so")
            config = dir + "/host/switchboard.yaml"
            try """
                version: 1
                plugins: { dir: ../plugins, sandbox: { restart_backoff: 10ms } }
                tenants:
                  - id: acme
                  - id: globex
                """.write(toFile: config, atomically: true, encoding: .utf8)
        }

        /// Builds (and signs, unless `signed` is false) the example C connector as `acme.example`.
        func connector(_ version: String = "1.0.0", id: String = "acme.example", dependencies: [(String, String)] = [],
                       abiMajor: Int = 1, host: String = ">=1.0.0 <2.0.0", platform: String = PackageVerifier.currentPlatform,
                       signed: Bool = true) throws -> String {
            let source = dir + "/src/\(id)-\(version)"
            try FileManager.default.createDirectory(atPath: source + "/build", withIntermediateDirectories: true)
            try? FileManager.default.copyItem(atPath: TestEnv.product("libsbplugin-example-c.so"), toPath: source + "/build/libsbplugin-example-c.so")
            let deps = dependencies.map { "{ id: \($0.0), range: \"\($0.1)\" }" }.joined(separator: ", ")
            try """
                id: \(id)
                version: \(version)
                kind: connector
                publisher: acme
                description: Example accounts
                licence: Apache-2.0
                abi: { major: \(abiMajor), min_minor: 0 }
                canonical_model: 1
                host: "\(host)"
                dependencies: [\(deps)]
                plugins:
                  \(platform): [ build/libsbplugin-example-c.so ]
                """.write(toFile: source + "/package.yaml", atomically: true, encoding: .utf8)
            return try build(source, signed: signed)
        }

        /// The `acme.starter` accelerator: an example-c source and a testkit sink per tenant, a copy workflow whose
        /// mapping `extra` adds fields to (so two versions differ in what they write).
        func accelerator(_ version: String = "1.0.0", extra: String = "", template: String? = nil, range: String = ">=1.0.0 <2.0.0") throws -> String {
            let source = dir + "/src/acme.starter-\(version)"
            try FileManager.default.createDirectory(atPath: source + "/templates", withIntermediateDirectories: true)
            try """
                id: acme.starter
                version: \(version)
                kind: accelerator
                publisher: acme
                description: Starter accelerator
                licence: Apache-2.0
                abi: { major: 1, min_minor: 0 }
                canonical_model: 1
                host: ">=1.0.0 <2.0.0"
                dependencies: [ { id: acme.example, range: "\(range)" } ]
                templates: templates
                parameters: parameters.schema.json
                """.write(toFile: source + "/package.yaml", atomically: true, encoding: .utf8)
            try #"{"type":"object","properties":{"accounts":{"type":"integer","minimum":0,"maximum":1000},"sink_name":{"type":"string","default":"sink","pattern":"^[a-z]+$"}},"required":["accounts"],"additionalProperties":false}"#
                .write(toFile: source + "/parameters.schema.json", atomically: true, encoding: .utf8)
            try (template ?? """
                # The starter's tenant fragment.
                connections:
                  - { id: src, plugin: example-c, config: { accounts: {{ accounts }} }, poll: { every: 50ms, streams: [accounts] } }
                  - { id: {{ sink_name }}, plugin: testkit, config: { role: sink } }
                workflows:
                  - id: copy
                    trigger: { event: record.Account }
                    steps:
                      - map: { external_id: $.external_id, updated_at: $.updated_at, name: $.name\(extra) }
                      - write: { connection: {{ sink_name }}, entity: Account }
                """).write(toFile: source + "/templates/tenant.yaml", atomically: true, encoding: .utf8)
            return try build(source, signed: true)
        }

        func build(_ source: String, signed: Bool) throws -> String {
            let built = try PackageBuilder.build(directory: source, outputDirectory: dir + "/out")
            if signed { _ = try PackageSigning.sign(package: built.path, keyFile: keys + "/acme.key") }
            return built.path
        }

        @discardableResult
        func publish(_ package: String, expiresIn: Int64 = 86_400_000) throws -> RepositoryIndex {
            try RepositoryPublisher.publish(package: package, repository: repo, keyFile: keys + "/repo.key", expiresInMillis: expiresIn)
        }

        func addSource(location: String? = nil) async throws {
            var sources = try PackageSources(path: sourcesPath)
            _ = try await sources.add(name: "main", location: location ?? repo, key: try PackageSigning.publicKey(file: keys + "/repo.pub"))
        }

        func context(allowUnsigned: Bool = false) throws -> MarketContext {
            var context = MarketContext(configFile: config, trust: try TrustStore(path: trustPath), sources: try PackageSources(path: sourcesPath),
                                        actor: "test:operator", stores: .embedded, logger: Logger(label: "market-test"))
            context.allowUnsigned = allowUnsigned
            return context
        }

        func install(_ id: String, version: String? = nil, tenant: String = "acme", values: [(String, JSON)] = [("accounts", .string("3"))],
                     allowUnsigned: Bool = false) async throws -> MarketInstaller.Outcome {
            var context = try context(allowUnsigned: allowUnsigned)
            return try await MarketInstaller.install(id, version: version, tenant: tenant, values: values, context: &context)
        }

        /// The repository over HTTP on loopback (python's http.server); kill it with SIGKILL: it inherits this
        /// process's blocked signals, so a SIGTERM would wait.
        func serveRepository() throws -> (Process, Int) {
            let port = TestEnv.freePort()
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            server.arguments = ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", repo]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            return (server, port)
        }

        func installed() throws -> InstalledPackages { try InstalledPackages.load(directory: packagesDir) }

        /// What the packages directory holds besides the lock: nothing after a refused first install.
        func leftovers() -> [String] {
            let fm = FileManager.default
            var out: [String] = []
            for sub in ["store", "rendered"] {
                out += ((try? fm.subpathsOfDirectory(atPath: packagesDir + "/" + sub)) ?? []).map { sub + "/" + $0 }
            }
            out += ((try? fm.contentsOfDirectory(atPath: packagesDir)) ?? []).filter { $0.hasPrefix(".tmp") || $0 == InstalledPackages.fileName }
            return out
        }

        func audit() throws -> [AuditEntry] {
            try SQLiteStore.open(url: "sqlite:" + dir + "/host/switchboard.db").auditEntries(limit: 100)
        }
    }

    func refusal(_ body: () async throws -> Void) async -> PackageError? {
        do { try await body() } catch let error as PackageError { return error } catch { Issue.record("not a PackageError: \(error)") }
        return nil
    }

    @Test func installsPerTenantRunsThePackagedPluginAndUpgradesAndRollsBackOneTenant() async throws {
        let f = try Fixture()
        try f.publish(try f.connector())
        try f.publish(try f.accelerator())
        try await f.addSource()
        let first = try await f.install("acme.starter", values: [("accounts", .string("4"))])
        #expect(first.changes.map(\.action) == ["installed", "installed"] && first.changes.map(\.entry.id) == ["acme.example", "acme.starter"])
        _ = try await f.install("acme.starter", tenant: "globex", values: [("accounts", .number("2")), ("sink_name", .string("out"))])
        // Each tenant has its own rendered configuration; the plugin files are stored once, by digest.
        let state = try f.installed()
        #expect(state.entry(tenant: "acme", id: "acme.starter")?.values["accounts"] == .number("4"))
        #expect(state.entry(tenant: "globex", id: "acme.starter")?.values["sink_name"] == .string("out"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.packagesDir + "/store").count == 2)
        let config = try ConfigLoader.load(file: f.config)
        #expect(config.tenant("globex")?.connection("out")?.plugin == "testkit")
        #expect(config.tenant("acme")?.packagePlugins.first?.path.contains("/store/") == true)

        // The host runs the packaged connector for both tenants (no plugin directory holds it).
        let run = try TestEnv.run(TestEnv.switchboard, ["run", "--config", f.config, "--exit-when-idle"])
        #expect(run.status == 0 && run.stderr.contains("\"processed\":\"6\""), "\(run.stderr.suffix(800))")

        // 1.1.0 maps one more field; only acme takes it (a canary), then rolls back.
        try f.publish(try f.accelerator("1.1.0", extra: ", phone: $.name"))
        let upgrade = try await f.install("acme.starter", values: [])
        #expect(upgrade.changes.map(\.action) == ["upgraded"] && upgrade.changes.last?.from?.version == "1.0.0")
        #expect(try f.installed().entry(tenant: "acme", id: "acme.starter")?.version == "1.1.0")
        #expect(try f.installed().entry(tenant: "acme", id: "acme.starter")?.values["accounts"] == .number("4"), "an upgrade keeps the tenant's values")
        #expect(try f.installed().entry(tenant: "globex", id: "acme.starter")?.version == "1.0.0")
        let rolled = try await MarketInstaller.rollback("acme.starter", tenant: "acme", context: try f.context())
        #expect(rolled.changes.first?.entry.version == "1.0.0" && rolled.changes.first?.from?.version == "1.1.0")
        #expect(try f.installed().entry(tenant: "acme", id: "acme.starter")?.version == "1.0.0")
        #expect(await refusal { _ = try await MarketInstaller.rollback("acme.starter", tenant: "acme", context: try f.context()) }?.message.contains("replaced nothing") == true)
        // A dependency is not removed from under what needs it.
        let needed = await refusal { _ = try await MarketInstaller.remove("acme.example", tenant: "acme", context: try f.context()) }
        #expect(needed?.kind == .conflict && needed?.message.contains("acme.starter") == true)

        let audit = try f.audit().map { "\($0.action) \($0.target)" }
        for line in ["package.installed acme/acme.example", "package.installed acme/acme.starter", "package.installed globex/acme.starter",
                     "package.upgraded acme/acme.starter", "package.rolled_back acme/acme.starter"] {
            #expect(audit.contains(line), "\(audit)")
        }
        let upgraded = try #require(try f.audit().first { $0.action == "package.upgraded" })
        #expect(upgraded.detail.contains("from 1.0.0") && upgraded.detail.contains("to 1.1.0") && upgraded.actor == "test:operator")
    }

    @Test func theIndexIsRefusedWhenReplayedExpiredSignedByAnotherKeyOrEdited() async throws {
        let f = try Fixture()
        let first = try f.publish(try f.connector())
        let old = (try Data(contentsOf: URL(fileURLWithPath: f.repo + "/index.json")), try Data(contentsOf: URL(fileURLWithPath: f.repo + "/index.json.sig")))
        let second = try f.publish(try f.connector("1.1.0"))
        #expect(second.serial > first.serial && first.serial >= Int(Date().timeIntervalSince1970) - 60)
        try await f.addSource()
        #expect(try PackageSources(path: f.sourcesPath).source(named: "main")?.serial == second.serial)
        func check() async -> PackageError? {
            await refusal { var sources = try PackageSources(path: f.sourcesPath); _ = try await sources.index(of: "main") }
        }
        // A mirror serving the older index after this host saw the newer one.
        let current = (try Data(contentsOf: URL(fileURLWithPath: f.repo + "/index.json")), try Data(contentsOf: URL(fileURLWithPath: f.repo + "/index.json.sig")))
        try old.0.write(to: URL(fileURLWithPath: f.repo + "/index.json"))
        try old.1.write(to: URL(fileURLWithPath: f.repo + "/index.json.sig"))
        let replayed = await check()
        #expect(replayed?.kind == .replayed && replayed?.message.contains("serial \(first.serial), but this host has seen serial \(second.serial)") == true, "\(String(describing: replayed))")
        // The install path refuses it too, and says why.
        let install = await refusal { _ = try await f.install("acme.example") }
        #expect(install?.message.contains("replayed") == true, "\(String(describing: install))")
        try current.0.write(to: URL(fileURLWithPath: f.repo + "/index.json"))
        try current.1.write(to: URL(fileURLWithPath: f.repo + "/index.json.sig"))
        #expect(await check() == nil)
        // One byte of the index changed after signing.
        var edited = current.0
        edited[edited.count / 2] ^= 0x01
        try edited.write(to: URL(fileURLWithPath: f.repo + "/index.json"))
        #expect(await check()?.kind == .tampered)
        // Signed by a key that is not the source's pinned one.
        _ = try PackageSigning.generate(publisher: "mallory", outputDirectory: f.keys)
        let bytes = Array(current.0)
        let forged = try IndexSigning.sign(indexBytes: bytes, serial: second.serial, keyFile: f.keys + "/mallory.key")
        try current.0.write(to: URL(fileURLWithPath: f.repo + "/index.json"))
        try Data(forged.bytes).write(to: URL(fileURLWithPath: f.repo + "/index.json.sig"))
        let other = await check()
        #expect(other?.kind == .badSignature && other?.message.contains("pinned") == true)
        // Expired: the repository published with an expiry already past.
        try f.publish(try f.connector("1.2.0"), expiresIn: -1_000)
        let expired = await check()
        #expect(expired?.kind == .expired, "\(String(describing: expired))")
    }

    @Test func aFlippedByteInTheArchiveIsRefusedBeforeAnythingIsUnpacked() async throws {
        let f = try Fixture()
        let package = try f.connector()
        try f.publish(package)
        try await f.addSource()
        let served = f.repo + "/packages/" + (package as NSString).lastPathComponent
        var bytes = try Data(contentsOf: URL(fileURLWithPath: served))
        bytes[bytes.count / 3] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: served))
        let refused = await refusal { _ = try await f.install("acme.example", values: []) }
        #expect(refused?.kind == .tampered && refused?.message.contains("Nothing was unpacked") == true, "\(String(describing: refused))")
        #expect(f.leftovers().isEmpty, "\(f.leftovers())")
    }

    @Test func missingCircularAndIncompatibleDependenciesAreRefusedNamingTheChain() throws {
        func entry(_ id: String, _ version: String, deps: [(String, String)] = [], abi: Int = 1, platforms: [String] = [PackageVerifier.currentPlatform],
                   host: String = ">=1.0.0 <2.0.0") -> AvailablePackage {
            let identity = PackageIdentity(id: id, version: version, kind: "connector", publisher: "acme", description: "", licence: "",
                                           abiMajor: abi, abiMinMinor: 0, canonicalModel: 1, host: host,
                                           dependencies: deps.map { PackageSource.Dependency(id: $0.0, range: $0.1) })
            let e = RepositoryIndex.Entry(identity: identity, platforms: platforms, archive: "x", sha256: "x", size: 1, signature: .object([]))
            return AvailablePackage(entry: e, source: "main", location: "/nowhere")
        }
        func refusal(_ id: String, _ available: [AvailablePackage], version: String? = nil) -> PackageError? {
            do { _ = try DependencyResolver.resolve(id: id, version: version, available: available, installed: []) } catch { return error }
            return nil
        }
        // Dependencies first, each the newest in its range.
        let plan = try DependencyResolver.resolve(id: "acme.a", version: nil, available: [
            entry("acme.a", "1.0.0", deps: [("acme.b", ">=1.0.0 <2.0.0")]), entry("acme.b", "1.0.0"), entry("acme.b", "1.4.0"), entry("acme.b", "2.0.0"),
        ], installed: [])
        #expect(plan.map { "\($0.entry.id)@\($0.entry.version)" } == ["acme.b@1.4.0", "acme.a@1.0.0"])
        let missing = refusal("acme.a", [entry("acme.a", "1.0.0", deps: [("acme.b", ">=1.0.0 <2.0.0")])])
        #expect(missing?.kind == .unresolved && missing?.message.contains("acme.a -> acme.b") == true && missing?.message.contains("no source has") == true)
        let circular = refusal("acme.a", [entry("acme.a", "1.0.0", deps: [("acme.b", ">=1.0.0")]), entry("acme.b", "1.0.0", deps: [("acme.a", ">=1.0.0")])])
        #expect(circular?.kind == .unresolved && circular?.message.contains("circular dependency: acme.a -> acme.b -> acme.a") == true, "\(String(describing: circular))")
        let outOfRange = refusal("acme.a", [entry("acme.a", "1.0.0", deps: [("acme.b", ">=3.0.0")]), entry("acme.b", "1.0.0")])
        #expect(outOfRange?.message.contains("the sources have 1.0.0") == true)
        #expect(refusal("acme.a", [entry("acme.a", "1.0.0", abi: 2)])?.message.contains("ABI 2") == true)
        #expect(refusal("acme.a", [entry("acme.a", "1.0.0", platforms: ["linux-riscv64"])])?.message.contains("no plugin for") == true)
        #expect(refusal("acme.a", [entry("acme.a", "1.0.0", host: ">=2.0.0")])?.message.contains("host versions >=2.0.0") == true)
        #expect(refusal("acme.a", [entry("acme.a", "1.0.0")], version: "1.1.0")?.message.contains("no version of acme.a in 1.1.0") == true)
        // The newest this host can run is chosen over a newer one it cannot.
        let runnable = try DependencyResolver.resolve(id: "acme.a", version: nil, available: [entry("acme.a", "1.0.0"), entry("acme.a", "1.1.0", abi: 2)], installed: [])
        #expect(runnable.map(\.entry.version) == ["1.0.0"])
    }

    @Test func badParametersAndBadTemplatesAreRefusedWithNothingInstalled() async throws {
        let f = try Fixture()
        try f.publish(try f.connector())
        try f.publish(try f.accelerator())
        try await f.addSource()
        let missing = await refusal { _ = try await f.install("acme.starter", values: []) }
        #expect(missing?.kind == .parameters && missing?.message.contains("parameter accounts: required") == true, "\(String(describing: missing))")
        let wrong = await refusal { _ = try await f.install("acme.starter", values: [("accounts", .string("many")), ("sink_name", .string("Bad Name"))]) }
        #expect(wrong?.message.contains("parameter accounts: must be an integer") == true && wrong?.message.contains("parameter sink_name: must match") == true,
                "\(String(describing: wrong))")
        let undeclared = await refusal { _ = try await f.install("acme.starter", values: [("accounts", .string("1")), ("colour", .string("red"))]) }
        #expect(undeclared?.message.contains("parameter colour: not declared") == true)
        #expect(f.leftovers().isEmpty, "\(f.leftovers())")

        // A template that names an undeclared parameter, and one whose result is not a valid configuration:
        // each error points into the template, at its line.
        try f.publish(try f.accelerator("1.1.0", template: "connections:\n  - { id: x, plugin: example-c, config: { accounts: {{ acounts }} } }\n"))
        let unknown = await refusal { _ = try await f.install("acme.starter", version: "1.1.0") }
        #expect(unknown?.message.contains("templates/tenant.yaml:2:") == true && unknown?.message.contains("{{ acounts }} is not a parameter") == true,
                "\(String(describing: unknown))")
        try f.publish(try f.accelerator("1.2.0", template: "connections:\n  - { id: x, plugin: example-c, config: { accounts: {{ accounts }} } }\nworkflows:\n  - { id: w, trigger: { event: record.Acount }, steps: [ { write: { connection: x, entity: Acount } } ] }\n"))
        let invalid = await refusal { _ = try await f.install("acme.starter", version: "1.2.0") }
        #expect(invalid?.kind == .invalidConfiguration && invalid?.message.contains("acme.starter-1.2.0-") == true
                && invalid?.message.contains("/templates/tenant.yaml:4:") == true, "\(String(describing: invalid))")
        // A plugin's own validate_config refusal is the installer's too (accounts above its maximum).
        try f.publish(try f.accelerator("1.3.0", template: "connections:\n  - { id: x, plugin: example-c, config: { accounts: 100001 } }\n"))
        let pluginRefused = await refusal { _ = try await f.install("acme.starter", version: "1.3.0") }
        #expect(pluginRefused?.message.contains("config.accounts") == true && pluginRefused?.message.contains("tenant.yaml:2:") == true,
                "\(String(describing: pluginRefused))")
        #expect(f.leftovers().isEmpty, "\(f.leftovers())")
        // And the host still loads as it did.
        #expect(try ConfigLoader.load(file: f.config).tenant("acme")?.connections.isEmpty == true)
    }

    @Test func unsignedPackagesAreRefusedUnlessTheDevelopmentSwitchWhichIsAudited() async throws {
        let f = try Fixture()
        let unsigned = try f.connector(signed: false)
        let refused = await refusal { _ = try await f.install(unsigned, values: []) }
        #expect(refused?.kind == .unsigned && refused?.message.contains("--allow-unsigned") == true)
        #expect(f.leftovers().isEmpty)
        let outcome = try await f.install(unsigned, values: [], allowUnsigned: true)
        #expect(outcome.changes.first?.entry.signedBy == nil)
        #expect(try f.audit().contains { $0.action == "package.unsigned" && $0.target == "acme/acme.example" })
        // An unsigned package cannot be published into a repository at all.
        #expect(await refusal { try f.publish(unsigned) }?.kind == .unsigned)
        // A published version never changes: other bytes under 1.0.0 are refused.
        try f.publish(try f.connector())
        let other = try f.connector(id: "acme.example", dependencies: [("acme.common", ">=1.0.0")])
        #expect(await refusal { try f.publish(other) }?.kind == .conflict)
    }

    @Test func twoRacingInstallsBothLand() async throws {
        let f = try Fixture()
        try f.publish(try f.connector())
        try f.publish(try f.accelerator())
        try await f.addSource()
        async let a = f.install("acme.starter", tenant: "acme")
        async let b = f.install("acme.starter", tenant: "globex")
        async let c = f.install("acme.starter", tenant: "acme")
        let outcomes = try await [a, b, c]
        #expect(outcomes.count == 3)
        let state = try f.installed()
        #expect(state.entries(tenant: "acme").map(\.id) == ["acme.example", "acme.starter"])
        #expect(state.entries(tenant: "globex").map(\.id) == ["acme.example", "acme.starter"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.packagesDir + "/store").filter { !$0.hasPrefix(".") }.count == 2)
        #expect(f.leftovers().filter { $0.hasPrefix(".tmp") || $0.hasPrefix("store/.tmp") }.isEmpty)
    }

    @Test func aRepositoryOverHTTPIsFetchedWithCapsAndTheCommandsWork() async throws {
        let f = try Fixture()
        try f.publish(try f.connector())
        try f.publish(try f.accelerator())
        let (server, port) = try f.serveRepository()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        func sb(_ arguments: [String]) throws -> TestEnv.Result {
            try TestEnv.run(TestEnv.switchboard, ["market"] + arguments + ["--config", f.config])
        }
        var added = try sb(["add-source", "main", "http://127.0.0.1:\(port)", "--key", f.keys + "/repo.pub"])
        for _ in 0..<50 where added.status != 0 {
            usleep(100_000)
            added = try sb(["add-source", "main", "http://127.0.0.1:\(port)", "--key", f.keys + "/repo.pub"])
        }
        #expect(added.status == 0 && added.stdout.contains("2 package version(s), serial "), "\(added)")
        let search = try sb(["search", "starter"])
        #expect(search.stdout.contains("acme.starter  1.0.0  accelerator") && !search.stdout.contains("acme.example"), "\(search)")
        let show = try sb(["show", "acme.starter"])
        #expect(show.stdout.contains("needs acme.example >=1.0.0 <2.0.0") && show.stdout.contains("runs on this host"), "\(show)")
        let install = try sb(["install", "acme.starter", "--tenant", "acme", "--set", "accounts=2"])
        #expect(install.status == 0 && install.stdout.contains("installed: acme.starter 1.0.0 for tenant acme"), "\(install)")
        let badParameter = try sb(["install", "acme.starter", "--tenant", "globex", "--set", "accounts=lots"])
        #expect(badParameter.status == 4 && badParameter.stderr.hasPrefix("parameters: parameter accounts: must be an integer"), "\(badParameter)")
        let list = try sb(["list"])
        #expect(list.stdout.contains("acme  acme.starter  1.0.0  accelerator  signed by"), "\(list)")

        // An index that understates an archive's size: the download stops at the stated size, nothing is unpacked.
        var index = try RepositoryIndex(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: f.repo + "/index.json"))), source: "test")
        let at = try #require(index.entries.firstIndex { $0.id == "acme.starter" })
        index.entries[at].size = 100
        index.serial += 1
        let bytes = index.json.bytes
        try Data(bytes).write(to: URL(fileURLWithPath: f.repo + "/index.json"))
        try Data(try IndexSigning.sign(indexBytes: bytes, serial: index.serial, keyFile: f.keys + "/repo.key").bytes)
            .write(to: URL(fileURLWithPath: f.repo + "/index.json.sig"))
        let capped = try sb(["install", "acme.starter", "--tenant", "globex", "--set", "accounts=2"])
        #expect(capped.status == 2 && capped.stderr.contains("more than the 100 allowed"), "\(capped)")
        #expect(try f.installed().entries(tenant: "globex").isEmpty)
    }

    /// The issue's proof: a connector's host runs, webhooks pump won deals into it without pause, and an accelerator
    /// (its workflow) is installed from a repository served over HTTP, upgraded to a version whose mapping differs,
    /// then rolled back, each taken by the running host without a restart. Every deal sent after the install took
    /// effect is written exactly once, those sent after a switch took effect by the new version, and the audit trail
    /// holds the three changes and the three reloads.
    @Test func aRunningHostTakesAnInstallUpgradeAndRollbackWhileWebhooksArrive() async throws {
        let f = try Fixture()
        try FileManager.default.copyItem(atPath: TestEnv.product("libsbplugin-example-c.so"), toPath: f.dir + "/plugins/libsbplugin-example-c.so")
        let sinkDir = f.dir + "/sink"
        try FileManager.default.createDirectory(atPath: sinkDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        try """
            version: 1
            plugins: { dir: ../plugins, sandbox: { restart_backoff: 10ms } }
            worker: { idle: 5ms }
            tenants:
              - id: acme
                connections:
                  - { id: hooks, plugin: example-c, config: { accounts: 0 } }
                  - { id: sink, plugin: testkit, config: { role: sink, path: \(sinkDir)/sink.log }, files: { write: [\(sinkDir)] } }
                  - { id: sink2, plugin: testkit, config: { role: sink, path: \(sinkDir)/sink2.log }, files: { write: [\(sinkDir)] } }
              - id: globex
            """.write(toFile: f.config, atomically: true, encoding: .utf8)
        // The accelerator: only a workflow; 1.1.0 maps the name differently and writes to the second sink (so each
        // deal's sink says which version wrote it).
        func flow(_ version: String, name: String, sink: String) throws -> String {
            let source = f.dir + "/src/acme.flow-\(version)"
            try FileManager.default.createDirectory(atPath: source + "/templates", withIntermediateDirectories: true)
            try """
                id: acme.flow
                version: \(version)
                kind: accelerator
                publisher: acme
                description: Won deals to the sink
                licence: Apache-2.0
                abi: { major: 1, min_minor: 0 }
                canonical_model: 1
                host: ">=1.0.0 <2.0.0"
                templates: templates
                parameters: parameters.schema.json
                """.write(toFile: source + "/package.yaml", atomically: true, encoding: .utf8)
            try #"{"type":"object","properties":{}}"#
                .write(toFile: source + "/parameters.schema.json", atomically: true, encoding: .utf8)
            try """
                workflows:
                  - id: won-to-sink
                    trigger: { event: opportunity.won, source: hooks }
                    steps:
                      - map: { external_id: $.external_id, updated_at: $.updated_at, name: \(name) }
                      - write: { connection: \(sink), entity: Account }
                """.write(toFile: source + "/templates/flow.yaml", atomically: true, encoding: .utf8)
            return try f.build(source, signed: true)
        }
        try f.publish(try flow("1.0.0", name: "$.name", sink: "sink"))
        try f.publish(try flow("1.1.0", name: #""concat('v2 ', $.name)""#, sink: "sink2"))

        // The repository over HTTP on loopback.
        let (server, repoPort) = try f.serveRepository()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        func market(_ arguments: [String]) throws -> TestEnv.Result {
            try TestEnv.run(TestEnv.switchboard, ["market"] + arguments + ["--config", f.config])
        }
        var added = try market(["add-source", "main", "http://127.0.0.1:\(repoPort)", "--key", f.keys + "/repo.pub"])
        for _ in 0..<50 where added.status != 0 {
            usleep(100_000)
            added = try market(["add-source", "main", "http://127.0.0.1:\(repoPort)", "--key", f.keys + "/repo.pub"])
        }
        #expect(added.status == 0, "\(added)")

        // The host, and a pump posting won deals D-1, D-2, ... as fast as they are accepted.
        let httpPort = TestEnv.freePort()
        let host = Process()
        host.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
        host.arguments = ["run", "--config", f.config, "--http-port", String(httpPort)]
        let hostLog = f.dir + "/host.log"
        FileManager.default.createFile(atPath: hostLog, contents: nil)
        host.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: hostLog))
        host.standardOutput = FileHandle.nullDevice
        try host.run()
        defer { if host.isRunning { kill(host.processIdentifier, SIGKILL); host.waitUntilExit() } }
        let sent = f.dir + "/sent.txt", stopFile = f.dir + "/stop"
        let pump = Process()
        pump.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        pump.arguments = ["python3", "-c", """
            import json, os, sys, time, urllib.request
            url, sent, stop = sys.argv[1], sys.argv[2], sys.argv[3]
            out = open(sent, 'a')
            i = 0
            while not os.path.exists(stop):
                body = json.dumps({"external_id": "D-%d" % (i + 1), "updated_at": "2026-11-27T10:00:00Z", "name": "Deal %d" % (i + 1),
                                   "account": "A-1", "stage": "won", "amount": {"amount": "100.00", "currency": "EUR"}}).encode()
                try:
                    r = urllib.request.urlopen(urllib.request.Request(url, data=body, method='POST', headers={'Content-Type': 'application/json'}), timeout=10)
                    if r.status == 202:
                        i += 1
                        out.write("%d\\n" % i); out.flush()
                except Exception:
                    time.sleep(0.05)
            """, "http://127.0.0.1:\(httpPort)/hooks/acme/hooks", sent, stopFile]
        pump.standardOutput = FileHandle.nullDevice
        pump.standardError = FileHandle.nullDevice
        try pump.run()
        defer { if pump.isRunning { kill(pump.processIdentifier, SIGKILL); pump.waitUntilExit() } }
        func lastSent() -> Int {
            Int((try? String(contentsOfFile: sent, encoding: .utf8))?.split(separator: "\n").last.map(String.init) ?? "0") ?? 0
        }
        func waitFor(_ what: String, seconds: Double = 60, _ condition: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(seconds)
            while !condition() {
                guard Date() < deadline else { throw TestFailure("timed out waiting for \(what); host log: \((try? String(contentsOfFile: hostLog, encoding: .utf8))?.suffix(1500) ?? "")") }
                usleep(20_000)
            }
        }
        func log() -> String { (try? String(contentsOfFile: hostLog, encoding: .utf8)) ?? "" }
        /// The pump's last accepted deal once the host says generation N runs.
        func switched(to generation: Int) throws -> Int {
            try waitFor("generation \(generation)") { log().contains("\"generation\":\"\(generation)\"") }
            // A deal accepted just before the swap is in the pump's file within a few milliseconds of its answer.
            usleep(150_000)
            return lastSent()
        }
        try waitFor("deals accepted before the install") { lastSent() >= 20 }

        // Install 1.0.0 while deals arrive; then upgrade acme to 1.1.0; then roll back.
        let install = try market(["install", "acme.flow@1.0.0", "--tenant", "acme"])
        #expect(install.status == 0, "\(install)")
        let active1 = try switched(to: 2)
        try waitFor("deals after the install") { lastSent() >= active1 + 30 }
        let beforeUpgrade = lastSent()
        let upgrade = try market(["upgrade", "acme.flow", "--tenant", "acme"])
        #expect(upgrade.status == 0 && upgrade.stdout.contains("upgraded: acme.flow 1.1.0 (from 1.0.0)"), "\(upgrade)")
        let active2 = try switched(to: 3)
        try waitFor("deals after the upgrade") { lastSent() >= active2 + 30 }
        let beforeRollback = lastSent()
        let rollback = try market(["rollback", "acme.flow", "--tenant", "acme"])
        #expect(rollback.status == 0, "\(rollback)")
        let active3 = try switched(to: 4)
        try waitFor("deals after the rollback") { lastSent() >= active3 + 30 }
        FileManager.default.createFile(atPath: stopFile, contents: nil)
        pump.waitUntilExit()
        let total = lastSent()

        // Every deal sent after the install took effect reaches the sink exactly once.
        func written() -> [String: Int] {
            var counts: [String: Int] = [:]
            for (file, prefix) in [("sink.log", ""), ("sink2.log", "v2-")] {
                for line in ((try? String(contentsOfFile: sinkDir + "/" + file, encoding: .utf8)) ?? "").split(separator: "\n") {
                    if let id = line.split(separator: " ").last { counts[prefix + String(id), default: 0] += 1 }
                }
            }
            return counts
        }
        try waitFor("every deal written", seconds: 120) {
            let counts = written()
            return ((active1 + 1)...total).allSatisfy { counts["D-\($0)"] != nil || counts["v2-D-\($0)"] != nil }
        }
        let counts = written()
        for i in 1...active1 { #expect((counts["D-\(i)"] ?? 0) + (counts["v2-D-\(i)"] ?? 0) <= 1, "deal D-\(i) written twice") }
        for i in (active1 + 1)...total {
            let v1 = counts["D-\(i)"] ?? 0, v2 = counts["v2-D-\(i)"] ?? 0
            #expect(v1 + v2 == 1, "deal D-\(i): written \(v1) time(s) by 1.0.0 and \(v2) by 1.1.0")
            if i <= beforeUpgrade || i > active3 { #expect(v1 == 1, "deal D-\(i) ran on 1.0.0") }
            if i > active2 && i <= beforeRollback { #expect(v2 == 1, "deal D-\(i), sent after the upgrade took effect, ran on 1.1.0") }
        }
        kill(host.processIdentifier, SIGTERM)
        host.waitUntilExit()
        #expect(host.terminationStatus == 0, "\(log().suffix(2000))")
        #expect(log().components(separatedBy: "configuration reloaded").count - 1 == 3, "three reloads, no more")
        let audit = try f.audit().map { "\($0.action) \($0.target) \($0.detail)" }
        for expected in ["package.installed acme/acme.flow", "package.upgraded acme/acme.flow from 1.0.0", "package.rolled_back acme/acme.flow from 1.1.0",
                         "config.reloaded generation 2", "config.reloaded generation 3", "config.reloaded generation 4"] {
            #expect(audit.contains { $0.hasPrefix(expected) }, "\(expected) in \(audit)")
        }
        #expect(audit.contains { $0.hasPrefix("config.reloaded generation 3") && $0.contains("acme: acme.flow 1.0.0 -> 1.1.0") })
    }

    /// A reload whose configuration does not load changes nothing: the running generation goes on, its instances stay
    /// open, and the refusal is audited; a good one swaps and closes the old generation once nothing holds it.
    @Test func aReloadThatFailsLeavesTheRunningGenerationAndAGoodOneRetiresTheOld() throws {
        let f = try Fixture()
        let good = try ConfigLoader.load(file: f.config)
        let broken = Mutex(false)
        let runtime = try Runtime(config: good, logger: Logger(label: "reload-test"), reload: { () throws(ConfigError) in
            if broken.withLock({ $0 }) {
                throw ConfigError(problems: [.init(location: nil, message: "\(f.config):3:5: unknown plugin id \"gone\"")])
            }
            return try ConfigLoader.load(file: f.config)
        })
        defer { runtime.stop() }
        let first = runtime.current
        broken.withLock { $0 = true }
        #expect(runtime.reload(reason: "test") == .failed(["\(f.config):3:5: unknown plugin id \"gone\""]))
        #expect(runtime.current === first && !first.isClosed)
        broken.withLock { $0 = false }
        // Something holds the first generation (a batch in flight): the swap happens, the close waits for it.
        try runtime.holding { (held: Generation) throws in
            #expect(held === first)
            #expect(runtime.reload(reason: "test") == .reloaded(generation: 2))
            #expect(runtime.current.number == 2 && !first.isClosed, "the old generation stays open while it is held")
        }
        #expect(first.isClosed, "and closes when its last holder lets go")
        let audit = try runtime.store.auditEntries(limit: 10).map(\.action)
        #expect(audit.contains("config.reload_failed") && audit.contains("config.reloaded"))
    }

    /// A new build copied over a running plugin's file in place (what crashed sandboxed workers and killed a host
    /// before): the running workers load from an immutable copy and go on; the host reloads and runs the new version,
    /// and says so; every deal is written exactly once.
    @Test func aBuildCopiedOverARunningPluginBreaksNothingAndIsTakenLive() throws {
        let f = try Fixture()
        func build(_ version: String) throws -> String {
            let source = f.dir + "/example-\(version).c", output = f.dir + "/example-\(version).so"
            let text = try String(contentsOfFile: TestEnv.repoRoot + "/Plugins/examples/example-c/example_c.c", encoding: .utf8)
                .replacingOccurrences(of: #""example-c", "1.0.0""#, with: #""example-c", "\#(version)""#)
            try text.write(toFile: source, atomically: true, encoding: .utf8)
            let cc = try TestEnv.shell("cc -shared -fPIC -I '\(TestEnv.header)' -o '\(output)' '\(source)'")
            guard cc.status == 0 else { throw TestFailure(cc.stderr) }
            return output
        }
        let plugin = f.dir + "/plugins/libsbplugin-example-c.so"
        try FileManager.default.copyItem(atPath: try build("1.0.0"), toPath: plugin)
        let next = try build("1.1.0")
        let sinkDir = f.dir + "/sink"
        try FileManager.default.createDirectory(atPath: sinkDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        try """
            version: 1
            plugins: { dir: ../plugins, sandbox: { restart_backoff: 10ms } }
            worker: { idle: 5ms }
            tenants:
              - id: acme
                connections:
                  - { id: hooks, plugin: example-c, config: { accounts: 0 } }
                  - { id: sink, plugin: testkit, config: { role: sink, path: \(sinkDir)/sink.log }, files: { write: [\(sinkDir)] } }
                workflows:
                  - id: won
                    trigger: { event: opportunity.won, source: hooks }
                    steps: [ { map: { external_id: $.external_id, updated_at: $.updated_at, name: $.name } }, { write: { connection: sink, entity: Account } } ]
            """.write(toFile: f.config, atomically: true, encoding: .utf8)
        let port = TestEnv.freePort()
        let host = Process()
        host.executableURL = URL(fileURLWithPath: TestEnv.switchboard)
        host.arguments = ["run", "--config", f.config, "--http-port", String(port)]
        let hostLog = f.dir + "/host.log"
        FileManager.default.createFile(atPath: hostLog, contents: nil)
        host.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: hostLog))
        host.standardOutput = FileHandle.nullDevice
        try host.run()
        defer { if host.isRunning { kill(host.processIdentifier, SIGKILL); host.waitUntilExit() } }
        func log() -> String { (try? String(contentsOfFile: hostLog, encoding: .utf8)) ?? "" }
        func post(_ range: ClosedRange<Int>) throws {
            let posted = try TestEnv.run("/usr/bin/env", ["python3", "-c", """
                import json, sys, time, urllib.request
                for i in range(int(sys.argv[2]), int(sys.argv[3]) + 1):
                    body = json.dumps({"external_id": "D-%d" % i, "updated_at": "2026-11-27T10:00:00Z", "name": "Deal %d" % i,
                                       "account": "A-1", "stage": "won", "amount": {"amount": "100.00", "currency": "EUR"}}).encode()
                    for attempt in range(100):
                        try:
                            r = urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=body, method='POST', headers={'Content-Type': 'application/json'}), timeout=10)
                            if r.status == 202: break
                        except Exception:
                            time.sleep(0.1)
                    else:
                        sys.exit("deal %d not accepted" % i)
                """, "http://127.0.0.1:\(port)/hooks/acme/hooks", String(range.lowerBound), String(range.upperBound)])
            #expect(posted.status == 0, "\(posted.stderr)")
        }
        func written() -> [String] {
            ((try? String(contentsOfFile: sinkDir + "/sink.log", encoding: .utf8)) ?? "").split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) }
        }
        func waitFor(_ what: String, _ condition: () -> Bool) throws {
            let deadline = Date().addingTimeInterval(60)
            while !condition() {
                guard Date() < deadline else { throw TestFailure("timed out waiting for \(what): \(log().suffix(1500))") }
                usleep(20_000)
            }
        }
        try post(1...10)
        try waitFor("the first deals") { written().count == 10 }
        // In place: same inode, truncated and rewritten, as `cp` does.
        let copied = try TestEnv.shell("cp '\(next)' '\(plugin)'")
        #expect(copied.status == 0)
        try post(11...20)
        try waitFor("the reload") { log().contains("plugin example-c 1.0.0 -> 1.1.0") }
        try post(21...30)
        try waitFor("every deal") { written().count >= 30 }
        #expect(written().sorted() == (1...30).map { "D-\($0)" }.sorted(), "each deal exactly once")
        #expect(host.isRunning)
        #expect(!log().contains("crashed") && !log().contains("restart"), "no worker died: \(log().suffix(2000))")
        kill(host.processIdentifier, SIGTERM)
        host.waitUntilExit()
        #expect(host.terminationStatus == 0)
        #expect(try f.audit().contains { $0.action == "config.reloaded" && $0.detail.contains("plugin example-c 1.0.0 -> 1.1.0") })
    }
}

/// A test's own failure with its reason (a wait that timed out).
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
