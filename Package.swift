// swift-tools-version: 6.1
// Dependencies point one way: PluginSDK <- core model <- host services <- CLI.
import PackageDescription

let package = Package(
    name: "Switchboard",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "switchboard", targets: ["SwitchboardCLI"]),
        // The Swift SDK partners link into their plugins.
        .library(name: "SwitchboardPluginKit", targets: ["SwitchboardPluginKit"]),
        // Example plugins: each a shared library the host loads with dlopen.
        .library(name: "sbplugin-example-c", type: .dynamic, targets: ["ExampleCConnector"]),
        .library(name: "sbplugin-example-swift", type: .dynamic, targets: ["ExampleSwiftConnector"]),
        .library(name: "sbplugin-bench-echo", type: .dynamic, targets: ["BenchEchoWorkflow"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The C ABI: one header, plus a C file that pins the frozen v1 layout at compile time.
        .target(
            name: "SwitchboardABI",
            path: "PluginSDK",
            exclude: ["swift"],
            sources: ["src"],
            publicHeadersPath: "include"
        ),
        .target(
            name: "SwitchboardPluginKit",
            dependencies: ["SwitchboardABI"],
            path: "PluginSDK/swift/SwitchboardPluginKit"
        ),
        // The core model: statuses, diagnostics, plugin descriptors (no C, no I/O).
        .target(name: "SwitchboardCore"),
        .target(
            name: "SwitchboardHost",
            dependencies: [
                "SwitchboardABI", "SwitchboardCore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "SwitchboardCLI",
            dependencies: [
                "SwitchboardHost", "SwitchboardCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "ExampleCConnector", dependencies: ["SwitchboardABI"], path: "Plugins/example-c"),
        .target(name: "BenchEchoWorkflow", dependencies: ["SwitchboardABI"], path: "Plugins/bench-echo"),
        .target(name: "ExampleSwiftConnector", dependencies: ["SwitchboardPluginKit"], path: "Plugins/example-swift"),
        .testTarget(
            name: "SwitchboardHostTests",
            dependencies: [
                "SwitchboardHost", "SwitchboardCore", "SwitchboardABI",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SwitchboardHostTests"
        ),
    ]
)
