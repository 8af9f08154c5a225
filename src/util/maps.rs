//! The kernel's limit on mappings per process, and how many this process
//! holds: what stack and pool budgets are computed from.

use std::sync::OnceLock;

/// `/proc/sys/vm/max_map_count`, read once (65530, Linux's default, if it
/// cannot be read).
pub fn max_map_count() -> usize {
    static MAX_MAPS: OnceLock<usize> = OnceLock::new();
    *MAX_MAPS.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(65530)
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
