import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The plugins found in a directory: the ones that loaded, and a clear
/// refusal for each file that did not. A bad file never stops the others.
public struct PluginCatalog: Sendable {
    public var plugins: [PluginInfo]
    public var refused: [PluginLoadError]

    public init(plugins: [PluginInfo], refused: [PluginLoadError]) {
        self.plugins = plugins
        self.refused = refused
    }

    /// Inspects every `*.so` in `directory` (sorted by name, so the first of two
    /// files with the same plugin id wins, predictably). `inspect` loads one
    /// file: in this process by default, or in a sandbox probe, so that no
    /// untrusted init code runs in the host. Files are inspected side by side (up to
    /// `parallel` at once), so a plugin that hangs until its start-up deadline delays the others by
    /// nothing, and start-up by that deadline at most, not by a deadline per file.
    public static func discover(
        directory: String, parallel: Int = 8,
        inspect: @escaping @Sendable (String) throws(PluginLoadError) -> PluginInfo = { path throws(PluginLoadError) in try PluginLibrary.load(path: path).info }
    ) throws(PluginDirectoryError) -> PluginCatalog {
        guard let dir = opendir(directory) else {
            throw PluginDirectoryError(path: directory, reason: String(cString: strerror(errno)))
        }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            if name.hasSuffix(".so") { names.append(name) }
        }
        closedir(dir)
        let paths = names.sorted().map { directory.hasSuffix("/") ? directory + $0 : directory + "/" + $0 }
        return catalog(paths: paths, parallel: parallel, inspect: inspect)
    }

    /// Inspects the given files (a package's plugins), as `discover` does a directory's: the first of two files
    /// with one plugin id wins.
    public static func catalog(
        paths: [String], parallel: Int = 8,
        inspect: @escaping @Sendable (String) throws(PluginLoadError) -> PluginInfo = { path throws(PluginLoadError) in try PluginLibrary.load(path: path).info }
    ) -> PluginCatalog {
        let results = inspectAll(paths, parallel: parallel, inspect: inspect)
        var catalog = PluginCatalog(plugins: [], refused: [])
        var byID: [String: String] = [:]
        for (path, result) in zip(paths, results) {
            do {
                let library = try result.get()
                if let first = byID[library.descriptor.id] {
                    catalog.refused.append(PluginLoadError(path: path, reason: .duplicateID(id: library.descriptor.id, firstPath: first)))
                    continue
                }
                byID[library.descriptor.id] = path
                catalog.plugins.append(library)
            } catch {
                catalog.refused.append(error)
            }
        }
        return catalog
    }

    /// Runs `inspect` on every path from a few threads; results in the order of `paths`.
    private static func inspectAll(_ paths: [String], parallel: Int,
                                   inspect: @escaping @Sendable (String) throws(PluginLoadError) -> PluginInfo) -> [Result<PluginInfo, PluginLoadError>] {
        let results = Mutex<[Result<PluginInfo, PluginLoadError>?]>(Array(repeating: nil, count: paths.count))
        let next = Atomic<Int>(0)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(parallel, paths.count)) {
            group.enter()
            let thread = Thread {
                while true {
                    let index = next.add(1, ordering: .relaxed).oldValue
                    guard index < paths.count else { break }
                    let result: Result<PluginInfo, PluginLoadError>
                    do throws(PluginLoadError) { result = .success(try inspect(paths[index])) } catch { result = .failure(error) }
                    results.withLock { $0[index] = result }
                }
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        return results.withLock { $0.map { $0! } }
    }

    /// The plugin with that id, if it loaded.
    public func plugin(id: String) -> PluginInfo? { plugins.first { $0.descriptor.id == id } }

    /// This catalog's plugins in front of `base`'s: an id found here hides the same id there (a tenant's packages
    /// over the plugin directory).
    public func overlaid(on base: PluginCatalog) -> PluginCatalog {
        let mine = Set(plugins.map(\.descriptor.id))
        return PluginCatalog(plugins: plugins + base.plugins.filter { !mine.contains($0.descriptor.id) }, refused: refused + base.refused)
    }
}

/// The plugin directory itself could not be read.
public struct PluginDirectoryError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): cannot read the plugin directory: \(reason)" }
}
