import CSQLite
import Foundation
import Logging
import SwitchboardCore
import SwitchboardRuntime
import SwitchboardStore
import SwitchboardVault
import Testing

/// The credential vault against a real store file.
@Suite struct VaultTests {
    static let secretValue = "canary-vault-4f9c"

    func fresh() throws -> (SQLiteStore, MasterKey) {
        (try SQLiteStore(path: TestEnv.tempDir("sbvault") + "/store.db"), try MasterKey(text: MasterKey.generate()))
    }

    @Test func secretsAreEncryptedAtRestAndListedByNameOnly() throws {
        let (store, key) = try fresh()
        let vault = Vault(store: store, masterKey: key)
        try vault.set(tenant: "acme", connection: "crm", name: "api_key", value: Array(Self.secretValue.utf8), actor: "ops")
        #expect(try vault.value(tenant: "acme", connection: "crm", name: "api_key") == Array(Self.secretValue.utf8))
        #expect(try vault.list().map(\.name) == ["api_key"])
        // Nothing in the database file, WAL included, holds the value in clear.
        for file in [store.path, store.path + "-wal"] {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
            #expect(bytes.range(of: Data(Self.secretValue.utf8)) == nil, "\(file) holds the secret in clear")
        }
        let trail = try store.auditEntries(limit: 5)
        #expect(trail.map(\.action) == ["vault.set"])
        #expect(!trail.description.contains(Self.secretValue))
    }

    /// A rotation's overlap window: the replaced value stays readable as NAME.previous until its expiry, on both
    /// stores; a plain set keeps nothing; the CLI names the window and `vault list` shows the expiry, never a value.
    @Test(arguments: [StoreBackend.sqlite, .postgres])
    func aReplacedSecretStaysReadableAsPreviousForItsWindowOnly(_ backend: StoreBackend) throws {
        let store = try backend.freshStore()
        let vault = Vault(store: store, masterKey: try MasterKey(text: MasterKey.generate()))
        try vault.set(tenant: "acme", connection: "crm", name: "hook", value: Array("whsec_one".utf8), actor: "ops")
        try vault.set(tenant: "acme", connection: "crm", name: "hook", value: Array("whsec_two".utf8), actor: "ops", keepPreviousFor: 700)
        #expect(try vault.value(tenant: "acme", connection: "crm", name: "hook") == Array("whsec_two".utf8))
        #expect(try vault.value(tenant: "acme", connection: "crm", name: "hook.previous") == Array("whsec_one".utf8))
        let listed = try vault.list().first { $0.name == "hook.previous" }
        #expect(listed?.expiresAt != nil && listed!.expiresAt! > Clock.nowMillis())
        #expect(try vault.list().first { $0.name == "hook" }?.expiresAt == nil)
        usleep(900_000)
        #expect(try vault.value(tenant: "acme", connection: "crm", name: "hook.previous") == nil, "read after its window")
        // A set without a window replaces the value and keeps nothing new.
        try vault.set(tenant: "acme", connection: "crm", name: "hook", value: Array("whsec_three".utf8), actor: "ops")
        #expect(try vault.value(tenant: "acme", connection: "crm", name: "hook.previous") == nil)
    }

