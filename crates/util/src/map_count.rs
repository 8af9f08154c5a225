//! The one reader of `vm.max_map_count`, which bounds how many stacks a
//! process can map (each guarded stack costs two mappings), and the count
//! of the mappings the process holds.

use std::sync::OnceLock;

/// Mappings left for the rest of the program, as QEMU reserves.
const MAP_RESERVE: usize = 5000;

/// Linux's default `vm.max_map_count`, if the file cannot be read.
const DEFAULT_MAX_MAP_COUNT: usize = 65530;

/// The mappings the stacks may use: `vm.max_map_count` less the reserve.
pub fn spare_mappings() -> usize {
    max_map_count().saturating_sub(MAP_RESERVE)
}

/// `vm.max_map_count`, read once.
pub fn max_map_count() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|t| t.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_MAX_MAP_COUNT)
    })
}

/// The mappings this process holds now: the lines of /proc/self/maps.
pub fn own_mappings() -> usize {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open("/proc/self/maps") else {
        return 0;
    };
    let mut buf = [0u8; 16 * 1024];
    let mut lines = 0;
    while let Ok(n @ 1..) = f.read(&mut buf) {
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
    lines
}
