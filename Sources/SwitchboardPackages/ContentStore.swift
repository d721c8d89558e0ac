import Crypto
import Foundation
import Synchronization

/// Immutable, content-addressed copies of plugin files (docs/PACKAGES.md, "Hot reload"): a host loads a plugin from
/// the plugin directory through its copy `DIR/SHA256/NAME`, so a new build copied over the file in place cannot
/// rewrite the pages a running worker or the host has mapped, and a changed file is a new path the loader has not
/// seen (an in-process plugin then loads the new code; the old image stays mapped for the old generation).
public enum ContentStore {
    /// Copies already made by this process: path -> (size, modification time, copy).
    private static let made = Mutex<[String: (Int, Double, String)]>([:])

    /// The copy of `file` under `directory`, made if missing (written beside it and renamed, 0644 in 0755 folders,
    /// so a sandbox's unprivileged user can read it).
    public static func snapshot(file: String, into directory: String) throws -> String {
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        let size = attributes[.size] as? Int ?? -1
        let time = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        if let known = made.withLock({ $0[file] }), known.0 == size, known.1 == time,
           FileManager.default.fileExists(atPath: known.2) {
            return known.2
        }
        guard let data = FileManager.default.contents(atPath: file) else { throw PackageError(.io, "\(file) cannot be read") }
        let digest = PackageManifest.hex(SHA256.hash(data: data))
        let folder = directory + "/" + digest
        let copy = folder + "/" + (file as NSString).lastPathComponent
        if !FileManager.default.fileExists(atPath: copy) {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            let temporary = folder + "/.tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o644]) else {
                throw PackageError(.io, "\(temporary) cannot be written")
            }
            if rename(temporary, copy) != 0 {
                try? FileManager.default.removeItem(atPath: temporary)
                throw PackageError(.io, "\(copy) cannot be written: \(String(cString: strerror(errno)))")
            }
        }
        made.withLock { $0[file] = (size, time, copy) }
        return copy
    }
}
