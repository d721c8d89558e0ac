import Foundation
import SwitchboardAdmin
import SwitchboardCore
import Testing

/// The admin API against its own OpenAPI document (issue 26): schemathesis (.build-venv, scripts/install-deps) runs
/// every phase (coverage, fuzzing, stateful) and every check against the real server, once with a token of each role
/// and scope: no 5xx, every response conforms to its schema, and (Tests/Contract/contract_hooks.py) no response to a
/// tenant's token mentions another tenant.
@Suite(.serialized) struct AdminContractTests {
    static let schemathesis = TestEnv.repoRoot + "/.build-venv/bin/schemathesis"
    static let contract = TestEnv.repoRoot + "/Tests/Contract"

    @Test func theAPIHoldsToItsContractForEveryRoleAndTenant() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.schemathesis), "run scripts/install-deps (schemathesis)")
        let host = try AdminAPITests.Host()
        defer { host.stop() }
        try await host.ready()
        let base = "http://127.0.0.1:\(host.port)"
        for (name, scope, others) in [("acme-viewer", "acme", "globex"), ("acme-operator", "acme", "globex"), ("globex-admin", "globex", "acme"),
                                      ("partner-viewer", nil, ""), ("partner-admin", nil, "")] as [(String, String?, String)] {
            let token = try #require(host.tokens[name])
            // Revocation is exercised on a throwaway token in the run's scope (Tests/Contract/schemathesis.toml).
            let victimName = "victim-\(name)"
            let victim = try await host.call(.POST, "/api/v1/tokens", token: host.tokens["partner-admin"],
                                             body: #"{"name":"\#(victimName)","role":"viewer","tenant":\#(scope.map { "\"\($0)\"" } ?? "null")}"#)
            #expect(victim.status == 201, "\(victim.body)")
            let run = try TestEnv.run(Self.schemathesis, [
                "--config-file", Self.contract + "/schemathesis.toml", "run", base + "/api/v1/openapi.json", "--url", base,
                "-H", "Authorization: Bearer \(token)", "--checks", "all", "--max-examples", "25", "--seed", "77",
                "--workers", "1", "--request-timeout", "20", "--no-color",
            ], environment: ["PYTHONPATH": Self.contract, "SCHEMATHESIS_HOOKS": "contract_hooks", "SB_OTHER_TENANTS": others,
                                                "SB_VICTIM": victimName],
               currentDirectory: Self.contract)
            let summary = run.stdout.split(separator: "\n").last { $0.contains(" in ") && $0.contains("=") } ?? "no summary"
            print("schemathesis with \(name)'s token: \(summary)")
            #expect(run.status == 0, "\(name): \(run.stdout.split(separator: "\n").suffix(80).joined(separator: "\n"))\n\(run.stderr.suffix(2000))")
        }
    }

    /// The document's entity enum is the canonical model's: a new entity cannot be left out of the contract.
    @Test func theXrefEntityParameterListsEveryCanonicalEntity() throws {
        let document = try JSON.parse(Array(try Data(contentsOf: URL(fileURLWithPath: TestEnv.repoRoot + "/Sources/SwitchboardAdmin/openapi.json"))))
        let parameters = document["paths"]?["/api/v1/tenants/{tenant}/xref"]?["get"]?["parameters"]?.arrayValue ?? []
        let entity = parameters.first { $0["name"]?.stringValue == "entity" }
        #expect(entity?["required"] == JSON.bool(true))
        #expect(entity?["schema"]?["enum"]?.arrayValue?.compactMap(\.stringValue) == CanonicalModel.entities.map(\.name))
    }
}
