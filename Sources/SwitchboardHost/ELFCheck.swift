#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks a file is a complete ELF shared object for this machine before
/// dlopen sees it, so a wrong or damaged file gets a specific message rather
/// than the dynamic linker's.
enum ELFCheck {
    /// nil when the file looks loadable; otherwise why not.
    static func problem(atPath path: String) -> PluginLoadError.Reason? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .unreadable(String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .unreadable(String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .notELF("not a regular file") }
        let size = UInt64(info.st_size)
        var header = [UInt8](repeating: 0, count: 64)
        let got = header.withUnsafeMutableBytes { read(fd, $0.baseAddress, 64) }
        guard got >= 4, header[0] == 0x7F, header[1] == 0x45, header[2] == 0x4C, header[3] == 0x46 else {
            return .notELF("no ELF magic number")
        }
        guard got == 64 else { return .truncated("ELF header cut short at \(got) bytes") }
        guard header[4] == 2 else { return .notELF("not a 64-bit ELF file") }
        guard header[5] == 1 else { return .notELF("not little-endian") }
        func u16(_ at: Int) -> UInt64 { UInt64(header[at]) | UInt64(header[at + 1]) << 8 }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(header[at + $1]) << (8 * UInt64($1)) } }
        let type = u16(16)
        guard type == 3 else {
            return .notELF(type == 2 ? "an executable, not a shared object" : "ELF type \(type), not a shared object")
        }
        let machine = u16(18)
        #if arch(x86_64)
        let expected: UInt64 = 62
        #elseif arch(arm64)
        let expected: UInt64 = 183
        #else
        let expected = machine
        #endif
        guard machine == expected else { return .notELF("built for ELF machine \(machine), this host is \(expected)") }
        let (phoff, shoff) = (u64(32), u64(40))
        let (phentsize, phnum, shentsize, shnum) = (u16(54), u16(56), u16(58), u16(60))
        if phoff + phentsize * phnum > size {
            return .truncated("program headers end at byte \(phoff + phentsize * phnum), the file has \(size)")
        }
        // Section headers sit at the end of the file: the tell-tale of a cut-off copy.
        if shoff + shentsize * shnum > size {
            return .truncated("section headers end at byte \(shoff + shentsize * shnum), the file has \(size)")
        }
        // A position-independent executable is ET_DYN too; its PT_INTERP gives it away.
        if hasInterpreter(fd: fd, offset: phoff, entrySize: phentsize, count: phnum) {
            return .notELF("a position-independent executable, not a shared object")
        }
        return nil
    }

    private static func hasInterpreter(fd: Int32, offset: UInt64, entrySize: UInt64, count: UInt64) -> Bool {
        guard entrySize >= 4, count > 0, count < 4096 else { return false }
        var table = [UInt8](repeating: 0, count: Int(entrySize * count))
        let got = table.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard got == table.count else { return false }
        let ptInterp: UInt32 = 3
        return (0..<Int(count)).contains { index in
            let at = index * Int(entrySize)
            let type = UInt32(table[at]) | UInt32(table[at + 1]) << 8 | UInt32(table[at + 2]) << 16 | UInt32(table[at + 3]) << 24
            return type == ptInterp
        }
    }
}
