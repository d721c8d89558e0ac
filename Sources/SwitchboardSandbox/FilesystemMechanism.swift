#if canImport(Glibc)
import Glibc
#endif
import CSandbox
import Foundation

/// Which mechanism draws a worker's filesystem view, and what the private root holds where it is
/// the one (docs/SANDBOX.md section 2). Landlock is probed once per process.
enum FilesystemMechanism {
    /// The kernel's Landlock ABI; 0 when it has none.
    static let landlockABI = Int(sbx_landlock_abi())

    static func usesPrivateRoot(_ view: FilesystemView) -> Bool {
        view == .mount || (view == .auto && landlockABI == 0)
    }

    /// A private root: where to build it, and the paths bound into it.
    struct RootView {
        var root: String
        var readOnly: [String]
        var writable: [String]
    }

    /// What a worker needs and nothing else: the system's read-only directories, the runtime's
    /// libraries, the worker binary and the plugin file, the connection's grants, its TMPDIR and the
    /// harmless character devices. The root is built in the worker's TMPDIR (`.root`).
    static func rootView(tmp: String, executable: String, plugin: String, files: FileGrants) -> RootView {
        let root = tmp + "/.root"
        mkdir(root, 0o755)
        // The directories the worker binary and the plugin search for libraries, and those of the libraries this
        // process runs on; never a directory that holds the binary or the plugin (other plugins live there).
        let own = Set([executable, selfExecutable, plugin].map { ($0 as NSString).deletingLastPathComponent })
        let searched = (ELFRunPath.directories(of: executable) + ELFRunPath.directories(of: plugin)).filter { !own.contains($0) }
        let libraries = mappedLibraries.flatMap { library -> [String] in
            let directory = (library as NSString).deletingLastPathComponent
            return own.contains(directory) ? [library] : [directory]
        } + searched
        let readOnly = ["/usr", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/localtime", "/sys/devices/system/cpu",
                        executable, plugin] + libraries + files.read
        let writable = [tmp] + files.write + ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/full"]
        return RootView(root: root, readOnly: unique(readOnly), writable: unique(writable))
    }

    private static let selfExecutable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""

    /// The shared libraries this process runs on (the worker is this binary, or one built beside it).
    private static let mappedLibraries: [String] = {
        let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
        let paths = maps.split(separator: "\n").compactMap { line -> String? in
            guard let slash = line.firstIndex(of: "/") else { return nil }
            let path = String(line[slash...])
            return path.contains(".so") ? path : nil
        }
        return unique(paths)
    }()

    private static func unique(_ paths: [String]) -> [String] {
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }
}
