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

    /// Inspects every `*.so` in `directory` (sorted by name, so the first of two
    /// files with the same plugin id wins, predictably). `inspect` loads one
    /// file: in this process by default, or in a sandbox probe, so that no
    /// untrusted init code runs in the host.
    public static func discover(
        directory: String,
        inspect: (String) throws(PluginLoadError) -> PluginInfo = { path throws(PluginLoadError) in try PluginLibrary.load(path: path).info }
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
        var catalog = PluginCatalog(plugins: [], refused: [])
        var byID: [String: String] = [:]
        for name in names.sorted() {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            do {
                let library = try inspect(path)
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

    /// The plugin with that id, if it loaded.
    public func plugin(id: String) -> PluginInfo? { plugins.first { $0.descriptor.id == id } }
}

/// The plugin directory itself could not be read.
public struct PluginDirectoryError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): cannot read the plugin directory: \(reason)" }
}
