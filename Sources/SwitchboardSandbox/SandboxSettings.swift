#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Resource limits of one worker (docs/SANDBOX.md section 2).
public struct SandboxLimits: Sendable, Equatable {
    public var memoryMB = 2048
    public var cpuSeconds = 3600
    public var openFiles = 256

    public init() {}
}

/// The mechanism behind a worker's filesystem view (docs/SANDBOX.md section 2).
public enum FilesystemView: String, Sendable, Equatable, CaseIterable {
    /// Landlock when the kernel has it, else the private root.
    case auto
    /// Landlock rules (kernel 5.13+).
    case landlock
    /// A private root: a tmpfs holding bind mounts of only what the worker needs, pivoted into.
    case mount
}

/// Paths an operator lets one connection's sandboxed plugin reach (a connection's `files: {read, write}`).
public struct FileGrants: Sendable, Equatable {
    /// Read-only: files, or directories with everything beneath them.
    public var read: [String] = []
    /// Read-write (create, remove, truncate) beneath each.
    public var write: [String] = []

    public init(read: [String] = [], write: [String] = []) {
        self.read = read
        self.write = write
    }
}

/// How workers run and are supervised; `plugins.sandbox` in the configuration.
public struct SandboxSettings: Sendable, Equatable {
    public var limits = SandboxLimits()
    /// First restart delay after a failure; doubles per consecutive failure.
    public var restartBackoffMillis: Int64 = 100
    public var maxRestartBackoffMillis: Int64 = 30_000
    /// Consecutive failures that open the circuit.
    public var breakerFailures = 5
    public var breakerCooldownMillis: Int64 = 30_000
    /// Extra time past a call's deadline before a silent worker counts as hung.
    public var graceMillis: Int64 = 1_000
    /// Deadline for calls that come without one (spec, validate, open...).
    public var defaultCallMillis: Int64 = 30_000
    /// How long the runtime's worker waits for a sandboxed write or workflow call before it answers
    /// RETRY and lets the call run on in the background (`plugins.sandbox.detach_after`): a plugin that
    /// hangs holds its own connection (its later calls are answered RETRY at once until the call ends),
    /// not the work of every other connection. 0 waits the whole deadline.
    public var detachAfterMillis: Int64 = 5_000
    /// Deadline for starting a worker and loading its plugin: constructors, manifest, init
    /// (`plugins.sandbox.start_timeout`). A plugin past it is refused by name, not waited for.
    public var startMillis: Int64 = 10_000
    /// The binary re-executed as worker; nil finds it (see `resolvedExecutable`).
    public var workerExecutable: String?
    /// The uid and gid a worker runs as when the host is privileged (`plugins.sandbox.uid`/`gid`;
    /// default nobody). An unprivileged host can only run workers as its own user.
    public var uid: UInt32 = 65534
    public var gid: UInt32 = 65534
    /// New user, PID, mount, network, IPC and UTS namespaces for each worker (off only to diagnose a kernel that refuses them).
    public var namespaces = true
    /// How the worker's filesystem view is enforced (`plugins.sandbox.filesystem`): `auto` uses Landlock
    /// where the kernel has it and a private root in the worker's mount namespace where it does not.
    public var filesystem = FilesystemView.auto
    /// The paths this connection's worker may reach besides its plugin, the runtime libraries and its
    /// private TMPDIR (a connection's `files:`).
    public var files = FileGrants()

    public init() {}

    /// `SWITCHBOARD_WORKER`, else this process's own binary when it is the
    /// `switchboard` CLI (it registers itself), else a `switchboard` beside it.
    public var resolvedExecutable: String {
        if let explicit = workerExecutable { return explicit }
        if let env = ProcessInfo.processInfo.environment["SWITCHBOARD_WORKER"], !env.isEmpty { return env }
        if let own = SandboxSettings.selfExecutable.withLock({ $0 }) { return own }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while dir.path.contains(".xctest") { dir.deleteLastPathComponent() }
        return dir.appendingPathComponent("switchboard").path
    }

    /// Set by a binary that serves `__worker` itself (the CLI's main does).
    public static func registerSelfAsWorker() {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        selfExecutable.withLock { $0 = exe }
    }

    private static let selfExecutable = Mutex<String?>(nil)
}

