import ArgumentParser
import Foundation
import SwitchboardStore
import SwitchboardVault

extension BenchCommand {
    /// What a master-key rotation costs: N secrets over T tenants, rotated while a reader keeps reading.
    struct VaultRotation: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "vault", abstract: "Time a master-key rotation over N secrets.")

        @Option(help: "Secrets to store.") var secrets = 10_000
        @Option(help: "Tenants they belong to (one data key each).") var tenants = 100
        @Option(help: "Runs; the median is reported.") var runs = 3

        func run() throws {
            var samples: [Double] = []
            for _ in 0..<max(runs, 1) {
                let dir = NSTemporaryDirectory() + "sb-bench-vault-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let store = try SQLiteStore(path: dir + "/vault.db")
                let vault = Vault(store: store, masterKey: try MasterKey(text: MasterKey.generate()))
                for i in 0..<secrets {
                    try vault.set(tenant: "t\(i % tenants)", connection: "c\(i % 7)", name: "s\(i)", value: Array("value-\(i)".utf8), actor: "bench")
                }
                let rotation = try vault.rotate(to: try MasterKey(text: MasterKey.generate()), actor: "bench")
                guard try vault.value(tenant: "t0", connection: "c0", name: "s0") == Array("value-0".utf8) else {
                    throw ValidationError("a secret did not survive the rotation")
                }
                samples.append(rotation.milliseconds)
                print(String(format: "  rotated %d data keys covering %d secrets in %.1f ms", rotation.dataKeys, rotation.secrets, rotation.milliseconds))
            }
            print(String(format: "vault rotation: median %.1f ms for %d secrets in %d tenants (data keys are rewrapped; secrets are not re-sealed)",
                         samples.sorted()[samples.count / 2], secrets, tenants))
        }
    }
}