    @Test func aWrongMasterKeyIsAClearErrorNotGarbage() throws {
        let (store, key) = try fresh()
        try Vault(store: store, masterKey: key).set(tenant: "acme", connection: "crm", name: "k", value: [1, 2, 3], actor: "ops")
        let wrong = try MasterKey(text: MasterKey.generate())
        let vault = Vault(store: store, masterKey: wrong)
        #expect(throws: VaultError.wrongMasterKey(given: wrong.id, expected: key.id)) { try vault.verify() }
        #expect(throws: VaultError.wrongMasterKey(given: wrong.id, expected: key.id)) {
            _ = try vault.value(tenant: "acme", connection: "crm", name: "k")
        }
        #expect(VaultError.wrongMasterKey(given: wrong.id, expected: key.id).description.contains("wrong vault master key"))
    }

    @Test func aSecretMovedToAnotherConnectionDoesNotDecrypt() throws {
        let (store, key) = try fresh()
        let vault = Vault(store: store, masterKey: key)
        try vault.set(tenant: "acme", connection: "crm", name: "token", value: Array("crm-token".utf8), actor: "ops")
        try vault.set(tenant: "acme", connection: "erp", name: "token", value: Array("erp-token".utf8), actor: "ops")
        #expect(try vault.value(tenant: "acme", connection: "erp", name: "token") == Array("erp-token".utf8))
        #expect(try vault.value(tenant: "acme", connection: "erp", name: "other") == nil)
        StoreTests.sql(store.path, """
            UPDATE vault_secrets SET sealed = (SELECT sealed FROM vault_secrets WHERE connection = 'crm') WHERE connection = 'erp'
            """)
        #expect(throws: VaultError.self) { _ = try vault.value(tenant: "acme", connection: "erp", name: "token") }
    }

    @Test func rotationRewrapsEveryKeyAndRunningHostsKeepWorking() throws {
        let (store, oldKey) = try fresh()
        let operatorVault = Vault(store: store, masterKey: oldKey)
        for i in 0..<40 {
            try operatorVault.set(tenant: i % 2 == 0 ? "acme" : "globex", connection: "c\(i % 4)", name: "s\(i)",
                                  value: Array("value-\(i)".utf8), actor: "ops")
        }
        // A host started with the old key reads a secret (so it holds the unwrapped data keys).
        let keyFile = TestEnv.tempDir("sbkey") + "/master.key"
        let newKeyText = MasterKey.generate()
        let runningHost = Vault(store: store, masterKey: oldKey, reload: { try MasterKey.load(file: keyFile) })
        #expect(try runningHost.value(tenant: "acme", connection: "c0", name: "s0") == Array("value-0".utf8))

        let newKey = try MasterKey(text: newKeyText)
        let rotation = try operatorVault.rotate(to: newKey, actor: "ops")
        #expect(rotation.dataKeys == 2 && rotation.secrets == 40)
        #expect(try store.auditEntries(limit: 1).first?.action == "vault.rotate")

        // The old key is retired: it no longer opens the vault.
        #expect(throws: VaultError.self) { try Vault(store: store, masterKey: oldKey).verify() }
        let fresh = Vault(store: store, masterKey: newKey)
        try fresh.verify()
        for i in 0..<40 {
            #expect(try fresh.value(tenant: i % 2 == 0 ? "acme" : "globex", connection: "c\(i % 4)", name: "s\(i)") == Array("value-\(i)".utf8))
        }
        // The running host goes on; meeting a key wrapped under the new master key, it re-reads its key file.
        try newKeyText.write(toFile: keyFile, atomically: true, encoding: .utf8)
        chmod(keyFile, 0o600)
        #expect(try runningHost.value(tenant: "acme", connection: "c2", name: "s2") == Array("value-2".utf8))
        #expect(try runningHost.value(tenant: "globex", connection: "c1", name: "s1") == Array("value-1".utf8))
    }

    @Test func aKeyFileOthersCanReadIsRefused() throws {
        let file = TestEnv.tempDir("sbkey") + "/master.key"
        try MasterKey.generate().write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        #expect(throws: VaultError.self) { _ = try MasterKey.load(file: file) }
        do { _ = try MasterKey.load(file: file) } catch { #expect(error.description.contains("chmod 600")) }
        chmod(file, 0o600)
        _ = try MasterKey.load(file: file)
        #expect(throws: VaultError.self) { _ = try MasterKey(text: "too short") }
    }

    /// A plugin instance reads only its own connection's secrets, and only through its config's references.
    @Test func aPluginReadsOnlyItsOwnConnectionsSecret() throws {
        let dir = TestEnv.tempDir("sbvaultrt")
        _ = try TestEnv.fixture("fixture", [], in: dir)
        let key = MasterKey.generate()
        setenv("SWITCHBOARD_MASTER_KEY", key, 1)
        defer { unsetenv("SWITCHBOARD_MASTER_KEY") }
        let store = try SQLiteStore(path: dir + "/store.db")
        let vault = Vault(store: store, masterKey: try MasterKey(text: key))
        // The fixture's "secret" mode succeeds only if api_key reads "s3cr3t".
        try vault.set(tenant: "acme", connection: "mine", name: "mine-key", value: Array("s3cr3t".utf8), actor: "ops")
        try vault.set(tenant: "acme", connection: "theirs", name: "their-key", value: Array("not-yours".utf8), actor: "ops")
        let yaml = """
            version: 1
            store: sqlite:\(dir)/store.db
            plugins: \(dir)
            tenants:
              - id: acme
                connections:
                  - { id: mine, plugin: fixture, config: secret, allow_raw_secrets: true, secrets: { api_key: vault:mine-key } }
                  - { id: borrower, plugin: fixture, config: secret, allow_raw_secrets: true, secrets: { api_key: vault:their-key } }
            """
        try yaml.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        // Naming another connection's entry does not reach it: the borrower's scope has no "their-key".
        do {
            _ = try Runtime(config: try ConfigLoader.load(file: dir + "/c.yaml"), logger: Logger(label: "t"))
            Issue.record("opened")
        } catch let error as ConfigError {
            #expect(error.problems.contains { $0.description.contains("c.yaml:8:") && $0.description.contains("vault:their-key, which is not in the vault") },
                    "\(error)")
        }
        try yaml.split(separator: "\n").filter { !$0.contains("borrower") }.joined(separator: "\n")
            .write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let runtime = try Runtime(config: try ConfigLoader.load(file: dir + "/c.yaml"), logger: Logger(label: "t"))
        let outcome = try #require(runtime.registry.connection(tenant: "acme", id: "mine")).instance.checkConnection()
        #expect(outcome.isOK, "\(outcome.summary)")
        runtime.registry.close()
    }

    /// The CLI takes the value from stdin only; it never prints or logs it.
    @Test func cliSetsFromStdinAndNeverShowsTheValue() throws {
        let dir = TestEnv.tempDir("sbvaultcli")
        try "version: 1\nstore: sqlite:\(dir)/s.db\ntenants: []\n".write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        let key = MasterKey.generate()
        let set = try TestEnv.shell("printf %s '\(Self.secretValue)' | SWITCHBOARD_MASTER_KEY='\(key)' '\(TestEnv.switchboard)' vault set acme/crm api_key --config '\(dir)/c.yaml' --actor alice")
        #expect(set.status == 0, "\(set.stderr)")
        let list = try TestEnv.run(TestEnv.switchboard, ["vault", "list", "--config", dir + "/c.yaml"], environment: ["SWITCHBOARD_MASTER_KEY": key])
        #expect(list.stdout.contains("acme/crm/api_key"))
        let wrong = try TestEnv.run(TestEnv.switchboard, ["vault", "list", "--config", dir + "/c.yaml"],
                                    environment: ["SWITCHBOARD_MASTER_KEY": MasterKey.generate()])
        #expect(wrong.status == 1 && wrong.stderr.contains("wrong vault master key"))
        for output in [set.stdout, set.stderr, list.stdout, list.stderr, wrong.stdout, wrong.stderr] {
            #expect(!output.contains(Self.secretValue))
        }
    }
}
