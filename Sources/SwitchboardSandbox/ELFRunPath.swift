#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The library search directories an ELF file names (DT_RUNPATH, else DT_RPATH), `$ORIGIN`
/// expanded: where the dynamic linker will look for its libraries, so a private root must hold them.
/// Reads only the headers, the dynamic section and the one string (a worker binary is 100+ MB).
enum ELFRunPath {
    static func directories(of path: String) -> [String] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        /// `count` bytes at `offset`; with `upTo`, as many as there are (a string near the end of the file).
        func bytes(at offset: Int, count: Int, upTo: Bool = false) -> [UInt8]? {
            guard offset >= 0, count > 0, count <= 1 << 20 else { return nil }
            var buffer = [UInt8](repeating: 0, count: count)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            if got == count { return buffer }
            return upTo && got > 0 ? Array(buffer.prefix(got)) : nil
        }
        func u(_ b: [UInt8], _ at: Int, _ size: Int) -> Int? {
            guard at >= 0, at + size <= b.count else { return nil }
            return (0..<size).reduce(0) { $0 | Int(b[at + $1]) << (8 * $1) }
        }
        // 64-bit little-endian only (the machines this runs on); anything else has no answer here.
        guard let header = bytes(at: 0, count: 64), header[0] == 0x7F, header[1] == 0x45, header[2] == 0x4C, header[3] == 0x46,
              header[4] == 2, header[5] == 1,
              let phoff = u(header, 32, 8), let phentsize = u(header, 54, 2), let phnum = u(header, 56, 2),
              let table = bytes(at: phoff, count: phentsize * phnum) else { return [] }
        var loads: [(vaddr: Int, offset: Int, size: Int)] = []
        var dynamic: (offset: Int, size: Int)?
        for i in 0..<phnum {
            let at = i * phentsize
            guard let type = u(table, at, 4), let offset = u(table, at + 8, 8), let vaddr = u(table, at + 16, 8),
                  let filesz = u(table, at + 32, 8) else { return [] }
            if type == 1 { loads.append((vaddr, offset, filesz)) }  // PT_LOAD
            if type == 2 { dynamic = (offset, filesz) }             // PT_DYNAMIC
        }
        guard let dynamic, let entries = bytes(at: dynamic.offset, count: dynamic.size) else { return [] }
        var strtab: Int?, runpath: Int?, rpath: Int?
        var at = 0
        while at + 16 <= entries.count, let tag = u(entries, at, 8), tag != 0, let value = u(entries, at + 8, 8) {
            switch tag {
            case 5: strtab = value   // DT_STRTAB (a virtual address)
            case 15: rpath = value   // DT_RPATH
            case 29: runpath = value // DT_RUNPATH
            default: break
            }
            at += 16
        }
        guard let strtab, let entry = runpath ?? rpath,
              let load = loads.first(where: { strtab >= $0.vaddr && strtab < $0.vaddr + $0.size }),
              let text = bytes(at: load.offset + (strtab - load.vaddr) + entry, count: 4096, upTo: true),
              let end = text.firstIndex(of: 0) else { return [] }
        let origin = (path as NSString).deletingLastPathComponent
        return String(decoding: text[..<end], as: UTF8.self).split(separator: ":").map {
            $0.replacingOccurrences(of: "$ORIGIN", with: origin).replacingOccurrences(of: "${ORIGIN}", with: origin)
        }
    }
}
