//! Names a function from its address inside a signal handler: the
//! overflow report's entry function. `dladdr` would take the dynamic
//! loader's lock (a thread stuck in dlopen would hang the report) and only
//! knows exported symbols; this reads the mapped file's ELF symbol tables
//! instead, with nothing but open/pread/close on fixed buffers: no lock,
//! no allocation, so it is async-signal-safe. It prefers the full symbol
//! table (`.symtab`, which also names static functions) and falls back to
//! the dynamic one; a stripped file without either, or an address outside
//! any file (JIT code), gets None and the caller prints the address.

use std::ffi::c_void;
use std::mem::size_of;

/// ELF constants the libc crate does not carry (from the ELF spec).
const SHT_SYMTAB: u32 = 2;
const SHT_DYNSYM: u32 = 11;
const STT_FUNC: u8 = 2;

/// Writes the name of the function that starts at `addr` into `out`;
/// returns its length.
pub fn name_of(addr: usize, out: &mut [u8]) -> Option<usize> {
    if addr == 0 {
        return None;
    }
    let mut path = [0u8; 512];
    let (start, offset) = mapping_of(addr, &mut path)?;
    let file = Fd::open(&path)?;
    let ehdr: libc::Elf64_Ehdr = file.read_at(0)?;
    if ehdr.e_ident[..4] != *b"\x7fELF" || ehdr.e_ident[4] != libc::ELFCLASS64 {
        return None;
    }
    let vaddr = file_vaddr(&file, &ehdr, (addr - start) as u64 + offset)?;
    for kind in [SHT_SYMTAB, SHT_DYNSYM] {
        if let Some(n) = search_table(&file, &ehdr, kind, vaddr, out) {
            return Some(n);
        }
    }
    None
}

/// An open file, closed on drop.
struct Fd(i32);

impl Fd {
    /// Opens `path`, a NUL-terminated name.
    fn open(path: &[u8]) -> Option<Fd> {
        // SAFETY: `path` is NUL-terminated (the callers make sure).
        let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
        (fd >= 0).then_some(Fd(fd))
    }

    fn pread(&self, buf: &mut [u8], at: u64) -> usize {
        // SAFETY: reading into our own buffer of that length.
        let n = unsafe {
            libc::pread(
                self.0,
                buf.as_mut_ptr().cast::<c_void>(),
                buf.len(),
                at as i64,
            )
        };
        n.max(0) as usize
    }

    /// A plain-data ELF structure at file offset `at`.
    fn read_at<T: Copy>(&self, at: u64) -> Option<T> {
        let mut buf = [0u8; 64];
        let len = size_of::<T>();
        if len > buf.len() || self.pread(&mut buf[..len], at) != len {
            return None;
        }
        // SAFETY: T is one of libc's Elf64 structs (plain integers, valid
        // for any bytes) no larger than the buffer; read_unaligned copies.
        Some(unsafe { buf.as_ptr().cast::<T>().read_unaligned() })
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor we opened.
        unsafe { libc::close(self.0) };
    }
}

/// The mapping of /proc/self/maps that contains `addr`: its start and file
/// offset, with its path (NUL-terminated) in `path`.
fn mapping_of(addr: usize, path: &mut [u8]) -> Option<(usize, u64)> {
    let maps = Fd::open(b"/proc/self/maps\0")?;
    let mut chunk = [0u8; 1024];
    let mut line = [0u8; 600];
    let (mut len, mut at) = (0usize, 0u64);
    loop {
        let n = maps.pread(&mut chunk, at);
        if n == 0 {
            return None;
        }
        at += n as u64;
        for &b in &chunk[..n] {
            if b != b'\n' {
                if len < line.len() {
                    line[len] = b;
                }
                len += 1;
                continue;
            }
            if len <= line.len() {
                if let Some(found) = parse_line(&line[..len], addr, path) {
                    return Some(found);
                }
            }
            len = 0;
        }
    }
}

/// `start-end perms offset dev inode path`, if it covers `addr`.
fn parse_line(line: &[u8], addr: usize, path: &mut [u8]) -> Option<(usize, u64)> {
    let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let range = fields.next()?;
    let dash = range.iter().position(|&b| b == b'-')?;
    let (start, end) = (hex(&range[..dash])?, hex(&range[dash + 1..])?);
    if !(start..end).contains(&(addr as u64)) {
        return None;
    }
    let offset = hex(fields.nth(1)?)?;
    let name = fields.nth(2)?;
    if name.first() != Some(&b'/') || name.len() >= path.len() {
        return None;
    }
    path[..name.len()].copy_from_slice(name);
    path[name.len()] = 0;
    Some((start as usize, offset))
}

fn hex(digits: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for &d in digits {
        let v = (d as char).to_digit(16)?;
        n = n.checked_mul(16)? + u64::from(v);
    }
    Some(n)
}

/// The link-time address of file offset `off`, from the loadable segment
/// that contains it.
fn file_vaddr(file: &Fd, ehdr: &libc::Elf64_Ehdr, off: u64) -> Option<u64> {
    for i in 0..u64::from(ehdr.e_phnum) {
        let ph: libc::Elf64_Phdr = file.read_at(ehdr.e_phoff + i * u64::from(ehdr.e_phentsize))?;
        if ph.p_type == libc::PT_LOAD && (ph.p_offset..ph.p_offset + ph.p_filesz).contains(&off) {
            return Some(off - ph.p_offset + ph.p_vaddr);
        }
    }
    None
}

/// Searches the first section of type `kind` for a function at `vaddr`.
fn search_table(
    file: &Fd,
    ehdr: &libc::Elf64_Ehdr,
    kind: u32,
    vaddr: u64,
    out: &mut [u8],
) -> Option<usize> {
    let section = |i: u64| -> Option<libc::Elf64_Shdr> {
        file.read_at(ehdr.e_shoff + i * u64::from(ehdr.e_shentsize))
    };
    let table = (0..u64::from(ehdr.e_shnum))
        .filter_map(section)
        .find(|s| s.sh_type == kind)?;
    let strings = section(u64::from(table.sh_link))?;
    const SYM: usize = size_of::<libc::Elf64_Sym>();
    let mut buf = [0u8; 64 * SYM];
    let mut at = 0u64;
    while at < table.sh_size {
        let want = buf.len().min((table.sh_size - at) as usize);
        let n = file.pread(&mut buf[..want], table.sh_offset + at);
        if n < SYM {
            return None;
        }
        for raw in buf[..n - n % SYM].chunks_exact(SYM) {
            // SAFETY: Elf64_Sym is plain integers; read_unaligned copies.
            let sym = unsafe { raw.as_ptr().cast::<libc::Elf64_Sym>().read_unaligned() };
            if sym.st_value == vaddr && sym.st_info & 0xf == STT_FUNC && sym.st_name != 0 {
                return copy_name(file, strings.sh_offset + u64::from(sym.st_name), out);
            }
        }
        at += (n - n % SYM) as u64;
    }
    None
}

/// The NUL-terminated string at file offset `at`, into `out` (truncated).
fn copy_name(file: &Fd, at: u64, out: &mut [u8]) -> Option<usize> {
    let n = file.pread(out, at);
    let len = out[..n].iter().position(|&b| b == 0).unwrap_or(n);
    (len > 0).then_some(len)
}
