import Crypto
import Foundation
import SwitchboardCore
import ZIPFoundation

/// Writes a package archive reproducibly (docs/PACKAGES.md): the manifest first, then every entry in byte
/// order of its path, each dated at the ZIP epoch with permissions 0644 and deflated.
public enum PackageBuilder {
    /// Builds `ID-VERSION.sbpkg` from `directory` into `outputDirectory`; returns its path and SHA-256.
    public static func build(directory: String, outputDirectory: String) throws -> (path: String, sha256: String) {
        let source = try PackageSource.load(directory: directory)
        var files: [(path: String, bytes: [UInt8])] = []
        func read(_ relative: String) throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: directory + "/" + relative) else {
                throw PackageError(.invalidSource, "package.yaml: \(relative) cannot be read")
            }
            return Array(data)
        }
        for (platform, paths) in source.plugins.sorted(by: { $0.key < $1.key }) {
            var names = Set<String>()
            for path in paths {
                let name = (path as NSString).lastPathComponent
                guard names.insert(name).inserted else { throw PackageError(.invalidSource, "package.yaml: plugins.\(platform) names \(name) twice") }
                files.append(("plugins/\(platform)/\(name)", try read(path)))
            }
        }
        if let templates = source.templates {
            let root = directory + "/" + templates
            guard let walker = FileManager.default.enumerator(atPath: root) else {
                throw PackageError(.invalidSource, "package.yaml: templates directory \(templates) cannot be read")
            }
            for case let relative as String in walker {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
                files.append(("templates/\(relative)", try read(templates + "/" + relative)))
            }
        }
        if let parameters = source.parameters {
            let bytes = try read(parameters)
            guard case .object? = try? JSON.parse(bytes) else {
                throw PackageError(.invalidSource, "package.yaml: parameters \(parameters) is not a JSON Schema object")
            }
            files.append(("parameters.schema.json", bytes))
        }
        files.sort { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
        let manifest = PackageManifest(source: source, files: files.map { ($0.path, $0.bytes) }).json.bytes

        try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        let output = outputDirectory + "/" + source.fileName
        try? FileManager.default.removeItem(atPath: output)
        let archive = try Archive(url: URL(fileURLWithPath: output), accessMode: .create)
        for (path, bytes) in [("manifest.json", manifest)] + files {
            let data = Data(bytes)
            try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), modificationDate: Self.zipEpoch,
                                 permissions: 0o644, compressionMethod: .deflate) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
        guard let written = FileManager.default.contents(atPath: output) else { throw PackageError(.io, "\(output) was not written") }
        return (output, PackageManifest.hex(SHA256.hash(data: written)))
    }

    /// 1980-01-01 00:00 in this machine's time zone: ZIP stores local date fields, so this is the same bytes anywhere.
    static var zipEpoch: Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        return calendar.date(from: DateComponents(year: 1980, month: 1, day: 1))!
    }
}

/// Reads a package archive defensively: nothing it claims is trusted, and nothing is written anywhere.
public enum PackageReader {
    public static let maxEntries = 4_096
    public static let maxEntryBytes = 64 << 20
    public static let maxTotalBytes = 256 << 20
    /// Past 1 MiB inflated, an entry may not inflate more than this many times its compressed size.
    public static let maxRatio = 200

    /// The archive's manifest and files, keyed by their paths in the archive.
    public struct Contents: Sendable {
        public var manifest: PackageManifest
        public var files: [String: [UInt8]]
    }

    public static func read(path: String) throws(PackageError) -> Contents {
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw PackageError(.malformed, "\(path) is not a ZIP archive (\(error)); rebuild it with switchboard package build")
        }
        var files: [String: [UInt8]] = [:]
        var order: [String] = []
        var total = 0
        for entry in archive {
            guard order.count < maxEntries else { throw PackageError(.malformed, "more than \(maxEntries) entries") }
            let name = entry.path
            guard !name.hasPrefix("/"), !name.contains("\\"), !name.split(separator: "/", omittingEmptySubsequences: false).contains("..") else {
                throw PackageError(.malformed, "entry \"\(name)\" escapes the package (an absolute path, .. or a backslash)")
            }
            switch entry.type {
            case .symlink: throw PackageError(.malformed, "entry \"\(name)\" is a symbolic link; a package holds only files")
            case .directory: continue
            case .file: break
            }
            guard files[name] == nil else { throw PackageError(.malformed, "entry \"\(name)\" appears twice") }
            var bytes: [UInt8] = []
            let compressed = max(Int(clamping: entry.compressedSize), 1)
            do {
                _ = try archive.extract(entry, skipCRC32: false) { chunk in
                    bytes.append(contentsOf: chunk)
                    // Judged on what actually inflates, never on the sizes the archive claims.
                    if bytes.count > maxEntryBytes { throw PackageError(.malformed, "entry \"\(name)\" is larger than \(maxEntryBytes >> 20) MiB") }
                    if total + bytes.count > maxTotalBytes { throw PackageError(.malformed, "the entries add up to more than \(maxTotalBytes >> 20) MiB") }
                    if bytes.count > 1 << 20, bytes.count / compressed > maxRatio {
                        throw PackageError(.malformed, "entry \"\(name)\" inflates more than \(maxRatio) times its size: a compression bomb")
                    }
                }
            } catch let refusal as PackageError {
                throw refusal
            } catch {
                throw PackageError(.malformed, "entry \"\(name)\" cannot be read (\(error))")
            }
            total += bytes.count
            files[name] = bytes
            order.append(name)
        }
        guard order.first == "manifest.json", let manifestBytes = files.removeValue(forKey: "manifest.json") else {
            throw PackageError(.malformed, "manifest.json must be the archive's first entry")
        }
        let manifest = try PackageManifest(bytes: manifestBytes)
        let listed = Set(manifest.files.map(\.path)), held = Set(files.keys)
        guard listed == held else {
            throw PackageError(.malformed, "the manifest lists \(listed.subtracting(held).sorted()) the archive lacks, or the archive holds \(held.subtracting(listed).sorted()) it does not list")
        }
        for file in manifest.files where PackageManifest.hex(SHA256.hash(data: files[file.path]!)) != file.sha256 {
            throw PackageError(.malformed, "\(file.path) does not match its SHA-256 in the manifest")
        }
        return Contents(manifest: manifest, files: files)
    }
}
