// swift-tools-version: 6.1
// Dependencies point one way: PluginSDK <- core model <- host services, stores, sandbox <- runtime <- admin,
// conformance <- CLI (the composition root). README.md's table lists them; ArchitectureTests checks it.
import PackageDescription

let package = Package(
    name: "Switchboard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "switchboard", targets: ["SwitchboardCLI"]),
        // The plugin boundary alone, in a small binary (valgrind runs it).
        .executable(name: "switchboard-plugin-smoke", targets: ["SwitchboardPluginSmoke"]),
        // The Swift SDK partners link into their plugins.
        .library(name: "SwitchboardPluginKit", targets: ["SwitchboardPluginKit"]),
        // Timestamped HMAC webhook signatures (`t=UNIX,v1=HEX`) for connectors that receive signed deliveries.
        .library(name: "SwitchboardSignedWebhook", targets: ["SwitchboardSignedWebhook"]),
        // libFuzzer targets over the host's parsers of outside input (scripts/fuzz; docs/FUZZING.md).
        .executable(name: "switchboard-fuzz", targets: ["SwitchboardFuzz"]),
        // A fake host for partners' unit tests of their plugins (switchboard/fakehost.h for C).
        .library(name: "SwitchboardPluginKitTesting", targets: ["SwitchboardPluginKitTesting"]),
        // Example plugins: each a shared library the host loads with dlopen.
        .library(name: "sbplugin-example-c", type: .dynamic, targets: ["ExampleCConnector"]),
        .library(name: "sbplugin-example-swift", type: .dynamic, targets: ["ExampleSwiftConnector"]),
        .library(name: "sbplugin-bench-echo", type: .dynamic, targets: ["BenchEchoWorkflow"]),
        .library(name: "sbplugin-sandbox", type: .dynamic, targets: ["SandboxConnector"]),
        .library(name: "sbplugin-o2c", type: .dynamic, targets: ["OpportunityToCashWorkflow"]),
        .library(name: "sbplugin-testkit", type: .dynamic, targets: ["TestkitConnector"]),
        .library(name: "sbplugin-csv-drop", type: .dynamic, targets: ["CSVDropConnector"]),
        .library(name: "sbplugin-bottlecrm", type: .dynamic, targets: ["BottleCRMConnector"]),
        .library(name: "sbplugin-tryton", type: .dynamic, targets: ["TrytonConnector"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // The C ABI: one header, plus a C file that pins the frozen v1 layout at compile time.
        .target(
            name: "SwitchboardABI",
            path: "PluginSDK",
            exclude: ["swift", "schemas", "valgrind"],
            sources: ["src"],
            publicHeadersPath: "include"
        ),
        .target(
            name: "SwitchboardPluginKit",
            dependencies: ["SwitchboardABI"],
            path: "PluginSDK/swift/SwitchboardPluginKit"
        ),
        .target(name: "SwitchboardFakeHost", dependencies: ["SwitchboardABI"], path: "PluginSDK/swift/SwitchboardFakeHost"),
        .target(
            name: "SwitchboardPluginKitTesting",
            dependencies: ["SwitchboardPluginKit", "SwitchboardFakeHost"],
            path: "PluginSDK/swift/SwitchboardPluginKitTesting"
        ),
        .target(
            name: "SwitchboardSignedWebhook",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "PluginSDK/swift/SwitchboardSignedWebhook"
        ),
        // The core model: statuses, diagnostics, plugin descriptors, the canonical
        // data model and its validation, JSON, mapping expressions (no I/O).
        .target(name: "SwitchboardCore"),
        // The system SQLite (libsqlite3-dev): the embedded store's hot path uses its C API directly.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // The durable store: the protocol and its embedded SQLite backend.
        .target(
            name: "SwitchboardStore",
            dependencies: ["SwitchboardCore", "CSQLite", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The PostgreSQL store: the same protocol for several hosts sharing one database (docs/STORE-POSTGRES.md).
        .target(
            name: "SwitchboardStorePostgres",
            dependencies: [
                "SwitchboardCore", "SwitchboardStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Packages: the signed archive format, publisher keys, the trust store and verification (docs/PACKAGES.md).
        .target(
            name: "SwitchboardPackages",
            dependencies: [
                "SwitchboardABI", "SwitchboardCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        // The marketplace: sources and their signed indexes, dependency resolution, install per tenant (docs/PACKAGES.md).
        .target(
            name: "SwitchboardMarket",
            dependencies: [
                "SwitchboardABI", "SwitchboardCore", "SwitchboardPackages", "SwitchboardRuntime", "SwitchboardStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The credential vault: envelope encryption over the store.
        .target(
            name: "SwitchboardVault",
            dependencies: ["SwitchboardCore", "SwitchboardStore", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // HTTP egress for plugins: allowlist, TLS, timeouts, size cap, rate limits, credentials injected from the vault.
        .target(
            name: "SwitchboardEgress",
            dependencies: [
                "SwitchboardCore", "SwitchboardHost",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The runtime: configuration, workflows, retries, the exception queue.
        .target(
            name: "SwitchboardRuntime",
            dependencies: [
                "SwitchboardCore", "SwitchboardHost", "SwitchboardStore", "SwitchboardVault", "SwitchboardEgress", "SwitchboardSandbox", "SwitchboardPackages",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SwitchboardHost",
            dependencies: [
                "SwitchboardABI", "SwitchboardCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Worker hardening in C: namespaces before any thread exists, rlimits, seccomp, the crash reporter.
        .target(name: "CSandbox"),
        // Sandboxed plugins: the worker process, its protocol, supervision.
        .target(
            name: "SwitchboardSandbox",
            dependencies: ["SwitchboardCore", "SwitchboardHost", "CSandbox", .product(name: "Logging", package: "swift-log")]
        ),
        // The partner conformance runner behind `switchboard plugin test`.
        .target(
            name: "SwitchboardConformance",
            dependencies: [
                "SwitchboardCore", "SwitchboardHost", "SwitchboardSandbox", "SwitchboardEgress", "SwitchboardRuntime",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The HTTP server inside `switchboard run`: webhook ingress and the admin API (docs/ADMIN-API.md).
        .target(
            name: "SwitchboardAdmin",
            dependencies: [
                "SwitchboardCore", "SwitchboardHost", "SwitchboardStore", "SwitchboardRuntime", "SwitchboardMarket", "SwitchboardPackages",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("openapi.json"), .copy("templates")]
        ),
        .executableTarget(
            name: "SwitchboardCLI",
            dependencies: [
                "SwitchboardHost", "SwitchboardCore", "SwitchboardStore", "SwitchboardStorePostgres", "SwitchboardRuntime", "SwitchboardVault", "SwitchboardSandbox", "SwitchboardConformance", "SwitchboardAdmin", "SwitchboardPackages", "SwitchboardMarket",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .executableTarget(name: "SwitchboardPluginSmoke", dependencies: ["SwitchboardHost"]),
        .target(name: "ExampleCConnector", dependencies: ["SwitchboardABI"], path: "Plugins/examples/example-c"),
        .target(name: "BenchEchoWorkflow", dependencies: ["SwitchboardABI"], path: "Tests/Plugins/bench-echo"),
        .target(name: "SandboxConnector", dependencies: ["SwitchboardABI"], path: "Plugins/examples/sandbox",
                cSettings: [.headerSearchPath("../../shared")]),
        .target(name: "TestkitConnector", dependencies: ["SwitchboardABI"], path: "Tests/Plugins/testkit",
                cSettings: [.headerSearchPath("../../../Plugins/shared")]),
        .target(name: "OpportunityToCashWorkflow", dependencies: ["SwitchboardPluginKit"], path: "Plugins/workflows/o2c",
                exclude: ["package.yaml", "parameters.schema.json", "templates"]),
        .target(name: "ExampleSwiftConnector", dependencies: ["SwitchboardPluginKit"], path: "Plugins/examples/example-swift"),
        .target(name: "CSVDropConnector", dependencies: ["SwitchboardPluginKit"], path: "Plugins/connectors/csv-drop", exclude: ["package.yaml"]),
        .target(name: "BottleCRMConnector", dependencies: ["SwitchboardPluginKit", "SwitchboardSignedWebhook"],
                path: "Plugins/connectors/bottlecrm", exclude: ["conformance.yaml", "package.yaml"]),
        .target(name: "TrytonConnector", dependencies: ["SwitchboardPluginKit"], path: "Plugins/connectors/tryton", exclude: ["conformance.yaml", "package.yaml"]),
        // The fuzz targets: one function per parser of outside input, each asserting its own invariants.
        // libFuzzer drives them (SwitchboardFuzz built with -sanitize=fuzzer,address); the tests replay their corpora.
        // The C SDK helper (PluginSDK/include/switchboard/kit.h) compiled for its fuzz target.
        .target(name: "SwitchboardKitFuzzShim", dependencies: ["SwitchboardABI"], path: "Tests/Fuzz/CKit"),
        .target(
            name: "SwitchboardFuzzTargets",
            dependencies: ["SwitchboardCore", "SwitchboardABI", "SwitchboardHost", "SwitchboardSandbox", "SwitchboardRuntime",
                           "SwitchboardSignedWebhook", "SwitchboardKitFuzzShim"],
            path: "Tests/Fuzz/Targets"
        ),
        .executableTarget(name: "SwitchboardFuzz", dependencies: ["SwitchboardFuzzTargets"], path: "Tests/Fuzz/Driver"),
        .testTarget(
            name: "SwitchboardTests",
            dependencies: [
                "SwitchboardFuzzTargets", "SwitchboardSignedWebhook", "SwitchboardPluginKitTesting", "SwitchboardPluginKit", "SwitchboardHost", "SwitchboardCore", "SwitchboardABI", "SwitchboardStore", "SwitchboardStorePostgres", "SwitchboardRuntime", "SwitchboardVault", "SwitchboardEgress", "SwitchboardSandbox", "SwitchboardConformance", "SwitchboardAdmin", "SwitchboardPackages", "SwitchboardMarket", "CSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            path: "Tests/SwitchboardTests"
        ),
    ]
)
